import { type Account, encodeAccount } from '@nats-io/jwt';
import type { KeyPair } from '@nats-io/nkeys';
import { type ConnectionOptions, connect, credsAuthenticator, type NatsConnection } from 'nats';
import { SYSTEM_USER_INBOX_PREFIX } from './bundle.js';
import { IdentityError } from './errors.js';
import { decodeJwt, nowSecs } from './jwt.js';

/*
 * Account updates go through the system account: the account JWT, re-signed by the operator signing key, is sent as a
 * request to `$SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE`; the full resolver stores it (it survives restarts) and applies
 * it at once (revoked users are disconnected). The server answers 200 even to a JWT it will not trust, so every update
 * is confirmed by reading the account back with `$SYS.REQ.ACCOUNT.<account>.INFO`.
 */

const DEFAULT_TIMEOUT_MS = 10_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface SystemConnectionOptions {
  readonly servers: string | readonly string[];
  /** The system user's creds file content. */
  readonly creds: string;
  /** The CA to trust; TLS is required when set. */
  readonly caFile?: string;
  readonly name?: string;
}

/** A connection as the system user (inbox `_INBOX_system`, the only one it may read). Close it when done. */
export function connectSystemUser(options: SystemConnectionOptions): Promise<NatsConnection> {
  const connection: ConnectionOptions = {
    servers:
      typeof options.servers === 'string' ? options.servers.split(',').map((s) => s.trim()) : [...options.servers],
    name: options.name ?? 'outpost-account-updates',
    authenticator: credsAuthenticator(encoder.encode(options.creds)),
    inboxPrefix: SYSTEM_USER_INBOX_PREFIX,
    timeout: DEFAULT_TIMEOUT_MS,
    ...(options.caFile ? { tls: { caFile: options.caFile } } : {}),
  };
  return connect(connection);
}

/** What the server says about an account (`$SYS.REQ.ACCOUNT.<account>.INFO`). */
export interface AccountInfo {
  readonly accountPublicKey: string;
  /** The account JWT in force on the answering server. */
  readonly jwt: string;
  /** Its claims (signature checked). */
  readonly claims: Partial<Account>;
  /** User public key → revocation time (whole seconds): JWTs of that user issued at or before it are refused. */
  readonly revocations: Readonly<Record<string, number>>;
  readonly jetstreamEnabled: boolean;
  /** Live client connections on the answering server. */
  readonly clientConnections: number;
}

interface ServerApiResponse {
  data?: {
    jwt?: string;
    jetstream_enabled?: boolean;
    client_connections?: number;
    code?: number;
    message?: string;
  };
  error?: { code?: number; description?: string };
}

async function systemRequest(
  nc: NatsConnection,
  subject: string,
  payload: string,
  timeoutMs: number,
): Promise<ServerApiResponse> {
  let text: string;
  try {
    const reply = await nc.request(subject, encoder.encode(payload), { timeout: timeoutMs });
    text = decoder.decode(reply.data);
  } catch (err) {
    throw new IdentityError('ACCOUNT_UPDATE_FAILED', `${subject}: no answer (${(err as Error).message})`, {
      cause: err,
    });
  }
  try {
    return JSON.parse(text) as ServerApiResponse;
  } catch (err) {
    throw new IdentityError('ACCOUNT_UPDATE_FAILED', `${subject}: the answer is not JSON`, { cause: err });
  }
}

/** Reads an account's JWT and state from the server. */
export async function fetchAccountInfo(
  nc: NatsConnection,
  accountPublicKey: string,
  options: { timeoutMs?: number } = {},
): Promise<AccountInfo> {
  const subject = `$SYS.REQ.ACCOUNT.${accountPublicKey}.INFO`;
  const answer = await systemRequest(nc, subject, '', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  if (answer.error || !answer.data?.jwt) {
    throw new IdentityError(
      'ACCOUNT_UPDATE_FAILED',
      `${subject}: ${answer.error?.description ?? 'the server knows no JWT for this account'}`,
    );
  }
  const jwt = answer.data.jwt;
  const claims = decodeJwt<Account>(jwt);
  return {
    accountPublicKey,
    jwt,
    claims: claims.nats,
    revocations: { ...(claims.nats.revocations ?? {}) },
    jetstreamEnabled: answer.data.jetstream_enabled === true,
    clientConnections: answer.data.client_connections ?? 0,
  };
}

/**
 * Sends an account JWT to the server(s) and waits until the server reports it in force. Throws ACCOUNT_UPDATE_FAILED
 * when the server refuses it or does not apply it within the timeout.
 */
export async function pushAccountJwt(
  nc: NatsConnection,
  accountJwt: string,
  options: { timeoutMs?: number } = {},
): Promise<AccountInfo> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const accountPublicKey = decodeJwt(accountJwt).sub;
  const subject = `$SYS.REQ.ACCOUNT.${accountPublicKey}.CLAIMS.UPDATE`;
  const answer = await systemRequest(nc, subject, accountJwt, timeoutMs);
  if (answer.error || answer.data?.code !== 200) {
    throw new IdentityError(
      'ACCOUNT_UPDATE_FAILED',
      `${subject}: refused (${answer.error?.code ?? answer.data?.code ?? '?'}: ${answer.error?.description ?? answer.data?.message ?? 'no reason'})`,
    );
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await fetchAccountInfo(nc, accountPublicKey, { timeoutMs });
    if (info.jwt === accountJwt) return info;
    if (Date.now() > deadline) {
      throw new IdentityError(
        'ACCOUNT_UPDATE_FAILED',
        `${subject}: accepted, but the server still has another JWT in force after ${timeoutMs} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface RevokeUsersOptions {
  readonly accountPublicKey: string;
  /** The operator signing key (it signs account JWTs). */
  readonly operatorSigningKey: KeyPair;
  /** User public keys (`U…`) to revoke. */
  readonly publicKeys: readonly string[];
  /** Revocation time, whole seconds (default now): JWTs issued at or before it are refused. */
  readonly at?: number;
  readonly timeoutMs?: number;
}

export interface RevokeUsersResult {
  readonly accountJwt: string;
  /** The full revocation list now in force. */
  readonly revocations: Readonly<Record<string, number>>;
}

/**
 * Revokes users: reads the account JWT in force, adds the keys to its **full** revocation list (a JWT with only the new
 * key would un-revoke the others), re-signs it with the operator signing key, pushes it and confirms it. Live
 * connections of those users are closed by the server, and their JWTs are refused from then on, across restarts.
 * Never issue a new JWT to a revoked key: one issued after the revocation time is accepted again.
 */
export async function revokeUsers(nc: NatsConnection, options: RevokeUsersOptions): Promise<RevokeUsersResult> {
  for (const key of options.publicKeys) {
    if (!/^U[A-Z2-7]{55}$/.test(key)) throw new IdentityError('KEY_INVALID', `not a user public key: "${key}"`);
  }
  const current = await fetchAccountInfo(nc, options.accountPublicKey, { timeoutMs: options.timeoutMs });
  const decoded = decodeJwt<Account>(current.jwt);
  const at = options.at ?? nowSecs();
  const revocations: Record<string, number> = { ...current.revocations };
  for (const key of options.publicKeys) revocations[key] = Math.max(revocations[key] ?? 0, at);
  const { type: _type, version: _version, ...claims } = decoded.nats;
  const accountJwt = await encodeAccount(
    decoded.name,
    options.accountPublicKey,
    { ...claims, revocations },
    {
      signer: options.operatorSigningKey,
      ...(decoded.exp ? { exp: decoded.exp } : {}),
    },
  );
  const info = await pushAccountJwt(nc, accountJwt, { timeoutMs: options.timeoutMs });
  return { accountJwt, revocations: info.revocations };
}
