import { Inject, Injectable } from '@nestjs/common';
import { DATABASE, type Database, pingDatabase } from '../database/database.js';

@Injectable()
export class HealthRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /** `select 1`; throws when the database does not answer within `timeoutMs`. */
  ping(timeoutMs: number): Promise<void> {
    return pingDatabase(this.db, timeoutMs);
  }
}
