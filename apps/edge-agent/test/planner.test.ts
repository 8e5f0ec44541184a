// Unit tables for the reconcile planner (agent-semantics C5): what a desired manifest and the instances the drivers
// list turn into, in which order.
import { Manifest, type ModuleInput } from '@outpost/manifest';
import { describe, expect, it } from 'vitest';
import type { ModuleInstance } from '../src/runtime/contracts.js';
import { planDeployment, type SupervisedModule } from '../src/runtime/planner.js';
import { moduleSpecHash } from '../src/runtime/spec-hash.js';

function manifest(modules: Record<string, ModuleInput>): Manifest {
  return Manifest.parse({ schemaVersion: '1.0', modules });
}

function proc(command: string, extra: Partial<ModuleInput> = {}): ModuleInput {
  return { type: 'process', process: { command }, ...extra } as ModuleInput;
}

function container(image: string, extra: Partial<ModuleInput> = {}): ModuleInput {
  return { type: 'container', container: { image }, ...extra } as ModuleInput;
}

/** An instance as a driver lists it, running the definition `module` had in `from`. */
function instance(from: Manifest, name: string, state: ModuleInstance['state'] = 'running'): ModuleInstance {
  const module = from.modules[name];
  if (!module) throw new Error(`no module ${name}`);
  return {
    name,
    type: module.type,
    specHash: moduleSpecHash(module),
    state,
    exitCode: state === 'running' ? null : 1,
    startedAt: null,
    exitedAt: null,
    runtimeId: `${name}-id`,
  };
}

const steps = (plan: ReturnType<typeof planDeployment>) => plan.steps.map((step) => `${step.action} ${step.name}`);

describe('moduleSpecHash', () => {
  it('ignores status and desiredProperties, changes with anything else', () => {
    const base = manifest({ a: proc('/bin/a') }).modules.a!;
    const stopped = manifest({ a: proc('/bin/a', { status: 'stopped' }) }).modules.a!;
    const twin = manifest({ a: proc('/bin/a', { desiredProperties: { x: 1 } }) }).modules.a!;
    const version = manifest({ a: proc('/bin/a', { version: '2' }) }).modules.a!;
    const env = manifest({ a: proc('/bin/a', { env: { K: { value: 'v' } } }) }).modules.a!;
    expect(moduleSpecHash(stopped)).toBe(moduleSpecHash(base));
    expect(moduleSpecHash(twin)).toBe(moduleSpecHash(base));
    expect(moduleSpecHash(version)).not.toBe(moduleSpecHash(base));
    expect(moduleSpecHash(env)).not.toBe(moduleSpecHash(base));
    expect(moduleSpecHash(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('does not depend on key order (canonical JSON)', () => {
    const a = manifest({ a: proc('/bin/a', { version: '1', restartPolicy: 'never' }) }).modules.a!;
    const b = manifest({ a: { restartPolicy: 'never', process: { command: '/bin/a' }, version: '1', type: 'process' } })
      .modules.a!;
    expect(moduleSpecHash(a)).toBe(moduleSpecHash(b));
  });
});

describe('planDeployment', () => {
  const cases: {
    name: string;
    desired: Manifest;
    instances: ModuleInstance[];
    supervised?: Map<string, SupervisedModule>;
    expected: string[];
    noop: boolean;
  }[] = (() => {
    const v1 = manifest({
      hub: proc('/bin/hub', { startupOrder: 0 }),
      sensor: proc('/bin/sensor', { startupOrder: 1 }),
      filter: proc('/bin/filter'),
    });
    const v1Stopped = manifest({
      hub: proc('/bin/hub', { startupOrder: 0 }),
      sensor: proc('/bin/sensor', { startupOrder: 1, status: 'stopped' }),
      filter: proc('/bin/filter'),
    });
    const v2 = manifest({
      hub: proc('/bin/hub', { startupOrder: 0 }),
      sensor: proc('/bin/sensor', { startupOrder: 1, version: '2' }),
      logger: proc('/bin/logger', { startupOrder: 1 }),
    });
    const retyped = manifest({
      hub: container('hub:1', { startupOrder: 0 }),
      sensor: proc('/bin/sensor', { startupOrder: 1 }),
      filter: proc('/bin/filter'),
    });
    const all = (from: Manifest, state: ModuleInstance['state'] = 'running') =>
      Object.keys(from.modules).map((name) => instance(from, name, state));
    const supervisedAll = (from: Manifest) =>
      new Map(
        Object.entries(from.modules).map(([name, module]) => [
          name,
          { specHash: moduleSpecHash(module), desiredStatus: module.status },
        ]),
      );
    return [
      {
        name: 'empty device: creates in ascending startupOrder, unordered modules last',
        desired: v1,
        instances: [],
        expected: ['create hub', 'create sensor', 'create filter'],
        noop: false,
      },
      {
        name: 'the same deployment again: every running instance adopted, nothing started twice',
        desired: v1,
        instances: all(v1),
        expected: ['adopt hub', 'adopt sensor', 'adopt filter'],
        noop: true,
      },
      {
        name: 'removes first (no longer desired and unknown instances), then groups; a changed module is recreated',
        desired: v2,
        instances: [...all(v1), { ...instance(v1, 'filter'), name: 'stray', runtimeId: 'stray-id' }],
        expected: ['remove filter', 'remove stray', 'adopt hub', 'recreate sensor', 'create logger'],
        noop: false,
      },
      {
        name: 'status-only change running → stopped: stop, not recreate',
        desired: v1Stopped,
        instances: all(v1),
        expected: ['adopt hub', 'stop sensor', 'adopt filter'],
        noop: false,
      },
      {
        name: 'status-only change stopped → running: start, not recreate',
        desired: v1,
        instances: [instance(v1, 'hub'), instance(v1, 'sensor', 'exited'), instance(v1, 'filter')],
        supervised: supervisedAll(v1Stopped),
        expected: ['adopt hub', 'start sensor', 'adopt filter'],
        noop: false,
      },
      {
        name: 'a type change removes from the old driver first, then creates in the new one in its group',
        desired: retyped,
        instances: all(v1),
        expected: ['remove hub', 'create hub', 'adopt sensor', 'adopt filter'],
        noop: false,
      },
      {
        name: 'after an agent restart, exited instances of desired-running modules are started (not recreated)',
        desired: v1,
        instances: all(v1, 'exited'),
        expected: ['start hub', 'start sensor', 'start filter'],
        noop: false,
      },
      {
        name: 'exited instances the supervisor already handles (backoff, failed) are left to it',
        desired: v1,
        instances: all(v1, 'exited'),
        supervised: supervisedAll(v1),
        expected: ['adopt hub', 'adopt sensor', 'adopt filter'],
        noop: true,
      },
      {
        name: 'an instance killed between create and start (state created) is started',
        desired: manifest({ a: proc('/bin/a') }),
        instances: [instance(manifest({ a: proc('/bin/a') }), 'a', 'created')],
        expected: ['start a'],
        noop: false,
      },
      {
        name: 'a desired-stopped module that is not running is left alone',
        desired: v1Stopped,
        instances: [instance(v1, 'hub'), instance(v1, 'sensor', 'exited'), instance(v1, 'filter')],
        expected: ['adopt hub', 'adopt sensor', 'adopt filter'],
        noop: true,
      },
      {
        name: 'a desiredProperties-only change keeps the instance',
        desired: manifest({
          hub: proc('/bin/hub', { startupOrder: 0, desiredProperties: { rate: 5 } }),
          sensor: proc('/bin/sensor', { startupOrder: 1 }),
          filter: proc('/bin/filter'),
        }),
        instances: all(v1),
        expected: ['adopt hub', 'adopt sensor', 'adopt filter'],
        noop: true,
      },
      {
        name: 'an empty deployment removes everything',
        desired: manifest({}),
        instances: all(v1),
        expected: ['remove filter', 'remove hub', 'remove sensor'],
        noop: false,
      },
    ];
  })();

  for (const c of cases) {
    it(c.name, () => {
      const plan = planDeployment({
        desired: c.desired,
        instances: c.instances,
        ...(c.supervised ? { supervised: c.supervised } : {}),
      });
      expect(steps(plan)).toEqual(c.expected);
      expect(plan.noop).toBe(c.noop);
    });
  }

  it('create and recreate steps carry the definition and its specHash for the driver', () => {
    const desired = manifest({ a: proc('/bin/a', { version: '3' }) });
    const plan = planDeployment({ desired, instances: [] });
    const [step] = plan.steps;
    expect(step).toMatchObject({ action: 'create', name: 'a', module: desired.modules.a });
    expect(step && 'specHash' in step ? step.specHash : null).toBe(moduleSpecHash(desired.modules.a!));
  });
});
