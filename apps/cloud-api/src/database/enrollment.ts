import { index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/*
 * Enrolment (docs/adr/0009-enrolment.md). Token secrets are never stored: only their sha256 (hex). Rows reference
 * devices by id without a foreign key (devices are never deleted; schema.ts imports this file).
 */

/** One-time tokens: one per device creation, refused once used or expired. */
export const enrollmentTokens = pgTable(
  'enrollment_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    deviceId: text('device_id').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (table) => [index('enrollment_tokens_device_idx').on(table.deviceId)],
);

/** Reusable, expiring group tokens (manufacturing lines, the simulator): each use creates a new device. */
export const enrollmentGroups = pgTable('enrollment_groups', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  tokenHash: text('token_hash').notNull().unique(),
  /** Tag template: `{deviceId}` in a value is replaced with the enrolling device's id. */
  tags: jsonb('tags').$type<Record<string, string>>().notNull(),
  idPrefix: text('id_prefix'),
  expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/**
 * A device's NATS identity: the public key it enrolled with (unique: a key is never enrolled twice) and whether the
 * device is revoked. A revoked device's key is in the account's revocation list; it is never issued a JWT again.
 */
export const deviceCredentials = pgTable('device_credentials', {
  deviceId: text('device_id').primaryKey(),
  publicKey: text('public_key').unique(),
  enrolledAt: timestamp('enrolled_at', { withTimezone: true, mode: 'date' }),
  /** Expiry of the newest JWT issued (enrolment or renewal). */
  credentialExpiresAt: timestamp('credential_expires_at', { withTimezone: true, mode: 'date' }),
  /** The group whose token created the device, if any. */
  groupId: text('group_id'),
  revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
});

export type EnrollmentTokenRow = typeof enrollmentTokens.$inferSelect;
export type EnrollmentGroupRow = typeof enrollmentGroups.$inferSelect;
export type DeviceCredentialRow = typeof deviceCredentials.$inferSelect;
