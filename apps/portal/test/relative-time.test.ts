import { describe, expect, it } from 'vitest';
import { formatAbsoluteTime, formatRelativeTime } from '@/lib/relative-time';

const now = new Date('2025-03-01T12:00:00.000Z');
const ago = (seconds: number) => new Date(now.getTime() - seconds * 1000);

describe('formatRelativeTime', () => {
  it.each([
    [0, 'just now'],
    [4, 'just now'],
    [5, '5 s ago'],
    [59, '59 s ago'],
    [60, '1 min ago'],
    [3599, '59 min ago'],
    [3600, '1 h ago'],
    [86_399, '23 h ago'],
    [86_400, '1 day ago'],
    [3 * 86_400 + 5, '3 days ago'],
  ])('%i s before now reads "%s"', (seconds, text) => {
    expect(formatRelativeTime(ago(seconds), now)).toBe(text);
  });

  it('reads a time slightly ahead of the browser clock as "just now"', () => {
    expect(formatRelativeTime(ago(-3), now)).toBe('just now');
  });
});

describe('formatAbsoluteTime', () => {
  it('shows UTC to the second, the same on every machine', () => {
    expect(formatAbsoluteTime(new Date('2025-03-01T14:05:09.734Z'))).toBe('2025-03-01 14:05:09 UTC');
  });
});
