// Shared fixtures for the runtime tests: real ProcessDrivers over temp dirs, deployments of `node -e` modules, and
// counting processes by a marker in their argv (/proc), so "exactly one instance" is checked on the OS, not on
// the agent's word.
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { Manifest, type ManifestInput, type ModuleInput } from '@outpost/manifest';
import { waitFor } from '@outpost/testing';
import { pino } from 'pino';
import { ProcessDriver } from '../src/drivers/process/index.js';
import type { AcceptedDeployment, ModuleDriver, ModuleView } from '../src/runtime/contracts.js';
import { Runtime, type RuntimeOptions } from '../src/runtime/index.js';
import { makeTempDir } from './helpers.js';

/** Counts and cleans up module processes by a marker in their argv. */
export { pidsWithMarker } from '@outpost/testing';

export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Runtimes and module dirs of a test, torn down by `cleanupRuntimes` (modules survive their runtime on purpose). */
const runtimes: Runtime[] = [];
const dirs = new Set<string>();

export async function cleanupRuntimes(): Promise<void> {
  for (const runtime of runtimes.splice(0)) await runtime.stop();
  for (const dir of dirs) {
    const driver = newProcessDriver(dir);
    for (const instance of await driver.list()) await driver.remove(instance.name, 2_000).catch(() => undefined);
    await driver.close();
  }
  dirs.clear();
}

/** A modules dir the `nobody` module user can traverse (mkdtemp makes 0700 dirs). */
export function modulesDir(): string {
  const root = makeTempDir();
  chmodSync(root, 0o711);
  const dir = join(root, 'modules');
  dirs.add(dir);
  return dir;
}

export function newProcessDriver(dir: string): ProcessDriver {
  return new ProcessDriver({
    modulesDir: dir,
    deviceId: 'dev-runtime-test',
    moduleUser: 'nobody',
    logger,
    exitPollIntervalMs: 100,
  });
}

/** A Runtime over a real ProcessDriver in `dir`; `saved` collects what it made last-known-good. */
export async function newRuntime(
  dir: string,
  options: Partial<RuntimeOptions> & { driver?: ModuleDriver; lastKnownGood?: AcceptedDeployment | null } = {},
): Promise<{ runtime: Runtime; driver: ModuleDriver; saved: AcceptedDeployment[] }> {
  const given = options.drivers?.process;
  const driver = options.driver ?? (given && typeof given !== 'function' ? given : newProcessDriver(dir));
  const saved: AcceptedDeployment[] = [];
  const runtime = new Runtime({
    drivers: { process: driver },
    log: logger,
    stopGraceMs: 2_000,
    saveLastKnownGood: async (deployment) => {
      saved.push(deployment);
    },
    ...options,
  });
  runtimes.push(runtime);
  await runtime.start({ lastKnownGood: options.lastKnownGood ?? null });
  return { runtime, driver, saved };
}

let markerCounter = 0;
/** A string no other process on the machine has in its argv. */
export function uniqueMarker(label: string): string {
  markerCounter++;
  return `outpost-rt-${label}-${process.pid}-${markerCounter}`;
}

/** A process module running `node -e script marker` (the marker lets /proc tell its processes apart). */
export function nodeModule(script: string, marker: string, extra: Partial<ModuleInput> = {}): ModuleInput {
  return {
    type: 'process',
    process: { command: process.execPath, args: ['-e', script, marker] },
    ...extra,
  } as ModuleInput;
}

export const FOREVER = `console.log('started'); setInterval(() => {}, 1000);`;

export function deployment(
  version: number,
  modules: Record<string, ModuleInput>,
  agent: ManifestInput['agent'] = {},
): AcceptedDeployment {
  return {
    source: 'local',
    id: `dep-${version}`,
    version,
    createdAt: new Date().toISOString(),
    manifest: Manifest.parse({ schemaVersion: '1.0', modules, agent }),
    signed: null,
  };
}

export function view(runtime: Runtime, name: string): ModuleView | undefined {
  return runtime.modules().find((module) => module.name === name);
}

export function waitForStatus(runtime: Runtime, name: string, status: ModuleView['status'], timeoutMs = 60_000) {
  return waitFor(
    () => {
      const current = view(runtime, name);
      return current?.status === status ? current : undefined;
    },
    {
      timeoutMs,
      what: `module ${name} ${status} (now: ${JSON.stringify(view(runtime, name))})`,
    },
  );
}

/** The pid of the instance the driver runs for `name` (its runtimeId), or null when not running. */
export async function runningPid(driver: ModuleDriver, name: string): Promise<number | null> {
  const instance = (await driver.list()).find((i) => i.name === name);
  return instance?.state === 'running' ? Number(instance.runtimeId) : null;
}

/** Wraps a real driver and counts the calls the runtime makes (the work is the real driver's). */
export function countCalls(driver: ModuleDriver): { driver: ModuleDriver; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const counted = new Proxy(driver, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls[String(property)] = (calls[String(property)] ?? 0) + 1;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { driver: counted, calls };
}
