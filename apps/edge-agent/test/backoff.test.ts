import { describe, expect, it } from 'vitest';
import { backoffDelayMs, FIRST_CONNECT_BACKOFF } from '../src/connection/index.js';

const policy = { initialMs: 500, maxMs: 10_000 };

describe('backoffDelayMs', () => {
  it('doubles the ceiling per attempt, with the delay between half and all of it', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, policy, () => 0))).toEqual([250, 500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, policy, () => 1))).toEqual([500, 1000, 2000, 4000, 8000]);
  });

  it('never exceeds the cap, even after weeks of attempts', () => {
    for (const attempt of [6, 50, 1_000_000]) {
      expect(backoffDelayMs(attempt, policy, () => 1)).toBe(10_000);
      expect(backoffDelayMs(attempt, policy, () => 0)).toBe(5_000);
    }
  });

  it('caps first-connect retries at about 10 s', () => {
    expect(backoffDelayMs(100, FIRST_CONNECT_BACKOFF, () => 1)).toBeLessThanOrEqual(10_000);
  });

  it('refuses attempt numbers below 1', () => {
    expect(() => backoffDelayMs(0, policy)).toThrow(/attempt must be an integer ≥ 1, got 0/);
  });
});
