import { Inject, Injectable } from '@nestjs/common';
import type { DeviceStatus } from '@outpost/protocol';
import { and, asc, eq, gt, like, type SQL } from 'drizzle-orm';
import { DATABASE, type Database } from '../database/database.js';
import { type DeviceRow, devices } from '../database/schema.js';

export interface DeviceListFilter {
  afterId?: string;
  status?: DeviceStatus;
  idPrefix?: string;
  limit: number;
}

/** LIKE treats `_` and `%` as wildcards, and `_` is valid in device ids. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

@Injectable()
export class DevicesRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /** Devices ordered by id after `afterId`, filtered; returns at most `limit` rows. */
  async list(filter: DeviceListFilter): Promise<DeviceRow[]> {
    const conditions: SQL[] = [];
    if (filter.afterId !== undefined) conditions.push(gt(devices.id, filter.afterId));
    if (filter.status !== undefined) conditions.push(eq(devices.status, filter.status));
    if (filter.idPrefix !== undefined) conditions.push(like(devices.id, `${escapeLike(filter.idPrefix)}%`));
    return this.db
      .select()
      .from(devices)
      .where(and(...conditions))
      .orderBy(asc(devices.id))
      .limit(filter.limit);
  }

  async findById(id: string): Promise<DeviceRow | null> {
    const [row] = await this.db.select().from(devices).where(eq(devices.id, id)).limit(1);
    return row ?? null;
  }

  /** Inserts an offline device; returns null when the id is taken. */
  async insert(device: { id: string; tags: Record<string, string> }): Promise<DeviceRow | null> {
    const [row] = await this.db
      .insert(devices)
      .values({ id: device.id, tags: device.tags, status: 'offline' })
      .onConflictDoNothing({ target: devices.id })
      .returning();
    return row ?? null;
  }
}
