/**
 * The reconcile planner: desired manifest + what the drivers run → an ordered list of steps (agent-semantics C5).
 * Pure, so every rule is a table test; the executor in runtime.ts carries the steps out.
 */
import type { Manifest, Module } from '@outpost/manifest';
import type { ModuleInstance, ModuleType } from './contracts.js';
import { moduleSpecHash } from './spec-hash.js';
import { groupByStartupOrder } from './startup-order.js';

export type RemoveReason = 'not-desired' | 'type-changed';

export type PlanStep =
  /** Stop and delete the instance (a module no longer desired, an unknown Outpost instance, or a type change). */
  | { readonly action: 'remove'; readonly name: string; readonly type: ModuleType; readonly reason: RemoveReason }
  /** No instance of this type exists: prepare, create and start (or create only, when desired stopped). */
  | { readonly action: 'create'; readonly name: string; readonly module: Module; readonly specHash: string }
  /** The definition changed: remove the old instance, then create from the new definition. */
  | { readonly action: 'recreate'; readonly name: string; readonly module: Module; readonly specHash: string }
  /** Same definition, desired running, not running and not already under supervision: start it. */
  | { readonly action: 'start'; readonly name: string; readonly module: Module; readonly specHash: string }
  /** Same definition, desired stopped, running: stop it. */
  | { readonly action: 'stop'; readonly name: string; readonly module: Module; readonly specHash: string }
  /** Same definition in the state desired (or left to the supervisor): nothing runs, the instance is adopted. */
  | { readonly action: 'adopt'; readonly name: string; readonly module: Module; readonly specHash: string };

export type PlanAction = PlanStep['action'];

/** What the supervisor already handles: the definition hash and desired status it last applied to a module. */
export interface SupervisedModule {
  readonly specHash: string;
  readonly desiredStatus: Module['status'];
}

export interface PlanInput {
  readonly desired: Manifest;
  /** Every instance every available driver lists. */
  readonly instances: readonly ModuleInstance[];
  /**
   * Modules this agent run already supervises. An exited instance of a supervised module with an unchanged definition
   * and desired status is the supervisor's business (backoff, failed, a clean exit under on-failure): re-applying
   * the same deployment must not start it behind the restart policy's back.
   */
  readonly supervised?: ReadonlyMap<string, SupervisedModule>;
}

export interface Plan {
  readonly steps: readonly PlanStep[];
  /** True when no step touches a driver (re-applying the same deployment). */
  readonly noop: boolean;
}

/**
 * Removals first (modules no longer desired, unknown Outpost instances, instances of a module whose type changed:
 * Azure's HighestPriority group), then the desired modules in ascending startupOrder groups.
 */
export function planDeployment(input: PlanInput): Plan {
  const desired = input.desired.modules;
  const removals: PlanStep[] = [];
  const current = new Map<string, ModuleInstance>();
  for (const instance of [...input.instances].sort((a, b) => a.name.localeCompare(b.name))) {
    const module = desired[instance.name];
    if (module === undefined) {
      removals.push({ action: 'remove', name: instance.name, type: instance.type, reason: 'not-desired' });
    } else if (module.type !== instance.type) {
      removals.push({ action: 'remove', name: instance.name, type: instance.type, reason: 'type-changed' });
    } else {
      current.set(instance.name, instance);
    }
  }

  const ordered = Object.entries(desired).map(([name, module]) => ({
    name,
    module,
    startupOrder: module.startupOrder,
  }));
  const steps: PlanStep[] = [...removals];
  for (const group of groupByStartupOrder(ordered)) {
    for (const { name, module } of group) {
      steps.push(moduleStep(name, module, current.get(name), input.supervised?.get(name)));
    }
  }
  return { steps, noop: steps.every((step) => step.action === 'adopt') };
}

function moduleStep(
  name: string,
  module: Module,
  instance: ModuleInstance | undefined,
  supervised: SupervisedModule | undefined,
): PlanStep {
  const specHash = moduleSpecHash(module);
  if (instance === undefined) return { action: 'create', name, module, specHash };
  if (instance.specHash !== specHash) return { action: 'recreate', name, module, specHash };
  const running = instance.state === 'running';
  if (module.status === 'running') {
    if (running) return { action: 'adopt', name, module, specHash };
    const alreadyHandled =
      supervised !== undefined && supervised.specHash === specHash && supervised.desiredStatus === 'running';
    return { action: alreadyHandled ? 'adopt' : 'start', name, module, specHash };
  }
  return { action: running ? 'stop' : 'adopt', name, module, specHash };
}
