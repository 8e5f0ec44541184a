import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'drizzle-orm';
import { DATABASE, type Database, executeRows } from '../database/database.js';

/** Serializes account updates across replicas: each rewrites the whole revocation list, so two at once lose one. */
const ACCOUNT_UPDATE_LOCK_KEY = 0x4f50_4e41_5453n; // "OPNATS"

@Injectable()
export class NatsIdentityRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /** Runs `work` while holding the account-update lock (a transaction-scoped advisory lock). */
  async withAccountUpdateLock<T>(work: () => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      await executeRows(tx, sql`select pg_advisory_xact_lock(${ACCOUNT_UPDATE_LOCK_KEY.toString()}::bigint)`);
      return work();
    });
  }
}
