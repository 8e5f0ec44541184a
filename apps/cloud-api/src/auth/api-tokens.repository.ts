import { Inject, Injectable } from '@nestjs/common';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import { DATABASE, type Database, executeRows, type Transaction } from '../database/database.js';
import { type ApiTokenRole, type ApiTokenRow, apiTokens } from '../database/schema.js';

/** Serializes "is there an admin yet? then create one" across replicas starting together. */
const BOOTSTRAP_LOCK_KEY = 0x4f50_4254_4f4bn; // "OPBTOK"

/** last_used_at is a hint for people auditing tokens; writing it once a minute per token is plenty. */
const LAST_USED_RESOLUTION = sql`interval '1 minute'`;

@Injectable()
export class ApiTokensRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async findActiveByHash(tokenHash: string): Promise<ApiTokenRow | null> {
    const [row] = await this.db
      .select()
      .from(apiTokens)
      .where(and(eq(apiTokens.tokenHash, tokenHash), isNull(apiTokens.revokedAt)))
      .limit(1);
    return row ?? null;
  }

  async touchLastUsed(id: string): Promise<void> {
    await this.db
      .update(apiTokens)
      .set({ lastUsedAt: sql`now()` })
      .where(
        and(
          eq(apiTokens.id, id),
          or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, sql`now() - ${LAST_USED_RESOLUTION}`)),
        ),
      );
  }

  async insert(
    token: { id: string; name: string; role: ApiTokenRole; tokenHash: string },
    tx: Database | Transaction = this.db,
  ): Promise<void> {
    await tx.insert(apiTokens).values(token);
  }

  /**
   * Runs `work` in a transaction that holds the bootstrap lock, telling it whether an active admin token exists.
   * What `work` does inside (insert, write the file) commits or rolls back together.
   */
  async withBootstrapLock<T>(work: (tx: Transaction, hasAdmin: boolean) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await executeRows(tx, sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK_KEY.toString()}::bigint)`);
      const [admin] = await tx
        .select({ id: apiTokens.id })
        .from(apiTokens)
        .where(and(eq(apiTokens.role, 'admin'), isNull(apiTokens.revokedAt)))
        .limit(1);
      return work(tx, admin !== undefined);
    });
  }
}
