import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgEnum, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const deviceStatus = pgEnum('device_status', ['online', 'offline']);
export const apiTokenRole = pgEnum('api_token_role', ['admin', 'operator', 'viewer']);

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
});

export type DeviceRow = typeof devices.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;
export type ApiTokenRole = (typeof apiTokenRole.enumValues)[number];

export const schema = { devices, apiTokens, deviceStatus, apiTokenRole };

// Feature tables in their own files; drizzle-kit reads this module, so each is re-exported here.
export * from './signing-keys.js';
