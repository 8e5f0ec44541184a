import { Inject, Injectable } from '@nestjs/common';
import type { DeviceStatus } from '@outpost/protocol';
import { eq } from 'drizzle-orm';
import { DATABASE, type Database } from '../database/database.js';
import { devices } from '../database/schema.js';

@Injectable()
export class DeviceMethodsRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /** The device's presence, or null when it is not registered. */
  async deviceStatus(deviceId: string): Promise<DeviceStatus | null> {
    const [row] = await this.db
      .select({ status: devices.status })
      .from(devices)
      .where(eq(devices.id, deviceId))
      .limit(1);
    return row?.status ?? null;
  }
}
