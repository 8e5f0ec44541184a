import {
  CredentialRenewedV1,
  CredentialRenewRequestV1,
  decodeReply,
  encodeMessage,
  OutpostError,
  permissionsFor,
  subjects,
} from '@outpost/protocol';
import { type AgentConnection, type BackoffPolicy, backoffDelayMs } from '../connection/index.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { type DeviceCredential, formatCredsFile, jwtClaims, readCredsFile, writeFileAtomic } from './creds-file.js';

/** Renew once this share of the credential's lifetime has passed: room for retries and a reconnect before it ends. */
export const RENEW_AT_FRACTION = 2 / 3;
/** A failed renewal (no connection, no answer) is retried after 1–2 s, doubling, at most a minute apart. */
export const RENEW_RETRY_BACKOFF: BackoffPolicy = { initialMs: 2_000, maxMs: 60_000 };
/** A refusal (revoked, key not enrolled) is unlikely to change soon: retried at most every 10 minutes. */
export const RENEW_REFUSED_BACKOFF: BackoffPolicy = { initialMs: 60_000, maxMs: 600_000 };
const RENEW_TIMEOUT_MS = 10_000;
/** setTimeout's limit (about 24.8 days); a longer wait is taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * When to renew: at RENEW_AT_FRACTION of the lifetime (from `iat` to `exp`), or now if that has passed. Null for a
 * credential without an expiry.
 */
export function renewalDueAt(
  credential: Pick<DeviceCredential, 'issuedAt' | 'expiresAt'>,
  now = new Date(),
): Date | null {
  if (!credential.expiresAt) return null;
  const issued = credential.issuedAt ?? now;
  const lifetime = Math.max(0, credential.expiresAt.getTime() - issued.getTime());
  return new Date(issued.getTime() + lifetime * RENEW_AT_FRACTION);
}

/**
 * The subjects this agent version uses that the credential's JWT does not allow, as `publish <subject>` /
 * `subscribe <subject>`: a credential minted before an upgrade that added subjects (agent methods, artifact reads).
 * The cloud mints renewals with the current permissions, so such a credential is renewed at once. Empty when the JWT
 * carries no permission lists (nothing to compare) or cannot be read.
 */
export function missingPermissions(jwt: string, deviceId: string): string[] {
  let nats: { pub?: { allow?: unknown }; sub?: { allow?: unknown } } | undefined;
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      nats?: typeof nats;
    };
    nats = payload.nats;
  } catch {
    return [];
  }
  const allowed = (list: unknown) => (Array.isArray(list) ? new Set(list.filter((x) => typeof x === 'string')) : null);
  const publish = allowed(nats?.pub?.allow);
  const subscribe = allowed(nats?.sub?.allow);
  if (!publish || !subscribe) return [];
  const wanted = permissionsFor({ role: 'agent', deviceId });
  return [
    ...wanted.publish.filter((subject) => !publish.has(subject)).map((subject) => `publish ${subject}`),
    ...wanted.subscribe.filter((subject) => !subscribe.has(subject)).map((subject) => `subscribe ${subject}`),
  ];
}

export interface CredentialRenewerOptions {
  readonly deviceId: string;
  /** The creds file the connection reads on every (re)connect: renewal overwrites it (0600, atomically). */
  readonly credsFile: string;
  readonly connection: AgentConnection;
  readonly log: Logger;
}

/**
 * Keeps the device's NATS credential from running out: before it expires, asks the cloud over
 * `outpost.dev.<id>.credential.renew` (on the current credential, for the same public key) for a new JWT and writes it
 * to the creds file. The live connection keeps its session; when the server ends it at the old JWT's expiry, or on any
 * reconnect, the client reads the renewed file. Failures are retried with backoff; a refusal (revoked device) is logged
 * with its code and retried rarely. Neither the seed nor a JWT is ever logged.
 */
export class CredentialRenewer {
  private readonly options: CredentialRenewerOptions;
  private readonly log: Logger;
  private credential: DeviceCredential;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private inFlight = false;
  /** Due while disconnected: tried on the next connect instead of polling. */
  private waitingForConnection = false;
  private stopped = false;
  private expiryLogged = false;

  constructor(options: CredentialRenewerOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'credential' });
    this.credential = readCredsFile(options.credsFile);
  }

  get expiresAt(): Date | null {
    return this.credential.expiresAt;
  }

  start(): void {
    this.options.connection.onConnected(() => {
      if (this.waitingForConnection) {
        this.waitingForConnection = false;
        void this.renew();
      }
    });
    const missing = missingPermissions(this.credential.jwt, this.options.deviceId);
    if (missing.length > 0) {
      this.log.info(
        { code: 'CREDENTIAL_PERMISSIONS_OUTDATED', publicKey: this.credential.publicKey, missing },
        'the credential predates subjects this agent uses; renewing it now',
      );
      this.scheduleIn(0);
      return;
    }
    const due = renewalDueAt(this.credential);
    if (!due) {
      this.log.info({ publicKey: this.credential.publicKey }, 'credential does not expire; no renewal needed');
      return;
    }
    this.log.info(
      {
        publicKey: this.credential.publicKey,
        expiresAt: this.credential.expiresAt?.toISOString(),
        renewAt: due.toISOString(),
      },
      'credential renewal scheduled',
    );
    this.scheduleAt(due);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private scheduleAt(at: Date): void {
    this.scheduleIn(at.getTime() - Date.now());
  }

  private scheduleIn(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const wait = Math.max(0, delayMs);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        if (wait > MAX_TIMER_MS) this.scheduleIn(wait - MAX_TIMER_MS);
        else void this.renew();
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.stopped || this.inFlight) return;
    const nc = this.options.connection.current();
    if (!nc) {
      this.waitingForConnection = true;
      this.log.debug({}, 'credential renewal due; waiting for the connection');
      this.warnIfExpired();
      return;
    }
    this.inFlight = true;
    const { publicKey } = this.credential;
    try {
      const reply = await nc.request(
        subjects.device.credentialRenew(this.options.deviceId),
        encodeMessage(CredentialRenewRequestV1, { publicKey }),
        { timeout: RENEW_TIMEOUT_MS },
      );
      const renewed = decodeReply(CredentialRenewedV1, reply.data);
      const claims = jwtClaims(renewed.jwt);
      if (claims.sub !== publicKey) throw new Error('the renewed JWT is for another key');
      writeFileAtomic(this.options.credsFile, formatCredsFile(renewed.jwt, this.credential.seed), 0o600);
      this.credential = readCredsFile(this.options.credsFile);
      this.failures = 0;
      this.expiryLogged = false;
      const due = renewalDueAt(this.credential);
      this.log.info(
        { publicKey, expiresAt: renewed.expiresAt, renewAt: due?.toISOString() ?? null },
        'credential renewed',
      );
      if (due) this.scheduleAt(due);
    } catch (err) {
      this.failures++;
      const refused = err instanceof OutpostError;
      const retryInMs = backoffDelayMs(this.failures, refused ? RENEW_REFUSED_BACKOFF : RENEW_RETRY_BACKOFF);
      this.log[refused ? 'error' : 'warn'](
        {
          code: refused ? 'CREDENTIAL_RENEW_REFUSED' : 'CREDENTIAL_RENEW_FAILED',
          ...(refused ? { cloudCode: err.code } : {}),
          attempt: this.failures,
          retryInMs,
          expiresAt: this.credential.expiresAt?.toISOString(),
          err: errorMessage(err),
        },
        refused ? 'credential renewal refused by the cloud' : 'credential renewal failed; retrying',
      );
      this.warnIfExpired();
      this.scheduleIn(retryInMs);
    } finally {
      this.inFlight = false;
    }
  }

  /** Once the credential has run out only a new enrolment helps: say so once. */
  private warnIfExpired(): void {
    const { expiresAt } = this.credential;
    if (this.expiryLogged || !expiresAt || expiresAt.getTime() > Date.now()) return;
    this.expiryLogged = true;
    this.log.error(
      { code: 'CREDENTIAL_EXPIRED', expiresAt: expiresAt.toISOString(), credsFile: this.options.credsFile },
      'the device credential expired before it could be renewed; enrol the device again',
    );
  }
}
