/**
 * Restart policies: what status a module that should be running is in, how long it cools off between restarts, and
 * whether a module in backoff is due for a restart. Pure functions over numbers and strings — the supervisor that
 * acts on them (processes, containers, clocks) lives elsewhere — so every rule is unit-tested against Azure IoT
 * Edge's own vectors (agent-semantics C1–C3).
 */
import { DEFAULTS } from '@outpost/manifest';

/** The manifest's restart policies, weakest first (Azure's order: a policy restarts in every case a weaker one does). */
export const RESTART_POLICIES = ['never', 'on-failure', 'on-unhealthy', 'always'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

/** What the supervisor observed about a module's process or container. */
export type ObservedModuleStatus = 'running' | 'stopped' | 'unhealthy' | 'failed';

/** The status the agent reports and acts on, after applying the restart policy. */
export type ModuleStatus = 'running' | 'stopped' | 'backoff' | 'unhealthy' | 'failed';

/**
 * Settings of the restart machinery, in milliseconds. The manifest's `agent` block carries the same values in
 * seconds (`restartBackoffUnitSecs`, `restartBackoffCapSecs`, `maxRestarts`, `healthyResetSecs`).
 */
export interface RestartSettings {
  /** Cool-off after the first restart; it doubles with every further restart. */
  readonly unitMs: number;
  /** The cool-off never exceeds this. */
  readonly capMs: number;
  /** A module restarted this many times is failed and left alone. */
  readonly maxRestarts: number;
  /** A module running this long has its restart count reset to 0. */
  readonly healthyResetMs: number;
}

/** The manifest's defaults (Azure's): 10 s doubling to 5 min, failed after 20 restarts, reset after 10 min. */
export const DEFAULT_RESTART_SETTINGS: RestartSettings = Object.freeze({
  unitMs: DEFAULTS.restartBackoffUnitSecs * 1000,
  capMs: DEFAULTS.restartBackoffCapSecs * 1000,
  maxRestarts: DEFAULTS.maxRestarts,
  healthyResetMs: DEFAULTS.healthyResetSecs * 1000,
});

export type RestartPolicyErrorCode = 'RESTART_SETTINGS_INVALID' | 'MODULE_STATUS_UNKNOWN' | 'RESTART_COUNT_INVALID';

/** A caller bug or a bad setting; `code` tells which, the message names the field or value. */
export class RestartPolicyError extends Error {
  readonly code: RestartPolicyErrorCode;

  constructor(code: RestartPolicyErrorCode, message: string) {
    super(message);
    this.name = 'RestartPolicyError';
    this.code = code;
  }
}

/**
 * Validated restart settings: the defaults with `overrides` applied. Mirrors Azure's `RestartPolicyManager`
 * constructor — a max restart count below 1 or a negative cool-off unit is refused — so a bad manifest value fails
 * here, loudly, instead of producing a module that restarts in a tight loop or never.
 */
export function createRestartSettings(overrides: Partial<RestartSettings> = {}): RestartSettings {
  const settings = { ...DEFAULT_RESTART_SETTINGS, ...overrides };
  const problems: string[] = [];
  if (!Number.isSafeInteger(settings.maxRestarts) || settings.maxRestarts < 1)
    problems.push(`maxRestarts: must be an integer ≥ 1, got ${settings.maxRestarts}`);
  for (const field of ['unitMs', 'capMs', 'healthyResetMs'] as const) {
    const value = settings[field];
    if (!Number.isFinite(value) || value < 0) problems.push(`${field}: must be a finite number ≥ 0, got ${value}`);
  }
  if (problems.length > 0) throw new RestartPolicyError('RESTART_SETTINGS_INVALID', problems.join('; '));
  return Object.freeze(settings);
}

function assertRestartCount(restartCount: number): void {
  if (!Number.isSafeInteger(restartCount) || restartCount < 0)
    throw new RestartPolicyError('RESTART_COUNT_INVALID', `restartCount: must be an integer ≥ 0, got ${restartCount}`);
}

/** Whether `policy` restarts a module that was observed `observed` (Azure's policy ordering). */
function policyRestarts(policy: RestartPolicy, observed: 'stopped' | 'unhealthy' | 'failed'): boolean {
  switch (observed) {
    case 'stopped':
      // A clean exit is only restarted by `always`: on-failure / on-unhealthy respect a module that chose to end.
      return policy === 'always';
    case 'unhealthy':
    case 'failed':
      return policy !== 'never';
  }
}

/**
 * The status of a module whose desired status is `running`, given what the supervisor observed (C1). A module the
 * policy would restart is in `backoff` until it has been restarted `maxRestarts` times, then `failed` for good.
 * `'unknown'` (or any other string from an untyped source) is refused: guessing a status could restart a module
 * that is fine, or abandon one that is not.
 */
export function computeModuleStatus(
  observed: ObservedModuleStatus | 'unknown',
  policy: RestartPolicy,
  restartCount: number,
  settings: Pick<RestartSettings, 'maxRestarts'>,
): ModuleStatus {
  assertRestartCount(restartCount);
  switch (observed) {
    case 'running':
      return 'running';
    case 'stopped':
    case 'unhealthy':
    case 'failed':
      if (!policyRestarts(policy, observed)) return observed;
      return restartCount < settings.maxRestarts ? 'backoff' : 'failed';
    default:
      throw new RestartPolicyError(
        'MODULE_STATUS_UNKNOWN',
        `cannot apply restart policy '${policy}' to module status '${String(observed)}' (expected running, stopped, unhealthy or failed)`,
      );
  }
}

/** How long a module restarted `restartCount` times waits before its next restart: min(unit·2ⁿ, cap) (C2). */
export function coolOffMs(restartCount: number, settings: Pick<RestartSettings, 'unitMs' | 'capMs'>): number {
  assertRestartCount(restartCount);
  // 2ⁿ overflows to Infinity past n = 1023, and 0·Infinity is NaN: a zero unit means no cool-off at any count.
  if (settings.unitMs === 0) return 0;
  return Math.min(settings.unitMs * 2 ** restartCount, settings.capMs);
}

/** What `shouldRestartNow` needs to know about one module. */
export interface RestartCandidate {
  readonly restartPolicy: RestartPolicy;
  readonly status: ModuleStatus | 'unknown';
  readonly restartCount: number;
  /** When it last exited (epoch ms); undefined if it never has, which Azure writes as DateTime.MinValue. */
  readonly lastExitMs?: number | undefined;
}

/**
 * Whether a module is due for a restart at `nowMs` (C3): only a module in `backoff` whose cool-off has fully passed.
 * A last exit in the future means the clock moved backwards (NTP, RTC reset); waiting for it could stall the module
 * for hours, so it is restarted at once.
 */
export function shouldRestartNow(
  module: RestartCandidate,
  nowMs: number,
  settings: Pick<RestartSettings, 'unitMs' | 'capMs'>,
): boolean {
  if (module.status === 'unknown')
    throw new RestartPolicyError(
      'MODULE_STATUS_UNKNOWN',
      `cannot decide a restart for module status 'unknown' (expected running, stopped, backoff, unhealthy or failed)`,
    );
  // `never` cannot produce backoff through computeModuleStatus; refusing here too keeps a stale status from
  // overriding the operator's choice.
  if (module.status !== 'backoff' || module.restartPolicy === 'never') return false;
  if (module.lastExitMs === undefined) return true;
  const sinceExitMs = nowMs - module.lastExitMs;
  return sinceExitMs <= 0 || sinceExitMs > coolOffMs(module.restartCount, settings);
}
