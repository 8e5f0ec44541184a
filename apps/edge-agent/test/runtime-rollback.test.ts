// Device-level rollback and last-known-good with real processes: an update becomes last-known-good only once every
// module runs (and passes its probe); one that does not within healthyWithinSecs is rolled back to the previous
// version and reported ROLLED_BACK, and is never saved.
import { getFreePort, waitFor } from '@outpost/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { removeTempDirs } from './helpers.js';
import {
  cleanupRuntimes,
  deployment,
  FOREVER,
  modulesDir,
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

const fast = { restartBackoffUnitSecs: 0.05, restartBackoffCapSecs: 0.1 };

describe('rollback and last-known-good', () => {
  it('the first deployment is last-known-good at once; a healthy update replaces it', async () => {
    const { runtime, saved } = await newRuntime(modulesDir());
    const marker = uniqueMarker('lkg');
    const v1 = deployment(1, { app: nodeModule(FOREVER, marker, { version: '1' }) });
    await runtime.apply(v1);
    expect(saved.map((d) => d.version)).toEqual([1]);
    expect(runtime.lastKnownGood()).toBe(v1);

    const v2 = deployment(2, { app: nodeModule(FOREVER, marker, { version: '2' }) }, { healthyWithinSecs: 3 });
    await runtime.apply(v2);
    await waitFor(() => saved.length === 2, { what: 'version 2 saved as last-known-good' });
    expect(saved.map((d) => d.version)).toEqual([1, 2]);
    expect(runtime.lastKnownGood()).toBe(v2);
    expect(runtime.deployment()).toMatchObject({ code: 200, version: 2, description: 'applied' });
  });

  it('an update whose new version crash-loops is rolled back to the previous version and reported ROLLED_BACK', async () => {
    const dir = modulesDir();
    const { runtime, driver, saved } = await newRuntime(dir);
    const marker = uniqueMarker('rollback');
    const v1 = deployment(1, { app: nodeModule(FOREVER, marker, { version: '1' }) }, fast);
    await runtime.apply(v1);
    const v1Pid = await runningPid(driver, 'app');

    const crashing = `console.log('started'); process.exit(2)`;
    const v2 = deployment(
      2,
      { app: nodeModule(crashing, marker, { version: '2' }) },
      { ...fast, maxRestarts: 1000, healthyWithinSecs: 1.5 },
    );
    const outcome = await runtime.apply(v2);
    expect(outcome.code).toBe(200);

    const status = await waitFor(
      () => (runtime.deployment().description.startsWith('ROLLED_BACK:') ? runtime.deployment() : undefined),
      { what: 'the rollback' },
    );
    expect(status).toMatchObject({ code: 500, version: 2, id: 'dep-2', source: 'local' });
    expect(status.description).toMatch(/^ROLLED_BACK: version 2 \(dep-2\) did not become healthy: module app: /);
    // At the deadline it is either cooling off after a crash or has just been restarted again.
    expect(status.description).toMatch(/module app: (backoff \(exited with code 2|running for only \d+ ms, restarted)/);
    expect(status.description).toMatch(/restored version 1 \(dep-1\)$/);
    const app = await waitForStatus(runtime, 'app', 'running');
    expect(app.version).toBe('1');
    expect(runtime.currentDeployment()?.version).toBe(1);
    const pids = pidsWithMarker(marker);
    expect(pids).toHaveLength(1);
    expect(pids[0]).not.toBe(v1Pid);
    // The failed version is never last-known-good, and not applied again.
    expect(saved.map((d) => d.version)).toEqual([1]);
    expect(runtime.lastKnownGood()?.version).toBe(1);
    expect(runtime.appliedVersion('local')).toBe(2);
  });

  it('a module that fails for good rolls back before the window ends', async () => {
    const { runtime, saved } = await newRuntime(modulesDir());
    const marker = uniqueMarker('early');
    await runtime.apply(deployment(1, { app: nodeModule(FOREVER, marker, { version: '1' }) }, fast));
    // maxRestarts 1: failed after one restart, long before the hour-long window.
    await runtime.apply(
      deployment(
        2,
        { app: nodeModule(`process.exit(1)`, marker, { version: '2' }) },
        { ...fast, maxRestarts: 1, healthyWithinSecs: 3600 },
      ),
    );
    await waitFor(() => runtime.deployment().description.startsWith('ROLLED_BACK:'), { what: 'an early rollback' });
    expect(runtime.deployment().description).toMatch(
      /module app: failed \(failed after 1 restarts: exited with code 1\)/,
    );
    await waitForStatus(runtime, 'app', 'running');
    expect(view(runtime, 'app')?.version).toBe('1');
    expect(saved.map((d) => d.version)).toEqual([1]);
  });

  it('a probed module must pass its probe: one that never does is rolled back, one that does becomes good', async () => {
    const { runtime, saved } = await newRuntime(modulesDir());
    const port = await getFreePort();
    const marker = uniqueMarker('probed');
    const serve = `console.log('started'); require('http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1');`;
    const probe = { type: 'http', port, intervalSecs: 0.1, timeoutSecs: 2, failureThreshold: 1000 } as const;
    await runtime.apply(deployment(1, { web: nodeModule(serve, marker, { version: '1', health: probe }) }, fast));

    // Version 2 runs but never listens: running, never healthy (the threshold is high, so it is not restarted).
    await runtime.apply(
      deployment(
        2,
        { web: nodeModule(FOREVER, marker, { version: '2', health: probe }) },
        { ...fast, healthyWithinSecs: 1.5 },
      ),
    );
    await waitFor(() => runtime.deployment().description.startsWith('ROLLED_BACK:'), { what: 'the rollback' });
    expect(runtime.deployment().description).toMatch(/module web: not yet healthy \(http probe\)/);
    await waitForStatus(runtime, 'web', 'running');
    expect(view(runtime, 'web')?.version).toBe('1');

    // Version 3 listens: it becomes last-known-good once its probe passed.
    await runtime.apply(
      deployment(
        3,
        { web: nodeModule(serve, marker, { version: '3', health: probe }) },
        { ...fast, healthyWithinSecs: 60 },
      ),
    );
    await waitFor(() => saved.some((d) => d.version === 3), { what: 'version 3 saved' });
    expect(saved.map((d) => d.version)).toEqual([1, 3]);
    expect(runtime.deployment()).toMatchObject({ code: 200, version: 3 });
  });
});
