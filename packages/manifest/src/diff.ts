/**
 * What applying a new manifest means for each module, with Azure IoT Edge's rule (agent-semantics C5): a module
 * whose only change is its status is started or stopped in place; any other change to its definition recreates it.
 */
import { canonicalJson } from './canonical-json.js';
import type { Manifest, Module } from './schema.js';

export type ModuleAction = 'unchanged' | 'start' | 'stop' | 'recreate' | 'add' | 'remove';

export interface ModuleChange {
  readonly name: string;
  readonly action: ModuleAction;
  /**
   * The module's desired properties differ. They are twin content, not part of how the module runs, so a change
   * to them alone leaves the action `unchanged`: the twin is patched and the module keeps running.
   */
  readonly desiredPropertiesChanged: boolean;
}

export interface ManifestDiff {
  /** Every module in either manifest, sorted by name. */
  readonly modules: readonly ModuleChange[];
  readonly routesChanged: boolean;
  readonly storeAndForwardChanged: boolean;
  readonly agentChanged: boolean;
  /** Nothing at all differs (keys written in a different order do not count). */
  readonly unchanged: boolean;
}

/**
 * Compares two validated manifests (defaults filled in, so `restartPolicy` left out and `"always"` compare equal).
 * `previous` is undefined for a device's first deployment, in which case every module is added.
 */
export function diffManifests(previous: Manifest | undefined, next: Manifest): ManifestDiff {
  const before = previous?.modules ?? {};
  const after = next.modules;
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const modules = names.map((name) => moduleChange(name, before[name], after[name]));
  const routesChanged = !sameJson(previous?.routes ?? {}, next.routes);
  const storeAndForwardChanged = previous !== undefined && !sameJson(previous.storeAndForward, next.storeAndForward);
  const agentChanged = previous !== undefined && !sameJson(previous.agent, next.agent);
  const unchanged =
    previous !== undefined &&
    !routesChanged &&
    !storeAndForwardChanged &&
    !agentChanged &&
    modules.every((change) => change.action === 'unchanged' && !change.desiredPropertiesChanged);
  return { modules, routesChanged, storeAndForwardChanged, agentChanged, unchanged };
}

function moduleChange(name: string, before: Module | undefined, after: Module | undefined): ModuleChange {
  const desiredPropertiesChanged = !sameJson(before?.desiredProperties, after?.desiredProperties);
  if (before === undefined) return { name, action: 'add', desiredPropertiesChanged };
  if (after === undefined) return { name, action: 'remove', desiredPropertiesChanged };
  if (!sameJson(definition(before), definition(after))) return { name, action: 'recreate', desiredPropertiesChanged };
  if (before.status !== after.status) {
    return { name, action: after.status === 'running' ? 'start' : 'stop', desiredPropertiesChanged };
  }
  return { name, action: 'unchanged', desiredPropertiesChanged };
}

/** How the module runs, without the two things that change without a recreate: its status and its twin. */
function definition(module: Module): Omit<Module, 'status' | 'desiredProperties'> {
  const { status: _status, desiredProperties: _desired, ...rest } = module;
  return rest;
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b;
  return canonicalJson(a) === canonicalJson(b);
}
