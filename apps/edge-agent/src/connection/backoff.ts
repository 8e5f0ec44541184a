export interface BackoffPolicy {
  /** Upper bound of the first delay. */
  readonly initialMs: number;
  /** No delay exceeds this. */
  readonly maxMs: number;
}

/**
 * Exponential backoff with "equal jitter": retry n waits between half and all of min(maxMs, initialMs·2^(n-1)).
 * The random half spreads a fleet that lost its server at the same moment; the fixed half keeps each device from
 * hammering the server with near-zero delays.
 */
export function backoffDelayMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer ≥ 1, got ${attempt}`);
  // Cap the exponent so 2^n stays finite on a device that has been offline for weeks.
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt - 1, 30));
  const half = ceiling / 2;
  return Math.round(half + random() * half);
}
