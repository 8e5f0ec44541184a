// Unit tests for the restart-policy rules, table-driven from Azure IoT Edge's RestartPolicyManagerTest
// (../shared/conformance/azure-iotedge/agent-semantics.md, C1–C3). No processes, no NATS.
import { describe, expect, it } from 'vitest';
import {
  computeModuleStatus,
  coolOffMs,
  createRestartSettings,
  DEFAULT_RESTART_SETTINGS,
  type ModuleStatus,
  type ObservedModuleStatus,
  RESTART_POLICIES,
  type RestartCandidate,
  type RestartPolicy,
  RestartPolicyError,
  shouldRestartNow,
} from '../src/runtime/restart-policy.js';

const RESTARTING_POLICIES: readonly RestartPolicy[] = ['on-failure', 'on-unhealthy', 'always'];

describe('computeModuleStatus (C1, max restarts 5)', () => {
  const settings = { maxRestarts: 5 };
  const rows: {
    row: string;
    observed: ObservedModuleStatus;
    policies: readonly RestartPolicy[];
    count: number;
    out: ModuleStatus;
  }[] = [
    {
      row: 'running / any policy / 0 → running',
      observed: 'running',
      policies: RESTART_POLICIES,
      count: 0,
      out: 'running',
    },
    {
      row: 'unhealthy / never / 0 → unhealthy',
      observed: 'unhealthy',
      policies: ['never'],
      count: 0,
      out: 'unhealthy',
    },
    {
      row: 'unhealthy / restarting policies / 0 → backoff',
      observed: 'unhealthy',
      policies: RESTARTING_POLICIES,
      count: 0,
      out: 'backoff',
    },
    {
      row: 'unhealthy / restarting policies / 6 (max+1) → failed',
      observed: 'unhealthy',
      policies: RESTARTING_POLICIES,
      count: 6,
      out: 'failed',
    },
    {
      row: 'stopped / never, on-failure, on-unhealthy / 0 → stopped',
      observed: 'stopped',
      policies: ['never', 'on-failure', 'on-unhealthy'],
      count: 0,
      out: 'stopped',
    },
    { row: 'stopped / always / 0 → backoff', observed: 'stopped', policies: ['always'], count: 0, out: 'backoff' },
    { row: 'stopped / always / 6 → failed', observed: 'stopped', policies: ['always'], count: 6, out: 'failed' },
    { row: 'failed / never / 0 → failed', observed: 'failed', policies: ['never'], count: 0, out: 'failed' },
    {
      row: 'failed / restarting policies / 0 → backoff',
      observed: 'failed',
      policies: RESTARTING_POLICIES,
      count: 0,
      out: 'backoff',
    },
    {
      row: 'failed / restarting policies / 6 → failed',
      observed: 'failed',
      policies: RESTARTING_POLICIES,
      count: 6,
      out: 'failed',
    },
  ];

  it.each(rows)('$row', ({ observed, policies, count, out }) => {
    for (const policy of policies) expect(computeModuleStatus(observed, policy, count, settings)).toBe(out);
  });

  it('unknown / any / any → throws a typed error naming the status', () => {
    for (const policy of RESTART_POLICIES)
      for (const count of [0, 3, 6]) {
        const call = () => computeModuleStatus('unknown', policy, count, settings);
        expect(call).toThrow(RestartPolicyError);
        expect(call).toThrow(/module status 'unknown'/);
      }
  });

  it("dead / any / any → refused: Outpost has no Docker 'dead' state, so it is an unknown status, never a default", () => {
    // Azure reports Docker's `dead` (a container it could not remove) as is; the Outpost supervisor never observes
    // it, so a 'dead' reaching this function from untyped input must fail rather than be guessed at.
    const observed = 'dead' as ObservedModuleStatus;
    expect(() => computeModuleStatus(observed, 'always', 0, settings)).toThrow(
      expect.objectContaining({ code: 'MODULE_STATUS_UNKNOWN', message: expect.stringMatching(/'dead'/) }),
    );
  });

  it('is failed once restarted maxRestarts times, in backoff one restart before', () => {
    expect(computeModuleStatus('failed', 'always', 4, settings)).toBe('backoff');
    expect(computeModuleStatus('failed', 'always', 5, settings)).toBe('failed');
  });

  it('refuses a negative or fractional restart count, naming it', () => {
    expect(() => computeModuleStatus('failed', 'always', -1, settings)).toThrow(
      /restartCount: must be an integer ≥ 0, got -1/,
    );
    expect(() => computeModuleStatus('failed', 'always', 1.5, settings)).toThrow(/restartCount: .* got 1.5/);
  });
});

describe('createRestartSettings (C1 constructor validation)', () => {
  const rows: { row: string; maxRestarts: number; unitSecs: number; error?: RegExp }[] = [
    { row: '(-1, 10) throws', maxRestarts: -1, unitSecs: 10, error: /maxRestarts: must be an integer ≥ 1, got -1/ },
    { row: '(0, 10) throws', maxRestarts: 0, unitSecs: 10, error: /maxRestarts: must be an integer ≥ 1, got 0/ },
    { row: '(5, -5) throws', maxRestarts: 5, unitSecs: -5, error: /unitMs: must be a finite number ≥ 0, got -5000/ },
    { row: '(5, 0) is valid', maxRestarts: 5, unitSecs: 0 },
    { row: '(5, 10) is valid', maxRestarts: 5, unitSecs: 10 },
  ];

  it.each(rows)('$row', ({ maxRestarts, unitSecs, error }) => {
    const create = () => createRestartSettings({ maxRestarts, unitMs: unitSecs * 1000 });
    if (error) {
      expect(create).toThrow(RestartPolicyError);
      expect(create).toThrow(error);
    } else {
      expect(create()).toMatchObject({ maxRestarts, unitMs: unitSecs * 1000 });
    }
  });

  it('fills in the defaults: 10 s unit, 300 s cap, 20 restarts, reset after 10 min', () => {
    expect(createRestartSettings()).toEqual({
      unitMs: 10_000,
      capMs: 300_000,
      maxRestarts: 20,
      healthyResetMs: 600_000,
    });
    expect(createRestartSettings()).toEqual(DEFAULT_RESTART_SETTINGS);
  });

  it('names every bad field at once, including cap and reset time', () => {
    expect(() => createRestartSettings({ maxRestarts: 2.5, capMs: -1, healthyResetMs: Number.NaN })).toThrow(
      /maxRestarts: .* got 2.5; capMs: .* got -1; healthyResetMs: .* got NaN/,
    );
  });
});

describe('coolOffMs (C2, unit 10 s, cap 300 s)', () => {
  const rows: [number, number][] = [
    [0, 10],
    [1, 20],
    [2, 40],
    [3, 80],
    [4, 160],
    [5, 300],
    [10, 300],
    [20, 300],
  ];

  it.each(rows)('restartCount %i → %i s', (restartCount, seconds) => {
    expect(coolOffMs(restartCount, DEFAULT_RESTART_SETTINGS)).toBe(seconds * 1000);
  });

  it('stays at the cap for restart counts where 2ⁿ overflows', () => {
    expect(coolOffMs(5000, DEFAULT_RESTART_SETTINGS)).toBe(300_000);
  });

  it('is 0 at every count with a zero unit (never NaN)', () => {
    expect(coolOffMs(0, { unitMs: 0, capMs: 300_000 })).toBe(0);
    expect(coolOffMs(5000, { unitMs: 0, capMs: 300_000 })).toBe(0);
  });
});

describe('shouldRestartNow (C3, max 5, unit 10 s)', () => {
  const settings = createRestartSettings({ maxRestarts: 5, unitMs: 10_000 });
  const NOW = Date.UTC(2030, 0, 1, 12);
  const HOUR = 3_600_000;
  // Azure's DateTime.MinValue ("never exited") is an absent lastExitMs.
  const NEVER_EXITED = undefined;
  type Row = { row: string; status: ModuleStatus | 'unknown'; cases: [number, number | undefined][]; restart: boolean };
  const rows: Row[] = [
    { row: 'running / 0 / MinValue → no', status: 'running', cases: [[0, NEVER_EXITED]], restart: false },
    { row: 'running / 3 / now-1h → no', status: 'running', cases: [[3, NOW - HOUR]], restart: false },
    {
      row: 'failed / 0, 3 / MinValue, now-1h → no',
      status: 'failed',
      cases: [
        [0, NEVER_EXITED],
        [3, NOW - HOUR],
      ],
      restart: false,
    },
    {
      row: 'unhealthy / 0, 3, 3 / MinValue, now-1h, now-40s → no',
      status: 'unhealthy',
      cases: [
        [0, NEVER_EXITED],
        [3, NOW - HOUR],
        [3, NOW - 40_000],
      ],
      restart: false,
    },
    { row: 'backoff / 0 / MinValue → yes', status: 'backoff', cases: [[0, NEVER_EXITED]], restart: true },
    { row: 'backoff / 3 / now-1h → yes', status: 'backoff', cases: [[3, NOW - HOUR]], restart: true },
    {
      row: 'backoff / 3 / now-40s → no (cool-off for 3 = 80 s)',
      status: 'backoff',
      cases: [[3, NOW - 40_000]],
      restart: false,
    },
    {
      row: 'stopped / 0, 3, 3 / MinValue, now-1h, now-40s → no',
      status: 'stopped',
      cases: [
        [0, NEVER_EXITED],
        [3, NOW - HOUR],
        [3, NOW - 40_000],
      ],
      restart: false,
    },
    { row: 'backoff / 5 / now+1h (clock skew) → yes', status: 'backoff', cases: [[5, NOW + HOUR]], restart: true },
  ];

  // Azure repeats the rows for on-unhealthy and on-failure with the same expectations.
  describe.each(RESTARTING_POLICIES)('%s', (restartPolicy) => {
    it.each(rows)('$row', ({ status, cases, restart }) => {
      for (const [restartCount, lastExitMs] of cases) {
        const module: RestartCandidate = { restartPolicy, status, restartCount, lastExitMs };
        expect(shouldRestartNow(module, NOW, settings)).toBe(restart);
      }
    });

    it('unknown / 0 / MinValue → throws a typed error', () => {
      const module: RestartCandidate = { restartPolicy, status: 'unknown', restartCount: 0 };
      expect(() => shouldRestartNow(module, NOW, settings)).toThrow(
        expect.objectContaining({ code: 'MODULE_STATUS_UNKNOWN' }),
      );
    });
  });

  it('never: no restart in any status, even a stale backoff', () => {
    const statuses: ModuleStatus[] = ['running', 'stopped', 'backoff', 'unhealthy', 'failed'];
    for (const status of statuses)
      expect(shouldRestartNow({ restartPolicy: 'never', status, restartCount: 0 }, NOW, settings)).toBe(false);
  });

  it('restarts only once the cool-off has fully passed (a last exit exactly now also restarts, as in Azure)', () => {
    const backoff = (lastExitMs: number): RestartCandidate => ({
      restartPolicy: 'always',
      status: 'backoff',
      restartCount: 3,
      lastExitMs,
    });
    expect(shouldRestartNow(backoff(NOW - 80_000), NOW, settings)).toBe(false);
    expect(shouldRestartNow(backoff(NOW - 80_001), NOW, settings)).toBe(true);
    expect(shouldRestartNow(backoff(NOW), NOW, settings)).toBe(true);
  });
});
