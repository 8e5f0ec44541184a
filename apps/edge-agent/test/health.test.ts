// Health probes against real processes: exec, http and tcp probes, failureThreshold, and what the restart policy
// does with an unhealthy module (on-unhealthy / always restart it with backoff; never / on-failure only report it).

import type { ModuleInput } from '@outpost/manifest';
import { getFreePort, waitFor } from '@outpost/testing';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runProbe } from '../src/health/index.js';
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

const timing = { intervalSecs: 0.1, timeoutSecs: 2, failureThreshold: 2 };
const agent = { restartBackoffUnitSecs: 0.05, restartBackoffCapSecs: 0.1, maxRestarts: 2 };

/** A module serving `status` over http on `port`. */
function httpServer(status: number, port: number): string {
  return `console.log('started'); require('http').createServer((q, s) => { s.statusCode = ${status}; s.end('x'); }).listen(${port}, '127.0.0.1');`;
}

const failing: { probe: string; module: (marker: string, port: number) => ModuleInput }[] = [
  {
    probe: 'http (answers 503)',
    module: (marker, port) =>
      nodeModule(httpServer(503, port), marker, { health: { type: 'http', port, path: '/healthz', ...timing } }),
  },
  {
    probe: 'tcp (nothing listens)',
    module: (marker, port) => nodeModule(FOREVER, marker, { health: { type: 'tcp', port, ...timing } }),
  },
  {
    probe: 'exec (exits 3)',
    module: (marker) =>
      nodeModule(FOREVER, marker, {
        health: { type: 'exec', command: [process.execPath, '-e', 'process.exit(3)'], ...timing },
      }),
  },
];

describe('health probes and restart policies', () => {
  for (const { probe, module } of failing) {
    it(`on-unhealthy restarts a module whose ${probe} probe fails, then gives up after maxRestarts`, async () => {
      const dir = modulesDir();
      const { runtime, driver } = await newRuntime(dir);
      const marker = uniqueMarker('unhealthy');
      const port = await getFreePort();
      await runtime.apply(deployment(1, { m: { ...module(marker, port), restartPolicy: 'on-unhealthy' } }, agent));
      const firstPid = await runningPid(driver, 'm');
      expect(firstPid).not.toBeNull();

      await waitFor(() => (view(runtime, 'm')?.restartCount ?? 0) >= 1, { what: 'a restart after the probe failed' });
      const failed = await waitForStatus(runtime, 'm', 'failed');
      expect(failed.restartCount).toBe(2);
      expect(failed.lastRestartedAt).not.toBeNull();
      expect(failed.statusDescription).toMatch(/^failed after 2 restarts: unhealthy: /);
      // Left stopped once failed.
      expect(pidsWithMarker(marker)).toEqual([]);
      const lines = await runtime.moduleLogs('m', {});
      expect(lines.filter((line) => line.text.includes('started'))).toHaveLength(3);
    });
  }

  it('never: a failing probe is reported as unhealthy and the module keeps running untouched', async () => {
    const dir = modulesDir();
    const { runtime, driver } = await newRuntime(dir);
    const marker = uniqueMarker('never');
    const port = await getFreePort();
    await runtime.apply(
      deployment(
        1,
        {
          m: nodeModule(httpServer(500, port), marker, {
            restartPolicy: 'never',
            health: { type: 'http', port, ...timing },
          }),
        },
        agent,
      ),
    );
    const pid = await runningPid(driver, 'm');
    const unhealthy = await waitForStatus(runtime, 'm', 'unhealthy');
    expect(unhealthy.statusDescription).toMatch(/^unhealthy: http probe http:\/\/127\.0\.0\.1:\d+\/ answered 500/);
    expect(unhealthy.restartCount).toBe(0);
    expect(await runningPid(driver, 'm')).toBe(pid);
    expect(pidsWithMarker(marker)).toEqual([pid]);
  });

  it('on-failure: unhealthy is reported only, and a passing probe makes it running again', async () => {
    const dir = modulesDir();
    const { runtime, driver } = await newRuntime(dir);
    const marker = uniqueMarker('recover');
    const port = await getFreePort();
    // Fails its probe until it starts listening after a few probe intervals.
    const late = `console.log('started'); setTimeout(() => { ${httpServer(200, port)} }, 1500); setInterval(() => {}, 1000);`;
    await runtime.apply(
      deployment(
        1,
        { m: nodeModule(late, marker, { restartPolicy: 'on-failure', health: { type: 'tcp', port, ...timing } }) },
        agent,
      ),
    );
    const pid = await runningPid(driver, 'm');
    await waitForStatus(runtime, 'm', 'unhealthy');
    const running = await waitForStatus(runtime, 'm', 'running');
    expect(running.restartCount).toBe(0);
    expect(running.statusDescription).toBeUndefined();
    expect(await runningPid(driver, 'm')).toBe(pid);
  });

  it('a healthy http module stays running and its probe passes', async () => {
    const dir = modulesDir();
    const { runtime, driver } = await newRuntime(dir);
    const port = await getFreePort();
    const marker = uniqueMarker('healthy');
    await runtime.apply(
      deployment(1, { m: nodeModule(httpServer(204, port), marker, { health: { type: 'http', port, ...timing } }) }),
    );
    await waitFor(async () => (await runProbe({ type: 'http', port, path: '/', ...timing }, 'm', driver)).healthy, {
      what: 'the module answering its probe',
    });
    // Many probe intervals later it is still the same, running process.
    const pid = await runningPid(driver, 'm');
    for (let i = 0; i < 5; i++) {
      const result = await runProbe({ type: 'http', port, path: '/', ...timing }, 'm', driver);
      expect(result).toEqual({ healthy: true, detail: `http probe http://127.0.0.1:${port}/ answered 204` });
    }
    expect(view(runtime, 'm')).toMatchObject({ status: 'running', restartCount: 0 });
    expect(await runningPid(driver, 'm')).toBe(pid);
  });
});
