import { Inject, Injectable } from '@nestjs/common';
import type { ApiTokenStatus, Role } from '@outpost/protocol';
import { and, desc, eq, gt, isNotNull, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import { DATABASE, type Database, executeRows, type Transaction } from '../database/database.js';
import { type ApiTokenRow, apiTokens } from '../database/schema.js';

/** Serializes "is there an admin yet? then create one" across replicas starting together. */
const BOOTSTRAP_LOCK_KEY = 0x4f50_4254_4f4bn; // "OPBTOK"

/** last_used_at is a hint for people auditing tokens; writing it once a minute per token is plenty. */
const LAST_USED_RESOLUTION = sql`interval '1 minute'`;

export interface NewApiToken {
  id: string;
  name: string;
  role: Role;
  tokenHash: string;
  /** Defaults to a year from now (the column's default). */
  expiresAt?: Date;
}

/** Where a page of tokens continues: after this creation time and id (newest first). */
export interface TokenPosition {
  createdAt: Date;
  id: string;
}

const active = () => and(isNull(apiTokens.revokedAt), gt(apiTokens.expiresAt, sql`now()`));

function statusCondition(status: ApiTokenStatus): SQL | undefined {
  if (status === 'active') return active();
  if (status === 'revoked') return isNotNull(apiTokens.revokedAt);
  return and(isNull(apiTokens.revokedAt), lte(apiTokens.expiresAt, sql`now()`));
}

@Injectable()
export class ApiTokensRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /** The token with this hash if it is neither revoked nor expired (database clock). */
  async findActiveByHash(tokenHash: string): Promise<ApiTokenRow | null> {
    const [row] = await this.db
      .select()
      .from(apiTokens)
      .where(and(eq(apiTokens.tokenHash, tokenHash), active()))
      .limit(1);
    return row ?? null;
  }

  async findById(id: string): Promise<ApiTokenRow | null> {
    const [row] = await this.db.select().from(apiTokens).where(eq(apiTokens.id, id)).limit(1);
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

  async insert(token: NewApiToken, tx: Database | Transaction = this.db): Promise<ApiTokenRow> {
    const [row] = await tx.insert(apiTokens).values(token).returning();
    if (!row) throw new Error('token insert returned no row');
    return row;
  }

  /** Newest first, after `after`, optionally by status; at most `limit`. */
  async list(filter: { after?: TokenPosition; status?: ApiTokenStatus; limit: number }): Promise<ApiTokenRow[]> {
    const conditions: (SQL | undefined)[] = [];
    if (filter.after) {
      const { createdAt, id } = filter.after;
      conditions.push(
        or(lt(apiTokens.createdAt, createdAt), and(eq(apiTokens.createdAt, createdAt), lt(apiTokens.id, id))),
      );
    }
    if (filter.status) conditions.push(statusCondition(filter.status));
    return this.db
      .select()
      .from(apiTokens)
      .where(and(...conditions))
      .orderBy(desc(apiTokens.createdAt), desc(apiTokens.id))
      .limit(filter.limit);
  }

  /** Revokes a token (keeping the first revocation time); null when there is no such token. */
  async revoke(id: string): Promise<ApiTokenRow | null> {
    const [row] = await this.db
      .update(apiTokens)
      .set({ revokedAt: sql`coalesce(${apiTokens.revokedAt}, now())` })
      .where(eq(apiTokens.id, id))
      .returning();
    return row ?? null;
  }

  /**
   * Runs `work` in a transaction that holds the bootstrap lock, telling it whether an active (not revoked, not
   * expired) admin token exists. What `work` does inside (insert, write the file) commits or rolls back together.
   */
  async withBootstrapLock<T>(work: (tx: Transaction, hasAdmin: boolean) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await executeRows(tx, sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK_KEY.toString()}::bigint)`);
      const [admin] = await tx
        .select({ id: apiTokens.id })
        .from(apiTokens)
        .where(and(eq(apiTokens.role, 'admin'), active()))
        .limit(1);
      return work(tx, admin !== undefined);
    });
  }
}
