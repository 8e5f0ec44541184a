import { Inject, Injectable } from '@nestjs/common';
import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { DATABASE, type Database, executeRows, type Transaction } from '../database/database.js';
import { type DeploymentSigningKeyRow, deploymentSigningKeys } from '../database/signing-keys.js';
import type { StoredPrivateKey } from './key-encryption.js';

/** Serializes "is there a key yet? then make one" and rotations across replicas. */
const SIGNING_KEYS_LOCK_KEY = 0x4f50_5349_474en; // "OPSIGN"

/** A key without its private part: what everything outside signing works with. */
export type PublicSigningKeyRow = Omit<DeploymentSigningKeyRow, 'privateKey' | 'privateKeyEncryption'>;

const publicColumns = {
  keyId: deploymentSigningKeys.keyId,
  publicKey: deploymentSigningKeys.publicKey,
  status: deploymentSigningKeys.status,
  createdAt: deploymentSigningKeys.createdAt,
  retiredAt: deploymentSigningKeys.retiredAt,
};

@Injectable()
export class SigningKeysRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /** Runs `work` in a transaction holding the signing-keys lock; what it does commits or rolls back together. */
  async withLock<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await executeRows(tx, sql`select pg_advisory_xact_lock(${SIGNING_KEYS_LOCK_KEY.toString()}::bigint)`);
      return work(tx);
    });
  }

  /** The active key, private part included (only the signing service asks for it). */
  async findActive(tx: Database | Transaction = this.db): Promise<DeploymentSigningKeyRow | null> {
    const [row] = await tx
      .select()
      .from(deploymentSigningKeys)
      .where(eq(deploymentSigningKeys.status, 'active'))
      .limit(1);
    return row ?? null;
  }

  /** Every key, public parts only: the active one first, then newest first. */
  async listPublic(): Promise<PublicSigningKeyRow[]> {
    return this.db
      .select(publicColumns)
      .from(deploymentSigningKeys)
      .orderBy(
        asc(deploymentSigningKeys.status),
        desc(deploymentSigningKeys.createdAt),
        asc(deploymentSigningKeys.keyId),
      );
  }

  async findPublic(keyId: string): Promise<PublicSigningKeyRow | null> {
    const [row] = await this.db
      .select(publicColumns)
      .from(deploymentSigningKeys)
      .where(eq(deploymentSigningKeys.keyId, keyId))
      .limit(1);
    return row ?? null;
  }

  /** Keys stored unencrypted, to seal once an encryption key is configured. */
  async findUnencrypted(tx: Transaction): Promise<DeploymentSigningKeyRow[]> {
    return tx.select().from(deploymentSigningKeys).where(eq(deploymentSigningKeys.privateKeyEncryption, 'none'));
  }

  async insertActive(
    key: { keyId: string; publicKey: string } & StoredPrivateKey,
    tx: Transaction,
  ): Promise<PublicSigningKeyRow> {
    const [row] = await withoutParameters(`storing signing key ${key.keyId}`, () =>
      tx
        .insert(deploymentSigningKeys)
        .values({ ...key, status: 'active' })
        .returning(publicColumns),
    );
    if (!row) throw new Error('inserting a signing key returned no row');
    return row;
  }

  async replacePrivateKey(keyId: string, stored: StoredPrivateKey, tx: Transaction): Promise<void> {
    await withoutParameters(`storing signing key ${keyId}`, () =>
      tx.update(deploymentSigningKeys).set(stored).where(eq(deploymentSigningKeys.keyId, keyId)),
    );
  }

  /** Retires the active key, if any, and returns it. */
  async retireActive(tx: Transaction): Promise<PublicSigningKeyRow | null> {
    const [row] = await tx
      .update(deploymentSigningKeys)
      .set({ status: 'retired', retiredAt: sql`now()` })
      .where(eq(deploymentSigningKeys.status, 'active'))
      .returning(publicColumns);
    return row ?? null;
  }

  /** Deletes a retired key; returns it, or null when no retired key has this id. */
  async deleteRetired(keyId: string): Promise<PublicSigningKeyRow | null> {
    const [row] = await this.db
      .delete(deploymentSigningKeys)
      .where(and(eq(deploymentSigningKeys.keyId, keyId), eq(deploymentSigningKeys.status, 'retired')))
      .returning(publicColumns);
    return row ?? null;
  }
}

/**
 * Runs a statement that carries a private key. drizzle's errors quote every parameter and PostgreSQL's `detail` can
 * quote the whole row, so a failure is rethrown with the server's message alone: nothing that may hold the key
 * reaches a log line.
 */
async function withoutParameters<T>(what: string, statement: () => Promise<T>): Promise<T> {
  try {
    return await statement();
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    const message = cause instanceof Error ? cause.message : 'unknown error';
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String(cause.code) : undefined;
    throw new SigningKeyWriteError(`${what} failed: ${message}`, code);
  }
}

/** A failed write of a signing key; carries PostgreSQL's SQLSTATE, never the statement's parameters. */
export class SigningKeyWriteError extends Error {
  constructor(
    message: string,
    readonly sqlState: string | undefined,
  ) {
    super(message);
    this.name = 'SigningKeyWriteError';
  }
}
