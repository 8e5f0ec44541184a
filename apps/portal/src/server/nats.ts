import 'server-only';
import { connect, type NatsConnection } from 'nats';

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

/** Resolves to the connection, or rejects with the `nats` client's own error when the servers cannot be reached. */
export type NatsConnectionProvider = () => Promise<NatsConnection>;

/** A provider that connects on first use and hands every caller the same connection. */
export function lazyNatsConnection(servers: string[], name = 'outpost-portal'): NatsConnectionProvider {
  let pending: Promise<NatsConnection> | null = null;
  return () => {
    if (!pending) {
      const attempt = connect({
        servers,
        name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1_000,
        // Fail a first connect quickly so a page can render its error state rather than wait on a dead server.
        timeout: 3_000,
      });
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

/** The process-wide connection to the NATS servers in NATS_URL (default nats://127.0.0.1:4222). */
export function sharedNatsConnection(): Promise<NatsConnection> {
  const holder = globalThis as GlobalWithNats;
  holder.__outpostPortalNats ??= lazyNatsConnection(natsServersFromEnv());
  return holder.__outpostPortalNats();
}
