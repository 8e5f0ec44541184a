import { describe, expect, it } from 'vitest';
import { diffManifests, type Manifest, type ModuleAction, validateManifest } from '../src/index.js';
import { edited, expectValid, REMOVE, sampleInput, validSample } from './helpers.js';

/** The sample with changes applied, each `{ path: value }` (REMOVE deletes), validated. */
function changed(changes: Record<string, unknown>): Manifest {
  return expectValid(validateManifest(edited(sampleInput(), changes)));
}

function actions(previous: Manifest | undefined, next: Manifest): Record<string, ModuleAction> {
  return Object.fromEntries(diffManifests(previous, next).modules.map((change) => [change.name, change.action]));
}

describe('diffManifests', () => {
  it('finds nothing to do between equal manifests, whatever their key order', () => {
    const reordered = JSON.parse(JSON.stringify(validSample(), Object.keys(validSample()).reverse()));
    const diff = diffManifests(validSample(), expectValid(validateManifest({ ...reordered, ...validSample() })));
    expect(diff.unchanged).toBe(true);
    expect(actions(validSample(), validSample())).toEqual({ filter: 'unchanged', sensor: 'unchanged' });
  });

  it('adds every module on a first deployment', () => {
    const diff = diffManifests(undefined, validSample());
    expect(diff.modules.map((change) => [change.name, change.action])).toEqual([
      ['filter', 'add'],
      ['sensor', 'add'],
    ]);
    expect(diff.routesChanged).toBe(true);
    expect(diff.unchanged).toBe(false);
  });

  it('adds and removes modules', () => {
    const next = changed({
      'modules.filter': REMOVE,
      'modules.alerts': { type: 'container', container: { image: 'alerts:1' } },
      'routes.sensorToFilter': REMOVE,
      'routes.filterToCloud': REMOVE,
    });
    expect(actions(validSample(), next)).toEqual({ alerts: 'add', filter: 'remove', sensor: 'unchanged' });
  });

  it('starts or stops a module whose only change is its status (Azure)', () => {
    const stopped = changed({ 'modules.sensor.status': 'stopped' });
    expect(actions(validSample(), stopped)).toEqual({ filter: 'unchanged', sensor: 'stop' });
    expect(actions(stopped, validSample())).toEqual({ filter: 'unchanged', sensor: 'start' });
  });

  it.each([
    ['image', { 'modules.sensor.container.image': 'registry.example.com/sensor:1.1' }],
    ['version', { 'modules.sensor.version': '1.1' }],
    ['env value', { 'modules.sensor.env.INTERVAL_SECS.value': '10' }],
    ['restart policy', { 'modules.sensor.restartPolicy': 'never' }],
    ['startup order', { 'modules.sensor.startupOrder': 9 }],
    ['create options', { 'modules.sensor.container.createOptions': {} }],
    ['health probe', { 'modules.sensor.health.intervalSecs': 30 }],
    ['limits', { 'modules.sensor.limits': { pids: 10 } }],
  ])('recreates a module when its %s changes', (_what, change) => {
    expect(actions(validSample(), changed(change))).toEqual({ filter: 'unchanged', sensor: 'recreate' });
  });

  it('recreates rather than starts when the status changes along with anything else', () => {
    const next = changed({ 'modules.sensor.status': 'stopped', 'modules.sensor.version': '2.0' });
    expect(actions(validSample(), next).sensor).toBe('recreate');
  });

  it('treats a default written out as no change', () => {
    const next = changed({
      'modules.sensor.restartPolicy': 'always',
      'modules.sensor.container.pullPolicy': 'on-create',
    });
    expect(diffManifests(validSample(), next).unchanged).toBe(true);
  });

  it('reports a desired-property change without recreating the module', () => {
    const next = changed({ 'modules.sensor.desiredProperties': { sendIntervalSecs: 1 } });
    const diff = diffManifests(validSample(), next);
    expect(diff.modules.find((change) => change.name === 'sensor')).toEqual({
      name: 'sensor',
      action: 'unchanged',
      desiredPropertiesChanged: true,
    });
    expect(diff.unchanged).toBe(false);
  });

  it('reports route, store-and-forward and agent changes', () => {
    const next = changed({
      'routes.filterToCloud.priority': 4,
      'storeAndForward.timeToLiveSecs': 60,
      'agent.maxRestarts': 6,
    });
    const diff = diffManifests(validSample(), next);
    expect([diff.routesChanged, diff.storeAndForwardChanged, diff.agentChanged]).toEqual([true, true, true]);
    expect(diff.modules.every((change) => change.action === 'unchanged')).toBe(true);
  });
});
