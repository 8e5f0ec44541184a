import { Inject, Injectable } from '@nestjs/common';
import { and, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import { DATABASE, type Database } from '../database/database.js';
import { type SessionRow, sessions, type UserRow, users } from '../database/schema.js';

export interface NewSession {
  id: string;
  userId: string;
  tokenHash: string;
  expiresAt: Date;
  clientAddress: string | null;
}

const seconds = (value: number) => sql`make_interval(secs => ${value}::double precision)`;

@Injectable()
export class SessionsRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  async insert(session: NewSession): Promise<SessionRow> {
    const [row] = await this.db.insert(sessions).values(session).returning();
    if (!row) throw new Error('session insert returned no row');
    return row;
  }

  /**
   * The session with this token hash and its user, if the session is still valid: before its expiry, used within the
   * idle timeout, and its user not disabled. Times come from the database clock.
   */
  async findValid(tokenHash: string, idleSeconds: number): Promise<{ session: SessionRow; user: UserRow } | null> {
    const [row] = await this.db
      .select({ session: sessions, user: users })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(
        and(
          eq(sessions.tokenHash, tokenHash),
          gt(sessions.expiresAt, sql`now()`),
          gt(sessions.lastSeenAt, sql`now() - ${seconds(idleSeconds)}`),
          isNull(users.disabledAt),
        ),
      )
      .limit(1);
    return row ?? null;
  }

  /** Records use, at most once per `resolutionSeconds` (it only feeds the idle timeout). */
  async touch(id: string, resolutionSeconds: number): Promise<void> {
    await this.db
      .update(sessions)
      .set({ lastSeenAt: sql`now()` })
      .where(and(eq(sessions.id, id), lt(sessions.lastSeenAt, sql`now() - ${seconds(resolutionSeconds)}`)));
  }

  async delete(id: string): Promise<boolean> {
    const deleted = await this.db.delete(sessions).where(eq(sessions.id, id)).returning({ id: sessions.id });
    return deleted.length > 0;
  }

  /** Deletes sessions that expired or idled out; returns how many. */
  async deleteEnded(idleSeconds: number): Promise<number> {
    const deleted = await this.db
      .delete(sessions)
      .where(or(lt(sessions.expiresAt, sql`now()`), lt(sessions.lastSeenAt, sql`now() - ${seconds(idleSeconds)}`)))
      .returning({ id: sessions.id });
    return deleted.length;
  }
}
