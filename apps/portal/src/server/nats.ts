import 'server-only';
import { readFileSync } from 'node:fs';
import { subjects } from '@outpost/protocol';
import { type ConnectionOptions, connect, credsAuthenticator, type NatsConnection } from 'nats';

/**
 * The portal's one NATS connection per server process. Server components and route handlers call
 * `sharedNatsConnection()`; the first call connects, later calls reuse it. Once connected it reconnects forever, so
 * a NATS restart only delays requests. A failed first connect is not cached: the next call tries again, and the page
 * shows "unavailable" meanwhile instead of hanging.
 */

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** NATS_URL may list several servers of one cluster, comma-separated. */
export function natsServersFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const servers = (env.NATS_URL ?? '')
    .split(',')
    .map((server) => server.trim())
    .filter(Boolean);
  return servers.length > 0 ? servers : [DEFAULT_NATS_URL];
}

/** How the portal authenticates: its own creds file (NATS_CREDS) and the CA that makes TLS required (NATS_CA). */
export interface NatsSecurity {
  readonly credsFile?: string;
  readonly caFile?: string;
}

/** NATS_CREDS and NATS_CA; unset (or empty) means plain NATS without credentials. */
export function natsSecurityFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): NatsSecurity {
  return {
    ...(env.NATS_CREDS ? { credsFile: env.NATS_CREDS } : {}),
    ...(env.NATS_CA ? { caFile: env.NATS_CA } : {}),
  };
}

/** The portal's connection options: its own inbox always (its user may not read `_INBOX.>`), creds and TLS when set. */
export function portalConnectionOptions(
  servers: string[],
  name: string,
  security: NatsSecurity = {},
): ConnectionOptions {
  const { credsFile, caFile } = security;
  return {
    servers,
    name,
    inboxPrefix: subjects.portal.inboxPrefix,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    // Fail a first connect quickly so a page can render its error state rather than wait on a dead server.
    timeout: 3_000,
    // Read on every (re)connect, so renewed creds are picked up without a restart.
    ...(credsFile ? { authenticator: credsAuthenticator(() => readFileSync(credsFile)) } : {}),
    // With a CA the client insists on TLS: a server that offers plaintext only is refused.
    ...(caFile ? { tls: { caFile } } : {}),
  };
}

/** Resolves to the connection, or rejects with the `nats` client's own error when the servers cannot be reached. */
export type NatsConnectionProvider = () => Promise<NatsConnection>;

/** A provider that connects on first use and hands every caller the same connection. */
export function lazyNatsConnection(
  servers: string[],
  name = 'outpost-portal',
  security: NatsSecurity = {},
): NatsConnectionProvider {
  let pending: Promise<NatsConnection> | null = null;
  return () => {
    if (!pending) {
      const attempt = connect(portalConnectionOptions(servers, name, security));
      pending = attempt;
      attempt.then(
        (nc) => {
          // With unlimited reconnects the connection only closes on fatal errors (e.g. revoked credentials):
          // forget it so the next caller starts a fresh one.
          void nc.closed().then(() => {
            if (pending === attempt) pending = null;
          });
        },
        () => {
          if (pending === attempt) pending = null;
        },
      );
    }
    return pending;
  };
}

// Next's dev server re-evaluates modules on every edit, and each route is a separate bundle with its own copy of this
// module: keeping the provider on globalThis gives them all one connection. It must hold nothing but `nats` objects
// (an external package, loaded once), since classes from a bundled module differ between bundles.
type GlobalWithNats = typeof globalThis & { __outpostPortalNats?: NatsConnectionProvider };

/**
 * The process-wide connection to the NATS servers in NATS_URL (default nats://127.0.0.1:4222), as the portal's service
 * user when NATS_CREDS is set, over TLS when NATS_CA is set.
 */
export function sharedNatsConnection(): Promise<NatsConnection> {
  const holder = globalThis as GlobalWithNats;
  holder.__outpostPortalNats ??= lazyNatsConnection(natsServersFromEnv(), 'outpost-portal', natsSecurityFromEnv());
  return holder.__outpostPortalNats();
}
