import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgEnum, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { auditActorKind, auditLog } from './audit.js';
import { sessions, users } from './people.js';
import { rateLimits } from './rate-limits.js';
import { apiTokenRole } from './roles.js';

export * from './audit.js';
export * from './people.js';
export * from './rate-limits.js';
export * from './roles.js';

export const deviceStatus = pgEnum('device_status', ['online', 'offline']);

export const devices = pgTable(
  'devices',
  {
    id: text('id').primaryKey(),
    status: deviceStatus('status').notNull().default('offline'),
    /** Receive time of the newest hello/heartbeat/goodbye recorded (batched; see the presence ADR). */
    lastSeen: timestamp('last_seen', { withTimezone: true, mode: 'date' }),
    agentVersion: text('agent_version'),
    /** The agent process that last spoke; a goodbye from an older boot does not take a newer one offline. */
    bootId: text('boot_id'),
    heartbeatIntervalMs: integer('heartbeat_interval_ms'),
    tags: jsonb('tags').$type<Record<string, string>>().notNull().default(sql`'{}'::jsonb`),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  // The sweeper looks only at online devices, by age.
  (table) => [index('devices_online_last_seen_idx').on(table.lastSeen).where(sql`${table.status} = 'online'`)],
);

export const apiTokens = pgTable('api_tokens', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  role: apiTokenRole('role').notNull(),
  /** sha256 of the token, hex. The token itself is never stored. */
  tokenHash: text('token_hash').notNull().unique(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  /** Every token expires; the default only applies to rows made before expiry existed. */
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' })
    .notNull()
    .default(sql`now() + interval '365 days'`),
});

export type DeviceRow = typeof devices.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;
export type ApiTokenRole = (typeof apiTokenRole.enumValues)[number];

export const schema = {
  devices,
  apiTokens,
  deviceStatus,
  apiTokenRole,
  users,
  sessions,
  auditLog,
  auditActorKind,
  rateLimits,
};

export * from './deployments.js';
export * from './enrollment.js';
// Feature tables in their own files; drizzle-kit reads this module, so each is re-exported here.
export * from './signing-keys.js';
