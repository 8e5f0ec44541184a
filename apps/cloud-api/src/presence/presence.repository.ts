import { Inject, Injectable } from '@nestjs/common';
import { and, asc, eq, inArray, isNull, or, sql } from 'drizzle-orm';
import { DATABASE, type Database, executeRows } from '../database/database.js';
import { deviceCredentials, devices } from '../database/schema.js';

/** What one replica saw of a device since its last flush: the newest hello/heartbeat. */
export interface SeenDevice {
  deviceId: string;
  /** When this replica received it. */
  at: Date;
  agentVersion: string;
  bootId: string;
  heartbeatIntervalMs: number;
}

/** What a flush did: devices that came online, and sightings refused (ids not registered, or revoked). */
export interface SeenResult {
  online: PresenceChange[];
  refused: { deviceId: string; reason: 'UNKNOWN_DEVICE' | 'DEVICE_REVOKED' }[];
}

export interface PresenceChange {
  deviceId: string;
  lastSeen: Date | null;
}

/** Only the replica holding this lock sweeps (see docs/adr/0002-presence-from-heartbeats.md). */
const SWEEP_LOCK_KEY = 0x4f50_5357_4545n; // "OPSWEE"

/** A device is offline after this many heartbeat intervals without one. */
export const MISSED_HEARTBEATS_OFFLINE = 3;

@Injectable()
export class PresenceRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /**
   * Records a batch of sightings of registered devices in one multi-row upsert and returns the devices that went from
   * offline to online. Sightings of ids the registry does not know, or of revoked devices, are refused: presence never
   * registers a device (enrolment does). A sighting older than what is stored (another replica flushed a newer one, or
   * a goodbye came after it) changes nothing.
   */
  async recordSeen(batch: SeenDevice[]): Promise<SeenResult> {
    if (batch.length === 0) return { online: [], refused: [] };
    // Rows are locked in id order (here and by the upsert) so concurrent flushes from replicas cannot deadlock.
    const sorted = [...batch].sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
    return this.db.transaction(async (tx) => {
      const before = await tx
        .select({ id: devices.id, status: devices.status, revokedAt: deviceCredentials.revokedAt })
        .from(devices)
        .leftJoin(deviceCredentials, eq(deviceCredentials.deviceId, devices.id))
        .where(
          inArray(
            devices.id,
            sorted.map((seen) => seen.deviceId),
          ),
        )
        .orderBy(asc(devices.id))
        .for('update', { of: devices });
      const previous = new Map(before.map((row) => [row.id, row.status]));
      const revoked = new Set(before.filter((row) => row.revokedAt !== null).map((row) => row.id));
      const refused: SeenResult['refused'] = [];
      const accepted = sorted.filter((seen) => {
        if (!previous.has(seen.deviceId)) refused.push({ deviceId: seen.deviceId, reason: 'UNKNOWN_DEVICE' });
        else if (revoked.has(seen.deviceId)) refused.push({ deviceId: seen.deviceId, reason: 'DEVICE_REVOKED' });
        else return true;
        return false;
      });
      if (accepted.length === 0) return { online: [], refused };

      const newer = sql`(devices.last_seen IS NULL OR excluded.last_seen > devices.last_seen)`;
      const rows = await tx
        .insert(devices)
        .values(
          accepted.map((seen) => ({
            id: seen.deviceId,
            status: 'online' as const,
            lastSeen: seen.at,
            agentVersion: seen.agentVersion,
            bootId: seen.bootId,
            heartbeatIntervalMs: seen.heartbeatIntervalMs,
          })),
        )
        .onConflictDoUpdate({
          target: devices.id,
          set: {
            status: sql`CASE WHEN ${newer} THEN 'online'::device_status ELSE devices.status END`,
            lastSeen: sql`GREATEST(devices.last_seen, excluded.last_seen)`,
            agentVersion: sql`CASE WHEN ${newer} THEN excluded.agent_version ELSE devices.agent_version END`,
            bootId: sql`CASE WHEN ${newer} THEN excluded.boot_id ELSE devices.boot_id END`,
            heartbeatIntervalMs: sql`CASE WHEN ${newer} THEN excluded.heartbeat_interval_ms ELSE devices.heartbeat_interval_ms END`,
            updatedAt: sql`now()`,
          },
        })
        .returning({
          id: devices.id,
          status: devices.status,
          lastSeen: devices.lastSeen,
        });
      const online = rows
        .filter((row) => row.status === 'online' && previous.get(row.id) === 'offline')
        .map((row) => ({ deviceId: row.id, lastSeen: row.lastSeen }));
      return { online, refused };
    });
  }

  /** A goodbye: offline at once, unless a newer agent process (another boot id) has spoken since. */
  async markOffline(deviceId: string, bootId: string, at: Date): Promise<PresenceChange | null> {
    const [row] = await this.db
      .update(devices)
      .set({
        status: 'offline',
        lastSeen: sql`GREATEST(${devices.lastSeen}, ${at.toISOString()}::timestamptz)`,
        updatedAt: sql`now()`,
      })
      .where(
        and(
          eq(devices.id, deviceId),
          eq(devices.status, 'online'),
          or(isNull(devices.bootId), eq(devices.bootId, bootId)),
        ),
      )
      .returning({ id: devices.id, lastSeen: devices.lastSeen });
    return row ? { deviceId: row.id, lastSeen: row.lastSeen } : null;
  }

  /**
   * Marks online devices offline when their last sighting is older than 3 heartbeat intervals plus `graceMs` (the
   * batching delay). Runs only if this transaction gets the sweep lock; returns null when another replica has it.
   */
  async sweep(now: Date, graceMs: number): Promise<PresenceChange[] | null> {
    return this.db.transaction(async (tx) => {
      const [lock] = await executeRows(
        tx,
        sql`select pg_try_advisory_xact_lock(${SWEEP_LOCK_KEY.toString()}::bigint) as locked`,
      );
      if (lock?.locked !== true) return null;
      const rows = await tx
        .update(devices)
        .set({ status: 'offline', updatedAt: sql`now()` })
        .where(
          and(
            eq(devices.status, 'online'),
            sql`${devices.lastSeen} < ${now.toISOString()}::timestamptz - (${devices.heartbeatIntervalMs} * ${MISSED_HEARTBEATS_OFFLINE} + ${graceMs}::integer) * interval '1 millisecond'`,
          ),
        )
        .returning({ id: devices.id, lastSeen: devices.lastSeen });
      return rows.map((row) => ({ deviceId: row.id, lastSeen: row.lastSeen }));
    });
  }
}
