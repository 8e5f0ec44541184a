// The runtime with the real ProcessDriver: real `node -e` processes, restart policies and backoff, status-only
// changes, idempotent re-applies, adoption by a new runtime, prepare failures. Timings are lower bounds only.
import { waitFor } from '@outpost/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { coolOffMs } from '../src/runtime/restart-policy.js';
import { removeTempDirs } from './helpers.js';
import {
  cleanupRuntimes,
  countCalls,
  deployment,
  FOREVER,
  modulesDir,
  newProcessDriver,
  newRuntime,
  nodeModule,
  pidsWithMarker,
  runningPid,
  uniqueMarker,
  view,
  waitForStatus,
} from './runtime-fixtures.js';

afterEach(cleanupRuntimes);
afterAll(removeTempDirs);

async function startedLines(runtime: Awaited<ReturnType<typeof newRuntime>>['runtime'], name: string) {
  const lines = await runtime.moduleLogs(name, {});
  return lines.filter((line) => line.text.includes('started')).length;
}

describe('Runtime: restart policies with real processes', () => {
  it('a crash-looping module backs off min(unit·2ⁿ, cap) between restarts and ends failed after maxRestarts', async () => {
    const { runtime } = await newRuntime(modulesDir());
    const marker = uniqueMarker('crash');
    const exits: string[] = [];
    const restarts: string[] = [];
    const statuses = new Set<string>();
    runtime.onChange(() => {
      const crash = view(runtime, 'crash');
      if (!crash) return;
      statuses.add(crash.status);
      if (crash.lastExitedAt && !exits.includes(crash.lastExitedAt)) exits.push(crash.lastExitedAt);
      if (crash.lastRestartedAt && !restarts.includes(crash.lastRestartedAt)) restarts.push(crash.lastRestartedAt);
    });
    const agent = { restartBackoffUnitSecs: 0.2, restartBackoffCapSecs: 0.4, maxRestarts: 3 };
    const outcome = await runtime.apply(
      deployment(1, { crash: nodeModule(`console.log('started'); process.exit(1)`, marker) }, agent),
    );
    expect(outcome.code).toBe(200);

    const failed = await waitForStatus(runtime, 'crash', 'failed');
    expect(failed.restartCount).toBe(3);
    expect(failed.exitCode).toBe(1);
    expect(failed.statusDescription).toMatch(/failed after 3 restarts: exited with code 1/);
    expect(statuses).toContain('backoff');
    expect(exits).toHaveLength(4);
    expect(restarts).toHaveLength(3);
    const settings = { unitMs: 200, capMs: 400 };
    for (let n = 0; n < 3; n++) {
      // Restart n+1 came at least the cool-off after exit n+1 (0.2 s, 0.4 s, 0.4 s capped).
      const waited = Date.parse(restarts[n]!) - Date.parse(exits[n]!);
      expect(waited).toBeGreaterThanOrEqual(coolOffMs(n, settings));
      if (n > 0) expect(Date.parse(restarts[n]!)).toBeGreaterThan(Date.parse(restarts[n - 1]!));
    }
    // One run plus three restarts, and nothing after `failed`.
    await waitFor(async () => (await startedLines(runtime, 'crash')) === 4, { what: '4 runs logged' });
    expect(pidsWithMarker(marker)).toEqual([]);
    expect(view(runtime, 'crash')?.status).toBe('failed');
  });

  it('on-failure leaves a clean exit stopped; never leaves a crash failed without restarting', async () => {
    const { runtime } = await newRuntime(modulesDir());
    await runtime.apply(
      deployment(
        1,
        {
          clean: nodeModule(`console.log('started'); process.exit(0)`, uniqueMarker('clean'), {
            restartPolicy: 'on-failure',
          }),
          crash: nodeModule(`console.log('started'); process.exit(7)`, uniqueMarker('never'), {
            restartPolicy: 'never',
          }),
        },
        { restartBackoffUnitSecs: 0.05, restartBackoffCapSecs: 0.1 },
      ),
    );
    const clean = await waitForStatus(runtime, 'clean', 'stopped');
    const crash = await waitForStatus(runtime, 'crash', 'failed');
    expect(clean).toMatchObject({ exitCode: 0, restartCount: 0, lastRestartedAt: null });
    expect(crash).toMatchObject({ exitCode: 7, restartCount: 0, lastRestartedAt: null });
    expect(crash.statusDescription).toBe('exited with code 7');
    expect(await startedLines(runtime, 'clean')).toBe(1);
    expect(await startedLines(runtime, 'crash')).toBe(1);
  });

  it('a module that ran for healthyResetSecs before crashing gets its restart count reset (never failed)', async () => {
    const { runtime } = await newRuntime(modulesDir());
    const restarts = new Set<string>();
    let maxCount = 0;
    runtime.onChange(() => {
      const m = view(runtime, 'slow');
      if (m?.lastRestartedAt) restarts.add(m.lastRestartedAt);
      maxCount = Math.max(maxCount, m?.restartCount ?? 0);
    });
    // Crashes after 0.6 s; counts reset after 0.2 s running; failed after a single restart without the reset.
    await runtime.apply(
      deployment(
        1,
        { slow: nodeModule(`console.log('started'); setTimeout(() => process.exit(1), 600)`, uniqueMarker('slow')) },
        { restartBackoffUnitSecs: 0.05, restartBackoffCapSecs: 0.05, maxRestarts: 1, healthyResetSecs: 0.2 },
      ),
    );
    await waitFor(() => restarts.size >= 3, { what: 'three restarts' });
    expect(maxCount).toBe(1);
    expect(view(runtime, 'slow')?.status).not.toBe('failed');
  });

  it('desired status stopped: the module is stopped and not restarted, even under always', async () => {
    const dir = modulesDir();
    const { driver, calls } = countCalls(newProcessDriver(dir));
    const { runtime } = await newRuntime(dir, { driver });
    const marker = uniqueMarker('status');
    const running = nodeModule(FOREVER, marker, { restartPolicy: 'always' });
    await runtime.apply(deployment(1, { svc: running }));
    const firstPid = await runningPid(driver, 'svc');
    expect(pidsWithMarker(marker)).toEqual([firstPid]);
    const hash = (await driver.list())[0]?.specHash;

    // Status-only change: stop in place, no recreate.
    const stopped = await runtime.apply(deployment(2, { svc: { ...running, status: 'stopped' } }));
    expect(stopped.code).toBe(200);
    expect(view(runtime, 'svc')).toMatchObject({ status: 'stopped', statusDescription: 'desired status is stopped' });
    expect(pidsWithMarker(marker)).toEqual([]);
    const [instance] = await driver.list();
    expect(instance).toMatchObject({ name: 'svc', state: 'exited', specHash: hash });
    expect(calls).toMatchObject({ createAndStart: 1, stop: 1 });
    expect(calls.remove ?? 0).toBe(0);

    // Back to running: started again (a new process), still the same instance definition.
    await runtime.apply(deployment(3, { svc: running }));
    const secondPid = await runningPid(driver, 'svc');
    expect(secondPid).not.toBeNull();
    expect(secondPid).not.toBe(firstPid);
    expect(pidsWithMarker(marker)).toEqual([secondPid]);
    expect(calls).toMatchObject({ createAndStart: 1, start: 1 });
    expect(calls.remove ?? 0).toBe(0);
    expect((await driver.list())[0]?.specHash).toBe(hash);
    expect(view(runtime, 'svc')?.status).toBe('running');
  });
});

describe('Runtime: reconcile', () => {
  it('re-applying the same deployment is a no-op: same processes, nothing created or started', async () => {
    const dir = modulesDir();
    const { driver, calls } = countCalls(newProcessDriver(dir));
    const { runtime } = await newRuntime(dir, { driver });
    const markers = { a: uniqueMarker('a'), b: uniqueMarker('b') };
    const d = deployment(1, {
      a: nodeModule(FOREVER, markers.a, { startupOrder: 0 }),
      b: nodeModule(FOREVER, markers.b, { startupOrder: 1 }),
    });
    expect(await runtime.apply(d)).toEqual({ code: 200, description: 'applied' });
    const pids = { a: await runningPid(driver, 'a'), b: await runningPid(driver, 'b') };
    expect(await runtime.apply(d)).toEqual({ code: 200, description: 'already applied' });
    expect(await runtime.apply(deployment(2, d.manifest.modules))).toMatchObject({ code: 200 });
    expect({ a: await runningPid(driver, 'a'), b: await runningPid(driver, 'b') }).toEqual(pids);
    expect(pidsWithMarker(markers.a)).toEqual([pids.a]);
    expect(pidsWithMarker(markers.b)).toEqual([pids.b]);
    expect(calls.createAndStart).toBe(2);
    expect(calls.start ?? 0).toBe(0);
    expect(runtime.appliedVersion('local')).toBe(2);
  });

  it('a changed module is recreated, a removed one removed, an added one created', async () => {
    const dir = modulesDir();
    const { driver } = newRuntimeDriver(dir);
    const { runtime } = await newRuntime(dir, { driver });
    const markers = { keep: uniqueMarker('keep'), change: uniqueMarker('change'), drop: uniqueMarker('drop') };
    await runtime.apply(
      deployment(1, {
        keep: nodeModule(FOREVER, markers.keep),
        change: nodeModule(FOREVER, markers.change, { version: '1' }),
        drop: nodeModule(FOREVER, markers.drop),
      }),
    );
    const keepPid = await runningPid(driver, 'keep');
    const changePid = await runningPid(driver, 'change');
    const addMarker = uniqueMarker('add');
    const outcome = await runtime.apply(
      deployment(2, {
        keep: nodeModule(FOREVER, markers.keep),
        change: nodeModule(FOREVER, markers.change, { version: '2' }),
        add: nodeModule(FOREVER, addMarker),
      }),
    );
    expect(outcome.code).toBe(200);
    expect(await runningPid(driver, 'keep')).toBe(keepPid);
    const newChangePid = await runningPid(driver, 'change');
    expect(newChangePid).not.toBe(changePid);
    expect(pidsWithMarker(markers.change)).toEqual([newChangePid]);
    expect(pidsWithMarker(markers.drop)).toEqual([]);
    expect(pidsWithMarker(addMarker)).toHaveLength(1);
    expect(runtime.modules().map((m) => `${m.name}@${m.version ?? '-'}:${m.status}`)).toEqual([
      'add@-:running',
      'change@2:running',
      'keep@-:running',
    ]);
  });

  it('a new runtime over the same dirs adopts the running modules: exactly one process each, still supervised', async () => {
    const dir = modulesDir();
    const markers = { a: uniqueMarker('adopt-a'), b: uniqueMarker('adopt-b') };
    const d = deployment(
      1,
      {
        a: nodeModule(FOREVER, markers.a, { startupOrder: 0 }),
        b: nodeModule(FOREVER, markers.b, { startupOrder: 1 }),
      },
      { restartBackoffUnitSecs: 0.05, restartBackoffCapSecs: 0.1 },
    );
    const first = await newRuntime(dir);
    await first.runtime.apply(d);
    const pids = { a: pidsWithMarker(markers.a), b: pidsWithMarker(markers.b) };
    expect(pids.a).toHaveLength(1);
    expect(pids.b).toHaveLength(1);
    // The agent stops: supervision ends, modules keep running.
    await first.runtime.stop();
    expect({ a: pidsWithMarker(markers.a), b: pidsWithMarker(markers.b) }).toEqual(pids);

    const { driver, calls } = countCalls(newProcessDriver(dir));
    const second = await newRuntime(dir, { driver, lastKnownGood: d });
    // Adopted before any deployment arrives.
    expect(second.runtime.modules().map((m) => `${m.name}:${m.status}`)).toEqual(['a:running', 'b:running']);
    expect(await second.runtime.apply(d)).toEqual({ code: 200, description: 'already applied' });
    expect({ a: pidsWithMarker(markers.a), b: pidsWithMarker(markers.b) }).toEqual(pids);
    expect(calls.createAndStart ?? 0).toBe(0);
    expect(calls.start ?? 0).toBe(0);
    expect(second.saved).toEqual([]);

    // The adopted module is supervised: killed, it is restarted by its policy (always).
    process.kill(pids.a[0]!, 'SIGKILL');
    await waitFor(
      () => view(second.runtime, 'a')?.restartCount === 1 && view(second.runtime, 'a')?.status === 'running',
      {
        what: 'adopted module a restarted',
      },
    );
    const restarted = pidsWithMarker(markers.a);
    expect(restarted).toHaveLength(1);
    expect(restarted).not.toEqual(pids.a);
  });

  it('an instance that exited while no agent ran is started by the first plan, once', async () => {
    const dir = modulesDir();
    const marker = uniqueMarker('down');
    const d = deployment(1, { m: nodeModule(FOREVER, marker) });
    const first = await newRuntime(dir);
    await first.runtime.apply(d);
    await first.runtime.stop();
    const [pid] = pidsWithMarker(marker);
    process.kill(pid!, 'SIGKILL');
    await waitFor(() => pidsWithMarker(marker).length === 0, { what: 'module gone' });

    const second = await newRuntime(dir, { lastKnownGood: d });
    await second.runtime.apply(d);
    await waitForStatus(second.runtime, 'm', 'running');
    expect(pidsWithMarker(marker)).toHaveLength(1);
  });

  it('a failed artifact download leaves the running modules untouched and reports 500 naming the module', async () => {
    const dir = modulesDir();
    const { runtime, driver, saved } = await newRuntime(dir);
    const marker = uniqueMarker('steady');
    const v1 = deployment(1, { steady: nodeModule(FOREVER, marker, { version: '1' }) });
    await runtime.apply(v1);
    const pid = await runningPid(driver, 'steady');
    const outcome = await runtime.apply(
      deployment(2, {
        steady: nodeModule(FOREVER, marker, { version: '2' }),
        fetched: {
          type: 'process',
          process: {
            command: 'run.sh',
            artifact: { ref: 'os://outpost-artifacts/missing-app.tar.gz', sha256: 'a'.repeat(64) },
          },
        },
      }),
    );
    expect(outcome.code).toBe(500);
    expect(outcome.description).toMatch(/module fetched: prepare failed: ARTIFACT_UNAVAILABLE/);
    expect(runtime.deployment()).toMatchObject({ code: 500, version: 2 });
    expect(await runningPid(driver, 'steady')).toBe(pid);
    expect(view(runtime, 'steady')).toMatchObject({ version: '1', status: 'running' });
    expect(view(runtime, 'fetched')).toBeUndefined();
    expect(saved.map((d) => d.version)).toEqual([1]);
    // Not marked applied: the next refresh may try the download again.
    expect(runtime.appliedVersion('local')).toBe(1);
  });

  it("a container module the device's policy refuses: 412 with every path, before any driver or engine is touched", async () => {
    const dir = modulesDir();
    const { driver, calls } = countCalls(newProcessDriver(dir));
    const { runtime } = await newRuntime(dir, {
      driver,
      containerPolicy: { allowPrivileged: false, allowHostPid: false, allowCapAdd: false, registryCredentials: {} },
    });
    const marker = uniqueMarker('policy');
    await runtime.apply(deployment(1, { steady: nodeModule(FOREVER, marker) }));
    const pid = await runningPid(driver, 'steady');
    const outcome = await runtime.apply(
      deployment(2, {
        steady: nodeModule(FOREVER, marker, { version: '2' }),
        box: {
          type: 'container',
          container: { image: 'busybox:latest', createOptions: { HostConfig: { Privileged: true, PidMode: 'host' } } },
        },
      }),
    );
    expect(outcome.code).toBe(412);
    expect(outcome.errors?.map((e) => e.path)).toEqual([
      'modules.box.container.createOptions.HostConfig.Privileged',
      'modules.box.container.createOptions.HostConfig.PidMode',
    ]);
    expect(runtime.deployment()).toMatchObject({ code: 412, version: 2 });
    // No container driver exists on this runtime: the refusal came first. The process module was not touched.
    expect(await runningPid(driver, 'steady')).toBe(pid);
    expect(view(runtime, 'steady')?.version).toBeNull();
    expect(calls.createAndStart).toBe(1);
    // Prepared once, for version 1; version 2 never reached a driver.
    expect(calls.prepare).toBe(1);
  });

  it('restartModule restarts a desired module and refuses an unknown one with NOT_FOUND', async () => {
    const dir = modulesDir();
    const { runtime, driver } = await newRuntime(dir);
    const marker = uniqueMarker('manual');
    await runtime.apply(deployment(1, { m: nodeModule(FOREVER, marker) }));
    const pid = await runningPid(driver, 'm');
    await runtime.restartModule('m');
    const after = await runningPid(driver, 'm');
    expect(after).not.toBe(pid);
    expect(pidsWithMarker(marker)).toEqual([after]);
    expect(view(runtime, 'm')).toMatchObject({ status: 'running', restartCount: 0 });
    expect(view(runtime, 'm')?.lastRestartedAt).not.toBeNull();
    await expect(runtime.restartModule('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

function newRuntimeDriver(dir: string) {
  return { driver: newProcessDriver(dir) };
}
