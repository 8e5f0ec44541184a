import { Inject, Injectable } from '@nestjs/common';
import { desc, eq, max, sql } from 'drizzle-orm';
import { DATABASE, type Database } from '../database/database.js';
import {
  type DeviceDeploymentRow,
  type DeviceReportedStateRow,
  deviceDeployments,
  deviceReportedStates,
  devices,
} from '../database/schema.js';

/** What the service makes once it knows the version: the signed deployment to store. */
export type NewDeployment = Omit<DeviceDeploymentRow, 'deviceId' | 'version'>;

@Injectable()
export class DeploymentsRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async deviceExists(deviceId: string): Promise<boolean> {
    const [row] = await this.db.select({ id: devices.id }).from(devices).where(eq(devices.id, deviceId)).limit(1);
    return row !== undefined;
  }

  /**
   * Stores the device's next deployment: under a lock on the device's row, so concurrent calls for one device get
   * versions one apart and never the same. `make` builds (signs) the deployment for the version it is given, inside the
   * transaction. Null when the device does not exist.
   */
  async insertNext(
    deviceId: string,
    make: (version: number) => Promise<NewDeployment>,
  ): Promise<DeviceDeploymentRow | null> {
    return this.db.transaction(async (tx) => {
      const [device] = await tx.select({ id: devices.id }).from(devices).where(eq(devices.id, deviceId)).for('update');
      if (!device) return null;
      const [current] = await tx
        .select({ version: max(deviceDeployments.version) })
        .from(deviceDeployments)
        .where(eq(deviceDeployments.deviceId, deviceId));
      const version = (current?.version ?? 0) + 1;
      const deployment = await make(version);
      const [row] = await tx
        .insert(deviceDeployments)
        .values({ ...deployment, deviceId, version })
        .returning();
      if (!row) throw new Error('storing a deployment returned no row');
      return row;
    });
  }

  /** The device's desired deployment: its highest version, or null when nothing was deployed. */
  async latest(deviceId: string): Promise<DeviceDeploymentRow | null> {
    const [row] = await this.db
      .select()
      .from(deviceDeployments)
      .where(eq(deviceDeployments.deviceId, deviceId))
      .orderBy(desc(deviceDeployments.version))
      .limit(1);
    return row ?? null;
  }

  /** Just the desired version (0 when nothing was deployed): what an unchanged desired.get needs. */
  async latestVersion(deviceId: string): Promise<number> {
    const [row] = await this.db
      .select({ version: max(deviceDeployments.version) })
      .from(deviceDeployments)
      .where(eq(deviceDeployments.deviceId, deviceId));
    return row?.version ?? 0;
  }

  /**
   * Stores a report unless the stored one is newer: a report from the same boot with a seq not above the stored one is
   * dropped; one from another boot replaces it. Returns whether it was stored (false also for an unknown device).
   */
  async recordReported(report: DeviceReportedStateRow): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [device] = await tx
        .select({ id: devices.id })
        .from(devices)
        .where(eq(devices.id, report.deviceId))
        .limit(1);
      if (!device) return false;
      const stored = await tx
        .insert(deviceReportedStates)
        .values(report)
        .onConflictDoUpdate({
          target: deviceReportedStates.deviceId,
          set: {
            bootId: sql`excluded.boot_id`,
            seq: sql`excluded.seq`,
            reportedAt: sql`excluded.reported_at`,
            receivedAt: sql`excluded.received_at`,
            desired: sql`excluded.desired`,
            modules: sql`excluded.modules`,
          },
          setWhere: sql`${deviceReportedStates.bootId} <> excluded.boot_id or ${deviceReportedStates.seq} < excluded.seq`,
        })
        .returning({ deviceId: deviceReportedStates.deviceId });
      return stored.length > 0;
    });
  }

  async reported(deviceId: string): Promise<DeviceReportedStateRow | null> {
    const [row] = await this.db
      .select()
      .from(deviceReportedStates)
      .where(eq(deviceReportedStates.deviceId, deviceId))
      .limit(1);
    return row ?? null;
  }
}
