import { Inject, Injectable } from '@nestjs/common';
import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { DATABASE, type Database } from '../database/database.js';
import {
  type DeviceCredentialRow,
  deviceCredentials,
  devices,
  type EnrollmentGroupRow,
  type EnrollmentTokenRow,
  enrollmentGroups,
  enrollmentTokens,
} from '../database/schema.js';

export type EnrollOutcome = 'enrolled' | 'token-used' | 'revoked' | 'key-taken' | 'device-exists';

/** Thrown inside a transaction to roll it back with an outcome. */
class Refused extends Error {
  constructor(readonly outcome: EnrollOutcome) {
    super(outcome);
  }
}

/** Postgres unique_violation. */
function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === '23505') return true;
  }
  return false;
}

@Injectable()
export class EnrollmentRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async insertDeviceToken(token: { tokenHash: string; deviceId: string; expiresAt: Date }): Promise<void> {
    await this.db.insert(enrollmentTokens).values(token);
  }

  async findToken(tokenHash: string): Promise<EnrollmentTokenRow | null> {
    const [row] = await this.db.select().from(enrollmentTokens).where(eq(enrollmentTokens.tokenHash, tokenHash));
    return row ?? null;
  }

  async insertGroup(group: Omit<EnrollmentGroupRow, 'createdAt'>): Promise<EnrollmentGroupRow> {
    const [row] = await this.db.insert(enrollmentGroups).values(group).returning();
    if (!row) throw new Error('enrollment group insert returned no row');
    return row;
  }

  async findGroup(tokenHash: string): Promise<EnrollmentGroupRow | null> {
    const [row] = await this.db.select().from(enrollmentGroups).where(eq(enrollmentGroups.tokenHash, tokenHash));
    return row ?? null;
  }

  async findCredential(deviceId: string): Promise<DeviceCredentialRow | null> {
    const [row] = await this.db.select().from(deviceCredentials).where(eq(deviceCredentials.deviceId, deviceId));
    return row ?? null;
  }

  /**
   * Spends a one-time token and records the device's key, atomically: a token raced by two agents enrols one of them.
   * Refused when the token was used meanwhile, the device is revoked, or the key is enrolled already.
   */
  async enrollWithToken(
    tokenHash: string,
    deviceId: string,
    publicKey: string,
    expiresAt: Date,
  ): Promise<EnrollOutcome> {
    try {
      return await this.db.transaction(async (tx) => {
        const spent = await tx
          .update(enrollmentTokens)
          .set({ usedAt: sql`now()` })
          .where(
            and(
              eq(enrollmentTokens.tokenHash, tokenHash),
              eq(enrollmentTokens.deviceId, deviceId),
              isNull(enrollmentTokens.usedAt),
              gt(enrollmentTokens.expiresAt, sql`now()`),
            ),
          )
          .returning({ deviceId: enrollmentTokens.deviceId });
        if (spent.length === 0) return 'token-used';
        const rows = await tx
          .insert(deviceCredentials)
          .values({ deviceId, publicKey, enrolledAt: new Date(), credentialExpiresAt: expiresAt })
          .onConflictDoUpdate({
            target: deviceCredentials.deviceId,
            set: { publicKey, enrolledAt: new Date(), credentialExpiresAt: expiresAt },
            setWhere: isNull(deviceCredentials.revokedAt),
          })
          .returning({ deviceId: deviceCredentials.deviceId });
        if (rows.length === 0) throw new Refused('revoked');
        return 'enrolled';
      });
    } catch (err) {
      if (err instanceof Refused) return err.outcome;
      if (isUniqueViolation(err)) return 'key-taken';
      throw err;
    }
  }

  /** A group token's first use by a device id: creates the device with its tags and records its key. */
  async enrollWithGroup(
    group: EnrollmentGroupRow,
    device: { id: string; tags: Record<string, string> },
    publicKey: string,
    expiresAt: Date,
  ): Promise<EnrollOutcome> {
    try {
      return await this.db.transaction(async (tx) => {
        const created = await tx
          .insert(devices)
          .values({ id: device.id, tags: device.tags, status: 'offline' })
          .onConflictDoNothing({ target: devices.id })
          .returning({ id: devices.id });
        if (created.length === 0) return 'device-exists';
        await tx.insert(deviceCredentials).values({
          deviceId: device.id,
          publicKey,
          enrolledAt: new Date(),
          credentialExpiresAt: expiresAt,
          groupId: group.id,
        });
        return 'enrolled';
      });
    } catch (err) {
      if (isUniqueViolation(err)) return 'key-taken';
      throw err;
    }
  }

  /** Records a renewed JWT's expiry; false when the key is not the device's enrolled key or the device is revoked. */
  async renew(deviceId: string, publicKey: string, expiresAt: Date): Promise<boolean> {
    const rows = await this.db
      .update(deviceCredentials)
      .set({ credentialExpiresAt: expiresAt })
      .where(
        and(
          eq(deviceCredentials.deviceId, deviceId),
          eq(deviceCredentials.publicKey, publicKey),
          isNull(deviceCredentials.revokedAt),
        ),
      )
      .returning({ deviceId: deviceCredentials.deviceId });
    return rows.length > 0;
  }

  /**
   * Marks the device revoked (once: a second call keeps the first time) and drops its unused tokens. Returns the key
   * to revoke in NATS (null when it never enrolled) and when it was revoked.
   */
  async revoke(deviceId: string): Promise<{ publicKey: string | null; revokedAt: Date }> {
    return this.db.transaction(async (tx) => {
      await tx.delete(enrollmentTokens).where(eq(enrollmentTokens.deviceId, deviceId));
      const [row] = await tx
        .insert(deviceCredentials)
        .values({ deviceId, revokedAt: new Date() })
        .onConflictDoUpdate({
          target: deviceCredentials.deviceId,
          set: { revokedAt: sql`coalesce(${deviceCredentials.revokedAt}, now())` },
        })
        .returning({ publicKey: deviceCredentials.publicKey, revokedAt: deviceCredentials.revokedAt });
      if (!row?.revokedAt) throw new Error('device revocation returned no row');
      return { publicKey: row.publicKey, revokedAt: row.revokedAt };
    });
  }
}
