// The runtime with both drivers: the container driver is made only when a deployment first has a container module
// (a device without an engine runs process modules fine), and a module whose type changes moves between drivers.
// Real podman through @outpost/testing (no engine → CONTAINER ENGINE UNAVAILABLE, failing loudly).
import type { ModuleInput } from '@outpost/manifest';
import { type ContainerEngineHandle, startContainerEngine, waitFor } from '@outpost/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerPolicy } from '../src/config/schema.js';
import { ContainerDriver } from '../src/drivers/container/index.js';
import type { ModuleDriver } from '../src/runtime/contracts.js';
import { makeTempDir, removeTempDirs } from './helpers.js';
import {
  cleanupRuntimes,
  deployment,
  FOREVER,
  logger,
  modulesDir,
  newProcessDriver,
  newRuntime,
  nodeModule,
  pidsWithMarker,
  uniqueMarker,
  view,
  waitForStatus,
} from './runtime-fixtures.js';

let engine: ContainerEngineHandle;
const containerDrivers: ContainerDriver[] = [];

const POLICY: ContainerPolicy = {
  dockerHost: null,
  allowPrivileged: false,
  allowHostPid: false,
  allowCapAdd: false,
  registryCredentials: {},
};

beforeAll(async () => {
  engine = await startContainerEngine();
}, 180_000);
afterEach(async () => {
  await cleanupRuntimes();
  for (const driver of containerDrivers.splice(0)) {
    for (const instance of await driver.list().catch(() => [])) await driver.remove(instance.name, 1_000);
    await driver.close();
  }
});
afterAll(async () => {
  await engine?.stop();
  removeTempDirs();
}, 120_000);

function containerFactory(dockerHost: string, made: { count: number }): () => Promise<ModuleDriver> {
  return async () => {
    made.count++;
    const driver = new ContainerDriver({
      dockerHost,
      policy: POLICY,
      deviceId: 'runtime-container-test',
      log: logger,
      stateDir: makeTempDir(),
      pollIntervalMs: 200,
    });
    containerDrivers.push(driver);
    return driver;
  };
}

function boxModule(extra: Partial<ModuleInput> = {}): ModuleInput {
  return {
    type: 'container',
    container: { image: engine.image, pullPolicy: 'never', createOptions: { Cmd: ['sleep', '3600'] } },
    ...extra,
  } as ModuleInput;
}

describe('Runtime with the container driver', () => {
  it('makes the container driver on the first container module only, and moves a module between drivers on a type change', async () => {
    const dir = modulesDir();
    const made = { count: 0 };
    const { runtime } = await newRuntime(dir, {
      drivers: { process: newProcessDriver(dir), container: containerFactory(engine.dockerHost, made) },
    });
    const marker = uniqueMarker('retype');
    await runtime.apply(deployment(1, { svc: nodeModule(FOREVER, marker) }));
    expect(made.count).toBe(0);
    expect(pidsWithMarker(marker)).toHaveLength(1);

    const outcome = await runtime.apply(deployment(2, { svc: boxModule() }));
    expect(outcome).toEqual({ code: 200, description: 'applied' });
    expect(made.count).toBe(1);
    // The process is gone, the container runs under the same module name.
    expect(pidsWithMarker(marker)).toEqual([]);
    expect(view(runtime, 'svc')).toMatchObject({ type: 'container', status: 'running' });
    const containers = await containerDrivers[0]!.list();
    expect(containers.map((c) => `${c.name}:${c.state}`)).toEqual(['svc:running']);

    // And back: the container is removed from the engine, the process runs again.
    await runtime.apply(deployment(3, { svc: nodeModule(FOREVER, marker) }));
    expect(await containerDrivers[0]!.list()).toEqual([]);
    await waitFor(() => pidsWithMarker(marker).length === 1, { what: 'the process module back' });
    expect(view(runtime, 'svc')).toMatchObject({ type: 'process', status: 'running' });
    expect(made.count).toBe(1);
  });

  it('a container module that crashes is restarted by its policy like a process', async () => {
    const dir = modulesDir();
    const made = { count: 0 };
    const { runtime } = await newRuntime(dir, {
      drivers: { process: newProcessDriver(dir), container: containerFactory(engine.dockerHost, made) },
    });
    await runtime.apply(
      deployment(
        1,
        {
          box: boxModule({
            container: { image: engine.image, pullPolicy: 'never', createOptions: { Cmd: ['sh', '-c', 'exit 4'] } },
          }),
        },
        { restartBackoffUnitSecs: 0.05, restartBackoffCapSecs: 0.1, maxRestarts: 2 },
      ),
    );
    const failed = await waitForStatus(runtime, 'box', 'failed', 90_000);
    expect(failed).toMatchObject({ type: 'container', exitCode: 4, restartCount: 2 });
    expect(failed.statusDescription).toMatch(/failed after 2 restarts: exited with code 4/);
  });

  it('without an engine: process modules run; a deployment with a container module is refused with 500 naming it, modules untouched', async () => {
    const dir = modulesDir();
    const made = { count: 0 };
    const noEngine = `unix://${makeTempDir()}/no-engine.sock`;
    const { runtime } = await newRuntime(dir, {
      drivers: { process: newProcessDriver(dir), container: containerFactory(noEngine, made) },
    });
    const marker = uniqueMarker('noengine');
    expect(await runtime.apply(deployment(1, { app: nodeModule(FOREVER, marker) }))).toMatchObject({ code: 200 });
    const [pid] = pidsWithMarker(marker);

    const outcome = await runtime.apply(
      deployment(2, { app: nodeModule(FOREVER, marker, { version: '2' }), box: boxModule() }),
    );
    expect(outcome.code).toBe(500);
    expect(outcome.description).toMatch(/^container modules box cannot run: /);
    expect(pidsWithMarker(marker)).toEqual([pid]);
    expect(view(runtime, 'app')?.version).toBeNull();
    expect(view(runtime, 'box')).toBeUndefined();
  });
});
