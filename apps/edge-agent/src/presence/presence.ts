import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { AgentGoodbyeV1, AgentHeartbeatV1, AgentHelloV1, encodeMessage, subjects } from '@outpost/protocol';
import type { AgentConnection, ConnectedEvent } from '../connection/index.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';

export interface PresenceOptions {
  readonly deviceId: string;
  readonly agentVersion: string;
  readonly heartbeatIntervalMs: number;
  readonly connection: AgentConnection;
  readonly log: Logger;
}

/**
 * Tells the cloud this device is alive: a hello on every (re)connect, a heartbeat every interval while connected,
 * a goodbye on clean shutdown. The cloud derives online/offline from these, so a hello after each reconnect matters:
 * a server restart loses nothing the cloud needs to know about this device.
 */
export class Presence {
  /** New on every process start, so the cloud can tell a restart (new bootId) from a reconnect (same bootId). */
  readonly bootId = randomUUID();
  private readonly options: PresenceOptions;
  private readonly log: Logger;
  private readonly startedAt = new Date();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatSeq = 0;

  constructor(options: PresenceOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'presence' });
  }

  start(): void {
    this.options.connection.onConnected((event) => this.sendHello(event));
    this.heartbeatTimer = setInterval(() => this.sendHeartbeat(), this.options.heartbeatIntervalMs);
  }

  /** Stops heartbeats. Goodbye is separate: it only makes sense while connected. */
  stop(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  /** Publishes the goodbye if connected; false when offline (the cloud will time the device out instead). */
  sendGoodbye(reason: string): boolean {
    const nc = this.options.connection.current();
    if (!nc) return false;
    nc.publish(
      subjects.device.goodbye(this.options.deviceId),
      encodeMessage(AgentGoodbyeV1, { bootId: this.bootId, reason }),
    );
    this.log.info({ reason }, 'goodbye sent');
    return true;
  }

  private sendHello({ nc, reconnect }: ConnectedEvent): void {
    const hello = encodeMessage(AgentHelloV1, {
      agentVersion: this.options.agentVersion,
      bootId: this.bootId,
      startedAt: this.startedAt.toISOString(),
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      hostname: hostname().slice(0, 255),
      platform: `${process.platform}-${process.arch}`,
    });
    nc.publish(subjects.device.hello(this.options.deviceId), hello);
    this.log.info({ bootId: this.bootId, reconnect }, 'hello sent');
  }

  private sendHeartbeat(): void {
    const nc = this.options.connection.current();
    // Offline heartbeats would be buffered and delivered in a stale burst on reconnect; the hello covers the gap.
    if (!nc) return;
    try {
      const heartbeat = encodeMessage(AgentHeartbeatV1, {
        agentVersion: this.options.agentVersion,
        bootId: this.bootId,
        seq: ++this.heartbeatSeq,
        sentAt: new Date().toISOString(),
        heartbeatIntervalMs: this.options.heartbeatIntervalMs,
        uptimeSec: Math.floor(process.uptime()),
      });
      nc.publish(subjects.device.heartbeat(this.options.deviceId), heartbeat);
      this.log.debug({ seq: this.heartbeatSeq }, 'heartbeat sent');
    } catch (err) {
      // A publish can fail while the client is mid-close; the next tick tries again.
      this.log.warn({ code: 'HEARTBEAT_FAILED', err: errorMessage(err) }, 'heartbeat not sent');
    }
  }
}
