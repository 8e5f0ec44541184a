import { Inject, Injectable } from '@nestjs/common';
import type { Role } from '@outpost/protocol';
import { and, asc, eq, gt, isNull, ne, type SQL, sql } from 'drizzle-orm';
import { DATABASE, type Database, executeRows, type Transaction } from '../database/database.js';
import { sessions, type UserRow, users } from '../database/schema.js';

/** Serializes changes that must leave an enabled admin behind (bootstrap, demoting or disabling an admin). */
const ADMINS_LOCK_KEY = 0x4f50_4144_4d4eb; // "OPADMN"

export interface NewUser {
  id: string;
  username: string;
  passwordHash: string;
  role: Role;
}

export interface UserChanges {
  role?: Role;
  disabledAt?: Date | null;
  passwordHash?: string;
}

@Injectable()
export class UsersRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /** Inserts a user; null when the username is taken. */
  async insert(user: NewUser, tx: Database | Transaction = this.db): Promise<UserRow | null> {
    const [row] = await tx.insert(users).values(user).onConflictDoNothing({ target: users.username }).returning();
    return row ?? null;
  }

  async findByUsername(username: string, tx: Database | Transaction = this.db): Promise<UserRow | null> {
    const [row] = await tx.select().from(users).where(eq(users.username, username)).limit(1);
    return row ?? null;
  }

  async findById(id: string, tx: Database | Transaction = this.db): Promise<UserRow | null> {
    const [row] = await tx.select().from(users).where(eq(users.id, id)).limit(1);
    return row ?? null;
  }

  /** Users ordered by username after `afterUsername`; at most `limit`. */
  async list(filter: { afterUsername?: string; limit: number }): Promise<UserRow[]> {
    const conditions: SQL[] = [];
    if (filter.afterUsername !== undefined) conditions.push(gt(users.username, filter.afterUsername));
    return this.db
      .select()
      .from(users)
      .where(and(...conditions))
      .orderBy(asc(users.username))
      .limit(filter.limit);
  }

  async update(id: string, changes: UserChanges, tx: Database | Transaction = this.db): Promise<UserRow | null> {
    const [row] = await tx
      .update(users)
      .set({ ...changes, updatedAt: sql`now()` })
      .where(eq(users.id, id))
      .returning();
    return row ?? null;
  }

  /** Ends every session of a user (disabled, or a new password); returns how many ended. */
  async endSessions(userId: string, tx: Database | Transaction = this.db): Promise<number> {
    const ended = await tx.delete(sessions).where(eq(sessions.userId, userId)).returning({ id: sessions.id });
    return ended.length;
  }

  /** Whether an enabled admin other than `exceptId` exists. */
  async hasOtherEnabledAdmin(exceptId: string | null, tx: Database | Transaction = this.db): Promise<boolean> {
    const conditions: SQL[] = [eq(users.role, 'admin'), isNull(users.disabledAt)];
    if (exceptId !== null) conditions.push(ne(users.id, exceptId));
    const [row] = await tx
      .select({ id: users.id })
      .from(users)
      .where(and(...conditions))
      .limit(1);
    return row !== undefined;
  }

  /** Runs `work` in a transaction holding the admins lock, so two replicas cannot both remove the last admin. */
  async withAdminsLock<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await executeRows(tx, sql`select pg_advisory_xact_lock(${ADMINS_LOCK_KEY.toString()}::bigint)`);
      return work(tx);
    });
  }
}
