import { sql } from 'drizzle-orm';
import { check, pgEnum, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

export const signingKeyStatus = pgEnum('signing_key_status', ['active', 'retired']);
/** How private_key is stored: `none` (PKCS #8 PEM, development only) or sealed with AES-256-GCM. */
export const signingKeyEncryption = pgEnum('signing_key_encryption', ['none', 'aes-256-gcm']);

/**
 * The keys the cloud signs deployments with (docs/adr/0008-signed-deployments.md). Exactly one is active; retired
 * keys stay here, and trusted by devices, until an admin removes them.
 */
export const deploymentSigningKeys = pgTable(
  'deployment_signing_keys',
  {
    /** First 16 bytes of the sha256 of the raw public key, base64url. */
    keyId: text('key_id').primaryKey(),
    /** Raw 32-byte ed25519 public key, base64url. */
    publicKey: text('public_key').notNull(),
    /** PKCS #8 PEM, or `v1.<iv>.<ciphertext+tag>` when encrypted. Never leaves the signing repository. */
    privateKey: text('private_key').notNull(),
    privateKeyEncryption: signingKeyEncryption('private_key_encryption').notNull(),
    status: signingKeyStatus('status').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    retiredAt: timestamp('retired_at', { withTimezone: true, mode: 'date' }),
  },
  (table) => [
    // At most one active key, whatever replicas race to do.
    uniqueIndex('deployment_signing_keys_one_active').on(table.status).where(sql`${table.status} = 'active'`),
    check('deployment_signing_keys_retired_at', sql`(${table.status} = 'retired') = (${table.retiredAt} is not null)`),
  ],
);

export type DeploymentSigningKeyRow = typeof deploymentSigningKeys.$inferSelect;
export type SigningKeyEncryption = (typeof signingKeyEncryption.enumValues)[number];
