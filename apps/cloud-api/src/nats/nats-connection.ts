import { readFileSync } from 'node:fs';
import { OutpostError, subjects } from '@outpost/protocol';
import { type ConnectionOptions, connect, credsAuthenticator, type NatsConnection } from 'nats';
import type { Logger } from '../logging/logger.js';

/** How long to wait between attempts while the first connection cannot be made. */
const FIRST_CONNECT_RETRY_MS = 1_000;
/** drain() normally takes one round trip; a server that is gone must not hold up shutdown. */
const DRAIN_TIMEOUT_MS = 5_000;

type ConnectListener = (connection: NatsConnection) => void;

/** How the API authenticates to NATS: none (plain NATS) or its creds file, and the CA that makes TLS required. */
export interface NatsSecurity {
  readonly credsFile: string | null;
  readonly caFile: string | null;
}

/**
 * The API's one NATS connection, shared by the Nest transport (subscriptions), the presence publisher and the health
 * check. It is made in the background: the API starts (and /healthz reports NATS down) while NATS is not up yet, and
 * once connected the client reconnects forever.
 */
export class NatsConnectionService {
  private connection: NatsConnection | null = null;
  private connected = false;
  private stopping = false;
  private readonly listeners: ConnectListener[] = [];
  private readonly log: Logger;

  constructor(
    private readonly servers: string,
    logger: Logger,
    private readonly security: NatsSecurity = { credsFile: null, caFile: null },
  ) {
    this.log = logger.child({ component: 'nats' });
  }

  /** Starts connecting (returns at once). */
  start(): void {
    void this.connectUntilStopped();
  }

  /** Calls `listener` with the connection now if there is one, and with every later new connection. */
  onConnect(listener: ConnectListener): void {
    this.listeners.push(listener);
    if (this.connection) listener(this.connection);
  }

  /**
   * The connection for requests and JetStream (device methods, the artifacts object store), or UNAVAILABLE while
   * there is none yet.
   */
  connectionOrThrow(): NatsConnection {
    const connection = this.connection;
    if (!connection || connection.isClosed()) {
      throw new OutpostError('UNAVAILABLE', 'NATS is not connected', [{ path: '', message: 'retry shortly' }]);
    }
    return connection;
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** One round trip to the server; throws when disconnected or when no answer comes in time. */
  async ping(timeoutMs: number): Promise<void> {
    const connection = this.connection;
    if (!connection || !this.connected) throw new Error('not connected');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        connection.flush(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Publishes when a connection exists (while it is reconnecting, the client buffers). Returns false when the
   * message could not be handed to a connection, so the caller can say what was lost.
   */
  publish(subject: string, data: Uint8Array): boolean {
    const connection = this.connection;
    if (!connection || connection.isClosed()) return false;
    try {
      connection.publish(subject, data);
      return true;
    } catch (err) {
      this.log.warn({ code: 'NATS_PUBLISH_FAILED', subject, err: errorMessage(err) }, 'publish failed');
      return false;
    }
  }

  /** Stops reconnecting, flushes what was published and closes. */
  async drain(): Promise<void> {
    this.stopping = true;
    const connection = this.connection;
    if (!connection || connection.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        connection.drain(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, DRAIN_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      this.log.warn({ code: 'NATS_DRAIN_FAILED', err: errorMessage(err) }, 'drain failed; closing');
    } finally {
      clearTimeout(timer);
      if (!connection.isClosed()) await connection.close();
    }
  }

  private async connectUntilStopped(): Promise<void> {
    let attempts = 0;
    while (!this.stopping) {
      try {
        // Our own loop for the first connection (not waitOnFirstConnect): a pending connect() cannot be cancelled,
        // and it would keep a stopping process alive.
        const connection = await connect(this.connectionOptions());
        if (this.stopping) {
          await connection.close();
          return;
        }
        this.adopt(connection);
        return;
      } catch (err) {
        // Say it once, then quietly keep trying: NATS may simply not be up yet.
        if (attempts === 0) {
          this.log.warn(
            { code: 'NATS_UNAVAILABLE', servers: this.servers, err: errorMessage(err) },
            'cannot reach NATS yet; retrying until it is up',
          );
        }
        attempts += 1;
        await new Promise((resolve) => setTimeout(resolve, FIRST_CONNECT_RETRY_MS));
      }
    }
  }

  private connectionOptions(): ConnectionOptions {
    const { credsFile, caFile } = this.security;
    return {
      servers: this.servers.split(',').map((server) => server.trim()),
      name: 'outpost-cloud-api',
      // Replies to the API's own requests (JetStream included) arrive here: no credential may read `_INBOX.>`.
      inboxPrefix: subjects.cloudApi.inboxPrefix,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      pingInterval: 10_000,
      maxPingOut: 3,
      // Read on every (re)connect, so renewed creds are picked up without a restart.
      ...(credsFile ? { authenticator: credsAuthenticator(() => readFileSync(credsFile)) } : {}),
      // With a CA the client insists on TLS: a server that offers plaintext only is refused.
      ...(caFile ? { tls: { caFile } } : {}),
    };
  }

  private adopt(connection: NatsConnection): void {
    this.connection = connection;
    this.connected = true;
    this.log.info({ server: connection.getServer() }, 'connected to NATS');
    void this.watchStatus(connection);
    void connection.closed().then((err) => {
      this.connected = false;
      if (this.stopping) return;
      // Only a fatal error closes a client that reconnects forever; start over with a new one.
      this.log.error({ code: 'NATS_CLOSED', err: errorMessage(err) }, 'NATS connection closed; reconnecting');
      this.connection = null;
      void this.connectUntilStopped();
    });
    for (const listener of this.listeners) listener(connection);
  }

  private async watchStatus(connection: NatsConnection): Promise<void> {
    for await (const status of connection.status()) {
      switch (status.type) {
        case 'disconnect':
          this.connected = false;
          if (!this.stopping) {
            this.log.warn({ code: 'NATS_DISCONNECTED', server: status.data }, 'disconnected from NATS; reconnecting');
          }
          break;
        case 'reconnect':
          this.connected = true;
          this.log.info({ server: status.data }, 'reconnected to NATS');
          break;
        case 'error':
          this.log.error({ code: 'NATS_ERROR', err: String(status.data) }, 'NATS reported an error');
          break;
        case 'ldm':
          this.log.warn({ code: 'NATS_LAME_DUCK', server: status.data }, 'NATS server is shutting down');
          break;
        default:
          break;
      }
    }
  }
}

function errorMessage(err: unknown): string | undefined {
  if (err === undefined || err === null) return undefined;
  return err instanceof Error ? err.message : String(err);
}

/** Nest injection token. */
export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
