import { Inject, Injectable } from '@nestjs/common';
import type { AuditActor } from '@outpost/protocol';
import { and, desc, eq, lt, or, type SQL } from 'drizzle-orm';
import { DATABASE, type Database, type Transaction } from '../database/database.js';
import { type AuditRow, auditLog } from '../database/schema.js';

export interface NewAuditRow {
  actor: AuditActor;
  action: string;
  targetType: string;
  targetId: string | null;
  details: Record<string, unknown>;
}

export interface AuditFilter {
  beforeId?: number;
  /** An actor id or name. */
  actor?: string;
  action?: string;
  targetId?: string;
  limit: number;
}

@Injectable()
export class AuditRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async insert(entry: NewAuditRow, tx: Database | Transaction = this.db): Promise<AuditRow> {
    const [row] = await tx
      .insert(auditLog)
      .values({
        actorKind: entry.actor.kind,
        actorId: entry.actor.id,
        actorName: entry.actor.name,
        action: entry.action,
        targetType: entry.targetType,
        targetId: entry.targetId,
        details: entry.details,
      })
      .returning();
    if (!row) throw new Error('audit insert returned no row');
    return row;
  }

  /** Newest first, before `beforeId`, filtered; at most `limit` rows. */
  async list(filter: AuditFilter): Promise<AuditRow[]> {
    const conditions: SQL[] = [];
    if (filter.beforeId !== undefined) conditions.push(lt(auditLog.id, filter.beforeId));
    if (filter.actor !== undefined) {
      const byActor = or(eq(auditLog.actorId, filter.actor), eq(auditLog.actorName, filter.actor));
      if (byActor) conditions.push(byActor);
    }
    if (filter.action !== undefined) conditions.push(eq(auditLog.action, filter.action));
    if (filter.targetId !== undefined) conditions.push(eq(auditLog.targetId, filter.targetId));
    return this.db
      .select()
      .from(auditLog)
      .where(and(...conditions))
      .orderBy(desc(auditLog.id))
      .limit(filter.limit);
  }
}
