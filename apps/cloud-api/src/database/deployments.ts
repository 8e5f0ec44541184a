import { bigint, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/*
 * Deployments to one device and what devices report (issue 6). Rows reference devices by id without a foreign key,
 * as enrolment does (devices are never deleted; schema.ts imports this file).
 */

/**
 * Every deployment issued to a device, one row per version; the device's desired deployment is its highest version.
 * Versions are given out under a lock on the device's row, so two concurrent PUTs never share one.
 */
export const deviceDeployments = pgTable(
  'device_deployments',
  {
    deviceId: text('device_id').notNull(),
    version: integer('version').notNull(),
    /** The deployment id, inside the signed bytes. */
    id: text('id').notNull().unique(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    /**
     * The signed envelope `{ deployment, signature }` exactly as signDeployment made it: the effective manifest with
     * its secrets, which only the device gets. Everything shown to people is redacted from it.
     */
    signed: jsonb('signed').$type<Record<string, unknown>>().notNull(),
    signatureKeyId: text('signature_key_id').notNull(),
  },
  (table) => [primaryKey({ columns: [table.deviceId, table.version] })],
);

/** The latest state each device reported; an older report (same boot, lower seq) never replaces a newer one. */
export const deviceReportedStates = pgTable('device_reported_states', {
  deviceId: text('device_id').primaryKey(),
  bootId: text('boot_id').notNull(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  reportedAt: timestamp('reported_at', { withTimezone: true, mode: 'date' }).notNull(),
  receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull(),
  /** ReportedStateV1's `desired` (version, code, description, source, deploymentId, errors). */
  desired: jsonb('desired').$type<Record<string, unknown>>().notNull(),
  /** ReportedStateV1's `modules`, by module name. */
  modules: jsonb('modules').$type<Record<string, unknown>>().notNull(),
});

export type DeviceDeploymentRow = typeof deviceDeployments.$inferSelect;
export type DeviceReportedStateRow = typeof deviceReportedStates.$inferSelect;
