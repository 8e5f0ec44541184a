import type { LogLine } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { chunkLines, newestFitting } from '../src/methods/index.js';

/** What keeps agent-method replies and logs chunks inside one NATS message (the wire tests are in methods.test.ts). */
const line = (text: string): LogLine => ({ at: null, stream: 'stdout', text });

describe('getModuleLogs reply size', () => {
  it('keeps the newest lines that fit, oldest first, and drops the oldest', () => {
    const lines = Array.from({ length: 100 }, (_, i) => line(`${i}`.padStart(1_000, 'x')));
    const kept = newestFitting(lines, 50_000);
    expect(kept.length).toBeGreaterThan(10);
    expect(kept.length).toBeLessThan(100);
    expect(kept.at(-1)).toBe(lines[99]);
    expect(kept[0]).toBe(lines[100 - kept.length]);
    expect(JSON.stringify(kept).length).toBeLessThan(50_000);
    expect(newestFitting(lines.slice(0, 3), 1_000_000)).toEqual(lines.slice(0, 3));
  });
});

describe('logs chunks', () => {
  it('split at 1,000 lines and at the byte budget, never leaving a chunk empty', () => {
    const many = Array.from({ length: 2_345 }, (_, i) => line(`l${i}`));
    expect(chunkLines(many, 10_000_000).map((chunk) => chunk.length)).toEqual([1_000, 1_000, 345]);

    const big = Array.from({ length: 10 }, () => line('y'.repeat(40_000)));
    const chunks = chunkLines(big, 100_000);
    expect(chunks.every((chunk) => chunk.length >= 1 && JSON.stringify(chunk).length < 100_000)).toBe(true);
    expect(chunks.flat()).toHaveLength(10);
    // A single line larger than the budget still goes out, alone.
    expect(chunkLines([line('z'.repeat(200_000))], 100_000)).toHaveLength(1);
  });
});
