import { sql } from 'drizzle-orm';
import { bigint, index, jsonb, pgEnum, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const auditActorKind = pgEnum('audit_actor_kind', ['user', 'token', 'device', 'system']);

/** One row per successful change, written by AuditService only. Never updated or deleted by the API. */
export const auditLog = pgTable(
  'audit_log',
  {
    /** Increasing, so it orders the log and is the page cursor. */
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    actorKind: auditActorKind('actor_kind').notNull(),
    actorId: text('actor_id').notNull(),
    actorName: text('actor_name').notNull(),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
  },
  // The filters of GET /api/v1/audit, each walked newest first.
  (table) => [
    index('audit_log_actor_id_idx').on(table.actorId, table.id),
    index('audit_log_actor_name_idx').on(table.actorName, table.id),
    index('audit_log_action_idx').on(table.action, table.id),
    index('audit_log_target_id_idx').on(table.targetId, table.id),
  ],
);

export type AuditRow = typeof auditLog.$inferSelect;
export type AuditActorKind = (typeof auditActorKind.enumValues)[number];
