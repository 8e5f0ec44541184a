import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { type ErrorDetail, OutpostError, rateLimitedError } from '@outpost/protocol';
import { LOGGER, type Logger } from '../logging/logger.js';
import { RateLimitRepository } from './rate-limit.repository.js';

export interface RateLimitResult {
  /** True while the key is within its limit (for consume: this hit included). */
  readonly allowed: boolean;
  readonly count: number;
  readonly limit: number;
  /** Hits left in the window. */
  readonly remaining: number;
  /** Whole seconds until the window ends and the count starts over (at least 1 when refused). */
  readonly retryAfterSeconds: number;
}

/** Ended windows are removed this often (they are ignored anyway; this only keeps the table small). */
const CLEANUP_INTERVAL_MS = 5 * 60_000;

function checkArguments(key: string, limit: number, windowSecs: number): void {
  if (key.length === 0 || key.length > 512) throw new RangeError('rate limit key must be 1-512 characters');
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('rate limit must be a positive integer');
  if (!Number.isFinite(windowSecs) || windowSecs <= 0) throw new RangeError('rate limit window must be > 0 s');
}

/**
 * Rate limits shared by every API replica: fixed-window counters in PostgreSQL (docs/adr/0007). Used by login (per
 * username and per client address) and by enrolment.
 *
 * ```ts
 * const result = await rateLimits.consume(`enroll:address:${address}`, 10, 60);
 * if (!result.allowed) throw rateLimits.refusal(result, 'Too many enrolment attempts from this address');
 * ```
 */
@Injectable()
export class RateLimitService implements OnModuleInit, OnModuleDestroy {
  private cleanup: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(
    private readonly repository: RateLimitRepository,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'rate-limit' });
  }

  onModuleInit(): void {
    this.cleanup = setInterval(() => void this.deleteEnded(), CLEANUP_INTERVAL_MS);
    this.cleanup.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.cleanup);
  }

  /** Counts one attempt under `key`: allowed while at most `limit` attempts fell in the current `windowSecs` window. */
  async consume(key: string, limit: number, windowSecs: number): Promise<RateLimitResult> {
    checkArguments(key, limit, windowSecs);
    const { count, secondsLeft } = await this.repository.hit(key, windowSecs);
    return result(count <= limit, count, limit, secondsLeft);
  }

  /** Whether another attempt would be allowed, without counting one (lockouts count only failures, then check). */
  async peek(key: string, limit: number, windowSecs: number): Promise<RateLimitResult> {
    checkArguments(key, limit, windowSecs);
    const { count, secondsLeft } = await this.repository.read(key);
    return result(count < limit, count, limit, secondsLeft);
  }

  /** Forgets the key's window (a successful login clears its failures). */
  async reset(key: string): Promise<void> {
    await this.repository.clear(key);
  }

  /** The RATE_LIMITED error for a refused result: the message says when to retry, as does `retryAfterSeconds`. */
  refusal(refused: RateLimitResult, message: string, details: ErrorDetail[] = []): OutpostError {
    return rateLimitedError(
      `${message}; try again in ${refused.retryAfterSeconds} s`,
      refused.retryAfterSeconds,
      details,
    );
  }

  private async deleteEnded(): Promise<void> {
    try {
      const deleted = await this.repository.deleteEnded();
      if (deleted > 0) this.log.debug({ deleted }, 'ended rate limit windows removed');
    } catch (err) {
      this.log.warn(
        { code: 'RATE_LIMIT_CLEANUP_FAILED', err: err instanceof Error ? err.message : String(err) },
        'could not remove ended rate limit windows',
      );
    }
  }
}

function result(allowed: boolean, count: number, limit: number, secondsLeft: number): RateLimitResult {
  return {
    allowed,
    count,
    limit,
    remaining: Math.max(0, limit - count),
    retryAfterSeconds: allowed ? Math.ceil(secondsLeft) : Math.max(1, Math.ceil(secondsLeft)),
  };
}
