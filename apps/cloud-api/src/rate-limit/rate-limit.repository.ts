import { Inject, Injectable } from '@nestjs/common';
import { sql } from 'drizzle-orm';
import { DATABASE, type Database, executeRows } from '../database/database.js';

export interface WindowCount {
  /** Hits in the current window (after this one, for a hit). */
  count: number;
  /** Seconds until the window ends (0 when there is no open window). */
  secondsLeft: number;
}

function toWindowCount(row: Record<string, unknown> | undefined): WindowCount {
  if (!row) return { count: 0, secondsLeft: 0 };
  return { count: Number(row.count), secondsLeft: Math.max(0, Number(row.seconds_left)) };
}

/**
 * Fixed-window counters in PostgreSQL, so every replica counts into the same window. All times come from the
 * database clock (one clock for all replicas). A window opens at a key's first hit and lasts `windowSecs`.
 */
@Injectable()
export class RateLimitRepository {
  constructor(@Inject(DATABASE) private readonly db: Database) {}

  /** Counts one hit in the key's window (opening a new one when the last has ended), atomically. */
  async hit(key: string, windowSecs: number): Promise<WindowCount> {
    const rows = await executeRows(
      this.db,
      sql`insert into rate_limits as r (key, window_start, window_end, count)
          values (${key}, now(), now() + make_interval(secs => ${windowSecs}::double precision), 1)
          on conflict (key) do update set
            window_start = case when r.window_end <= now() then now() else r.window_start end,
            window_end = case when r.window_end <= now()
              then now() + make_interval(secs => ${windowSecs}::double precision) else r.window_end end,
            count = case when r.window_end <= now() then 1 else least(r.count, 2147483646) + 1 end
          returning count, extract(epoch from (window_end - now())) as seconds_left`,
    );
    return toWindowCount(rows[0]);
  }

  /** The key's count in its open window, without counting a hit. */
  async read(key: string): Promise<WindowCount> {
    const rows = await executeRows(
      this.db,
      sql`select count, extract(epoch from (window_end - now())) as seconds_left
          from rate_limits where key = ${key} and window_end > now()`,
    );
    return toWindowCount(rows[0]);
  }

  async clear(key: string): Promise<void> {
    await executeRows(this.db, sql`delete from rate_limits where key = ${key} returning key`);
  }

  /** Deletes windows that ended; returns how many. */
  async deleteEnded(): Promise<number> {
    const rows = await executeRows(this.db, sql`delete from rate_limits where window_end < now() returning key`);
    return rows.length;
  }
}
