/**
 * Startup order (agent-semantics C5): the planner works through modules in groups of equal `startupOrder`, lowest
 * first, so a module can rely on the ones ordered before it having been started.
 */

/** Azure's `startupOrder` is a uint32; a module without one is ordered at its maximum, i.e. after all others. */
export const LAST_STARTUP_ORDER = 4_294_967_295;

/**
 * The order the planner gives running modules that are not in the deployment (Azure's `HighestPriority`): they are
 * removed in the first group, before anything new starts and competes with them for ports or devices.
 */
export const UNKNOWN_MODULE_STARTUP_ORDER = 0;

/** A startupOrder outside Azure's uint32 range; the message names the module. */
export class StartupOrderError extends Error {
  readonly code = 'STARTUP_ORDER_INVALID';

  constructor(message: string) {
    super(message);
    this.name = 'StartupOrderError';
  }
}

export interface OrderedModule {
  readonly name: string;
  readonly startupOrder?: number | undefined;
}

/**
 * Groups modules by ascending `startupOrder` (missing = LAST_STARTUP_ORDER, so it shares a group with modules that
 * give that value explicitly). Within a group the input order is kept; Azure defines no order there, and keeping
 * ours stable makes plans reproducible.
 */
export function groupByStartupOrder<T extends OrderedModule>(modules: readonly T[]): T[][] {
  const groups = new Map<number, T[]>();
  for (const module of modules) {
    const order = module.startupOrder ?? LAST_STARTUP_ORDER;
    if (!Number.isInteger(order) || order < 0 || order > LAST_STARTUP_ORDER)
      throw new StartupOrderError(
        `module ${module.name}: startupOrder must be an integer from 0 to ${LAST_STARTUP_ORDER}, got ${order}`,
      );
    const group = groups.get(order);
    if (group) group.push(module);
    else groups.set(order, [module]);
  }
  return [...groups.entries()].sort(([a], [b]) => a - b).map(([, group]) => group);
}
