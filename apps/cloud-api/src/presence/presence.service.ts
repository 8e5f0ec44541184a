import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DevicePresenceChangedV1, type DeviceStatus, encodeMessage, subjects } from '@outpost/protocol';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { NATS_CONNECTION, type NatsConnectionService } from '../nats/nats-connection.js';
import { type PresenceChange, PresenceRepository, type SeenDevice } from './presence.repository.js';

/**
 * Device presence from heartbeats (docs/adr/0002-presence-from-heartbeats.md):
 *  - hellos and heartbeats are buffered per device and written in one upsert every flush interval;
 *  - a device that went online is announced on subjects.events.devicePresence right after the flush;
 *  - every sweep interval, the one replica holding the sweep lock marks silent devices offline and announces them;
 *  - a goodbye marks the device offline at once.
 */
@Injectable()
export class PresenceService implements OnApplicationBootstrap {
  private buffer = new Map<string, SeenDevice>();
  /** Flushes run one after another; this is the tail of that chain. */
  private flushing: Promise<void> = Promise.resolve();
  private readonly pending = new Set<Promise<unknown>>();
  private flushTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Failing since the last success: a database outage logs once, not on every tick. */
  private readonly failing = { flush: false, sweep: false };
  private readonly log: Logger;
  private readonly refusedLogged = new Set<string>();

  constructor(
    private readonly repository: PresenceRepository,
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnectionService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'presence' });
  }

  onApplicationBootstrap(): void {
    this.scheduleFlush();
    this.scheduleSweep();
  }

  /** Buffers a hello or heartbeat; the newest sighting per device wins. */
  recordSeen(seen: SeenDevice): void {
    const buffered = this.buffer.get(seen.deviceId);
    if (!buffered || seen.at >= buffered.at) this.buffer.set(seen.deviceId, seen);
  }

  /** Writes the buffer now (after any flush already running) and announces devices that came online. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.flushOnce());
    return this.flushing;
  }

  /** A goodbye: offline at once. Flushes first so a hello buffered here cannot land after it. */
  async goodbye(deviceId: string, bootId: string, at: Date): Promise<void> {
    await this.track(
      (async () => {
        await this.flush();
        const change = await this.repository.markOffline(deviceId, bootId, at);
        if (change) this.announce([change], 'offline');
      })(),
    );
  }

  /** One sweep (if this replica gets the lock). */
  async sweep(): Promise<void> {
    // The grace covers the batching: a heartbeat may sit in some replica's buffer for up to a flush interval,
    // plus the time the flush takes.
    const graceMs = 2 * this.config.presence.flushIntervalMs;
    const changes = await this.repository.sweep(new Date(), graceMs);
    if (changes && changes.length > 0) this.announce(changes, 'offline');
  }

  /** Stops the timers, waits for goodbyes in progress and writes what is buffered. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.flushTimer);
    clearTimeout(this.sweepTimer);
    await Promise.allSettled([...this.pending]);
    await this.flush();
  }

  private async flushOnce(): Promise<void> {
    if (this.buffer.size === 0) return;
    const batch = [...this.buffer.values()];
    this.buffer = new Map();
    try {
      const { online, refused } = await this.repository.recordSeen(batch);
      this.recovered('flush');
      this.log.debug({ devices: batch.length, cameOnline: online.length }, 'presence flushed');
      for (const { deviceId, reason } of refused) this.refuseSighting(deviceId, reason);
      if (online.length > 0) this.announce(online, 'online');
    } catch (err) {
      // Keep the sightings for the next flush (unless newer ones arrived meanwhile).
      for (const seen of batch) this.recordSeen(seen);
      this.failed('flush', 'PRESENCE_FLUSH_FAILED', err, { devices: batch.length });
    }
  }

  /**
   * A hello or heartbeat from an id the registry does not know (or a revoked device): not recorded, and logged with
   * its code — once per id per replica run, so a misconfigured agent cannot flood the log.
   */
  private refuseSighting(deviceId: string, reason: 'UNKNOWN_DEVICE' | 'DEVICE_REVOKED'): void {
    const key = `${reason}:${deviceId}`;
    if (this.refusedLogged.has(key)) return;
    if (this.refusedLogged.size >= 10_000) this.refusedLogged.clear();
    this.refusedLogged.add(key);
    this.log.warn(
      { code: reason, deviceId },
      reason === 'UNKNOWN_DEVICE'
        ? `presence refused: device ${deviceId} is not registered (create it and enrol it first)`
        : `presence refused: device ${deviceId} is revoked`,
    );
  }

  private announce(changes: PresenceChange[], status: DeviceStatus): void {
    const at = new Date().toISOString();
    for (const change of changes) {
      this.log.info({ deviceId: change.deviceId, status }, `device ${status}`);
      const event = encodeMessage(DevicePresenceChangedV1, {
        deviceId: change.deviceId,
        status,
        lastSeen: change.lastSeen ? change.lastSeen.toISOString() : null,
        at,
      });
      if (!this.nats.publish(subjects.events.devicePresence, event)) {
        this.log.warn(
          { code: 'PRESENCE_EVENT_NOT_PUBLISHED', deviceId: change.deviceId, status },
          'no NATS connection; presence event not published (the database has the state)',
        );
      }
    }
  }

  private scheduleFlush(): void {
    if (this.stopped) return;
    this.flushTimer = setTimeout(() => {
      void this.flush().finally(() => this.scheduleFlush());
    }, this.config.presence.flushIntervalMs);
  }

  private scheduleSweep(): void {
    if (this.stopped) return;
    this.sweepTimer = setTimeout(() => {
      void this.track(this.sweep())
        .then(
          () => this.recovered('sweep'),
          (err: unknown) => this.failed('sweep', 'PRESENCE_SWEEP_FAILED', err),
        )
        .finally(() => this.scheduleSweep());
    }, this.config.presence.sweepIntervalMs);
  }

  private failed(task: 'flush' | 'sweep', code: string, err: unknown, context: Record<string, unknown> = {}): void {
    const fields = { code, ...context, err: errorMessage(err) };
    if (this.failing[task]) {
      this.log.debug(fields, `presence ${task} still failing`);
      return;
    }
    this.failing[task] = true;
    this.log.error(fields, `presence ${task} failed; retrying every interval`);
  }

  private recovered(task: 'flush' | 'sweep'): void {
    if (!this.failing[task]) return;
    this.failing[task] = false;
    this.log.info(`presence ${task} works again`);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work)).catch(() => {});
    return work;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
