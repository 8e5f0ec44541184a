import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  DebugEvents,
  Events,
  type NatsConnection,
  type Status,
} from 'nats';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { type BackoffPolicy, backoffDelayMs } from './backoff.js';

/** First-connect retries: 0.25–0.5 s, doubling, at most 10 s apart. */
export const FIRST_CONNECT_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 10_000 };

/*
 * Once connected, the nats client reconnects by itself. It waits RECONNECT_WAIT_MS plus up to RECONNECT_JITTER_MS
 * between tries so a fleet that lost its server does not come back in lockstep, and never gives up (the client's
 * default stops after 10 tries, which would strand a device after a long outage).
 */
const RECONNECT_WAIT_MS = 2_000;
const RECONNECT_JITTER_MS = 2_000;
// Detect a silently dead link (NAT timeout, pulled cable) within about a minute instead of the default four.
const PING_INTERVAL_MS = 20_000;
const MAX_PINGS_OUT = 3;
// A dial that neither connects nor fails (packets dropped) is abandoned after this and retried.
const DIAL_TIMEOUT_MS = 10_000;

export interface ConnectedEvent {
  readonly nc: NatsConnection;
  /** Host and port of the server (never credentials). */
  readonly server: string;
  /** False for the first connection of this process, true for every one after. */
  readonly reconnect: boolean;
}

export type ConnectedListener = (event: ConnectedEvent) => void;

export interface AgentConnectionOptions {
  readonly servers: readonly string[];
  /** Shown by the server's monitoring (connz), so operators can tell agents apart. */
  readonly name: string;
  /**
   * Replies to this agent's requests arrive under this prefix (`_INBOX_<deviceId>`): a device credential may subscribe
   * to its own inbox only, never to `_INBOX.>`, which would show it every reply in the account.
   */
  readonly inboxPrefix: string;
  /** The device's creds file (JWT + seed); read on every (re)connect, so a renewed file is picked up. */
  readonly credsFile?: string | null;
  /** The CA pinned at enrolment: TLS is then required and only this CA is trusted. */
  readonly caFile?: string | null;
  readonly log: Logger;
}

/**
 * The agent's one NATS connection. Keeps it up for the life of the process: retries the first connect with backoff
 * while no server is reachable, lets the client reconnect forever afterwards, and starts over should the client ever
 * close on its own. Listeners hear about every (re)connection, which is when the agent re-announces itself.
 */
export class AgentConnection {
  private readonly options: AgentConnectionOptions;
  private readonly log: Logger;
  private readonly listeners: ConnectedListener[] = [];
  private readonly stopping = new AbortController();
  private nc: NatsConnection | null = null;
  private connected = false;
  private everConnected = false;

  constructor(options: AgentConnectionOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'connection' });
  }

  onConnected(listener: ConnectedListener): void {
    this.listeners.push(listener);
  }

  /** Starts connecting in the background and returns at once; the process runs (and logs) while NATS is away. */
  start(): void {
    void this.connectUntilConnected();
  }

  /** The connection while it is up, else null (callers skip work that only makes sense online, like heartbeats). */
  current(): NatsConnection | null {
    return this.connected ? this.nc : null;
  }

  /**
   * Stops retrying and closes. Connected: drains, so everything published so far (a goodbye) reaches the server.
   * Disconnected: closes without waiting for a server. The caller bounds this with its own deadline.
   */
  async close(): Promise<void> {
    this.stopping.abort();
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    if (this.connected) {
      await nc.drain();
    } else {
      await nc.close();
    }
  }

  private connectionOptions(): ConnectionOptions {
    return {
      servers: [...this.options.servers],
      name: this.options.name,
      inboxPrefix: this.options.inboxPrefix,
      maxReconnectAttempts: -1,
      reconnectTimeWait: RECONNECT_WAIT_MS,
      reconnectJitter: RECONNECT_JITTER_MS,
      reconnectJitterTLS: RECONNECT_JITTER_MS,
      pingInterval: PING_INTERVAL_MS,
      maxPingOut: MAX_PINGS_OUT,
      timeout: DIAL_TIMEOUT_MS,
      // Credentials may be fixed on the server side while the device waits; keep trying instead of closing.
      ignoreAuthErrorAbort: true,
      ...(this.options.credsFile ? { authenticator: credsAuthenticator(readCreds(this.options.credsFile)) } : {}),
      // With a pinned CA the client insists on TLS: a server offering plaintext only is refused.
      ...(this.options.caFile ? { tls: { caFile: this.options.caFile } } : {}),
    };
  }

  private async connectUntilConnected(): Promise<void> {
    for (let attempt = 1; !this.stopping.signal.aborted; attempt++) {
      let nc: NatsConnection;
      try {
        nc = await connect(this.connectionOptions());
      } catch (err) {
        if (this.stopping.signal.aborted) return;
        const retryInMs = backoffDelayMs(attempt, FIRST_CONNECT_BACKOFF);
        this.log.warn(
          {
            code: 'NATS_CONNECT_FAILED',
            attempt,
            retryInMs,
            servers: this.serverList(),
            natsCode: natsErrorCode(err),
            err: errorMessage(err),
          },
          'connect failed; retrying',
        );
        try {
          await sleep(retryInMs, undefined, { signal: this.stopping.signal });
        } catch {
          return; // aborted: shutting down
        }
        continue;
      }
      if (this.stopping.signal.aborted) {
        // Shutdown began while this dial was in flight; nobody wants the connection any more.
        await nc.close();
        return;
      }
      this.adopt(nc);
      return;
    }
  }

  private adopt(nc: NatsConnection): void {
    this.nc = nc;
    this.connected = true;
    const reconnect = this.everConnected;
    this.everConnected = true;
    void this.watchStatus(nc);
    void this.watchClosed(nc);
    this.announce({ nc, server: nc.getServer(), reconnect });
  }

  private announce(event: ConnectedEvent): void {
    this.log.info({ server: event.server, reconnect: event.reconnect }, 'connected');
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.error({ code: 'LISTENER_FAILED', err: errorMessage(err) }, 'connected listener failed');
      }
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    let reconnectAttempt = 0;
    for await (const status of nc.status()) {
      switch (status.type) {
        case Events.Disconnect:
          this.connected = false;
          reconnectAttempt = 0;
          this.log.warn({ code: 'NATS_DISCONNECTED', server: statusText(status) }, 'disconnected');
          break;
        case Events.Reconnect:
          this.connected = true;
          this.announce({ nc, server: statusText(status), reconnect: true });
          break;
        case DebugEvents.Reconnecting:
          reconnectAttempt++;
          this.log.debug({ server: statusText(status), attempt: reconnectAttempt }, 'reconnecting');
          break;
        case Events.LDM:
          this.log.warn(
            { code: 'NATS_LAME_DUCK', server: nc.getServer() },
            'server is shutting down (lame duck mode); will move to another',
          );
          break;
        case Events.Error:
          this.log.warn(
            { code: 'NATS_SERVER_ERROR', server: nc.getServer(), err: statusText(status) },
            'server reported an error',
          );
          break;
        case Events.Update:
          this.log.debug({ servers: status.data }, 'cluster servers changed');
          break;
        default:
          // pingTimer, staleConnection, client initiated reconnect: the events above already tell the story.
          break;
      }
    }
  }

  private async watchClosed(nc: NatsConnection): Promise<void> {
    const err = await nc.closed();
    this.connected = false;
    if (this.stopping.signal.aborted) return;
    // The client gave up (it should not, with unlimited reconnects); the agent must not, so start over.
    this.log.error(
      { code: 'NATS_CLOSED', err: err ? errorMessage(err) : undefined },
      'connection closed unexpectedly; connecting again',
    );
    this.nc = null;
    void this.connectUntilConnected();
  }

  private serverList(): string {
    return this.options.servers.map(redactUrl).join(',');
  }
}

/** Reads the creds file each time the client authenticates (renewal = overwrite the file). */
function readCreds(path: string): () => Uint8Array {
  return () => readFileSync(path);
}

function statusText(status: Status): string {
  return typeof status.data === 'string' ? status.data : JSON.stringify(status.data);
}

function natsErrorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** A server URL without user, password or token, for logs. */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return url;
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}
