import { describe, expect, it } from 'vitest';
import { formatList } from '../src/commands/list.js';
import { parseSince } from '../src/commands/logs.js';
import { formatDuration } from '../src/control/cli-support.js';
import type { ListResult } from '../src/control/index.js';
import { StartupError } from '../src/errors.js';

describe('list output', () => {
  it('is a table MODULE TYPE STATUS VERSION RESTARTS UPTIME under the deployment line', () => {
    const base = {
      statusDescription: undefined,
      exitCode: null,
      lastStartedAt: null,
      lastExitedAt: null,
      lastRestartedAt: null,
    };
    const result: ListResult = {
      deployment: { source: 'cloud', id: 'd', version: 7, code: 200, description: 'applied' },
      modules: [
        {
          ...base,
          name: 'sensor',
          type: 'process',
          status: 'running',
          version: '1.2.0',
          restartCount: 3,
          uptimeSecs: 3_725,
        },
        {
          ...base,
          name: 'uploader-long-name',
          type: 'container',
          status: 'backoff',
          version: null,
          restartCount: 12,
          uptimeSecs: null,
        },
      ],
    };
    expect(formatList(result)).toBe(
      [
        'deployment: cloud v7 (200 applied)',
        'MODULE              TYPE       STATUS   VERSION  RESTARTS  UPTIME',
        'sensor              process    running  1.2.0    3         1h2m',
        'uploader-long-name  container  backoff  -        12        -',
      ].join('\n'),
    );
    expect(
      formatList({
        deployment: { source: null, id: null, version: null, code: 417, description: 'no deployment' },
        modules: [],
      }),
    ).toBe('deployment: none (417 no deployment)\nno modules');
  });

  it('shows uptimes in their two largest units', () => {
    expect([0, 59, 61, 3_600, 90_061].map(formatDuration)).toEqual(['0s', '59s', '1m1s', '1h', '1d1h']);
  });
});

describe('logs --since', () => {
  const now = Date.parse('2026-06-15T12:00:00Z');
  it('takes an ISO time or a duration ago', () => {
    expect(parseSince('2026-06-15T13:00:00+02:00', now)).toBe('2026-06-15T11:00:00.000Z');
    expect(parseSince('10m', now)).toBe('2026-06-15T11:50:00.000Z');
    expect(parseSince('2d', now)).toBe('2026-06-13T12:00:00.000Z');
  });

  it('refuses anything else as a usage error naming both forms', () => {
    expect(() => parseSince('yesterday', now)).toThrow(StartupError);
    expect(() => parseSince('10 minutes', now)).toThrow(/ISO 8601 time .* or a duration \(30s, 10m, 2h, 1d\)/);
  });
});
