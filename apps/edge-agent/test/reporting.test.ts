// Reported state over a real nats-server: the runtime's module and deployment state, published on change and with
// every heartbeat, decodable as ReportedStateV1 1.1, with the agent's bootId and an increasing seq.
import { randomUUID } from 'node:crypto';
import { decodeMessage, type MessageData, ReportedStateV1, subjects } from '@outpost/protocol';
import { type NatsServerHandle, startNatsServer, waitFor } from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentConnection } from '../src/connection/index.js';
import { StateReporter } from '../src/reporting/index.js';
import { removeTempDirs, uniqueDeviceId } from './helpers.js';
import {
  cleanupRuntimes,
  deployment,
  FOREVER,
  logger,
  modulesDir,
  newRuntime,
  nodeModule,
  uniqueMarker,
} from './runtime-fixtures.js';

type Report = MessageData<typeof ReportedStateV1>;

let server: NatsServerHandle;
let nc: NatsConnection;
const closers: Array<() => unknown> = [];

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await cleanupRuntimes();
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
  removeTempDirs();
});

/** Every report published for `deviceId`, decoded (a report that does not decode fails the test). */
function collectReports(deviceId: string): Report[] {
  const reports: Report[] = [];
  const sub = nc.subscribe(subjects.device.reported(deviceId));
  closers.push(() => sub.unsubscribe());
  void (async () => {
    for await (const msg of sub) reports.push(decodeMessage(ReportedStateV1, msg.data, msg.headers));
  })();
  return reports;
}

describe('StateReporter', () => {
  it('publishes module and deployment state on change and with the heartbeat, in order', async () => {
    const deviceId = uniqueDeviceId('reporting');
    const reports = collectReports(deviceId);
    await nc.flush();
    const { runtime } = await newRuntime(modulesDir());
    const connection = new AgentConnection({
      servers: [server.url],
      name: `test ${deviceId}`,
      inboxPrefix: subjects.device.inboxPrefix(deviceId),
      log: logger,
    });
    closers.push(() => connection.close());
    const bootId = randomUUID();
    const reporter = new StateReporter({
      deviceId,
      bootId,
      connection,
      source: runtime,
      heartbeatIntervalMs: 300,
      log: logger,
    });
    reporter.start();
    closers.push(() => reporter.stop());
    // Offline: nothing is sent (and nothing buffered).
    expect(reporter.publish()).toBe(false);

    connection.start();
    // Before any deployment: 417, no modules.
    const first = await waitFor(() => reports[0], { what: 'the report sent on connect' });
    expect(first).toMatchObject({ bootId, desired: { version: null, code: 417 }, modules: {} });

    await runtime.apply(
      deployment(4, {
        app: nodeModule(FOREVER, uniqueMarker('report'), { version: '1.2.3' }),
        off: nodeModule(FOREVER, uniqueMarker('off'), { status: 'stopped' }),
      }),
    );
    const applied = await waitFor(
      () => reports.find((r) => r.desired.code === 200 && r.modules.app?.status === 'running'),
      {
        what: 'a report of the applied deployment',
      },
    );
    expect(applied.bootId).toBe(bootId);
    expect(applied.desired).toEqual({
      version: 4,
      code: 200,
      description: 'applied',
      source: 'local',
      deploymentId: 'dep-4',
    });
    expect(applied.modules.app).toMatchObject({
      status: 'running',
      type: 'process',
      version: '1.2.3',
      restartCount: 0,
      exitCode: null,
      lastExitedAt: null,
      lastRestartedAt: null,
    });
    expect(Date.parse(applied.modules.app?.lastStartedAt ?? '')).not.toBeNaN();
    expect(applied.modules.off).toMatchObject({ status: 'stopped', statusDescription: 'desired status is stopped' });

    // Heartbeats keep reporting with nothing changing; seq always increases.
    const count = reports.length;
    await waitFor(() => reports.length >= count + 2, { what: 'two heartbeat reports' });
    const seqs = reports.map((r) => r.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);

    // A refusal reaches the cloud with its error paths.
    runtime.refuse(5, 'cloud', {
      code: 400,
      description: 'invalid manifest',
      errors: [{ path: 'modules.app.process.command', message: 'required' }],
    });
    const refused = await waitFor(() => reports.find((r) => r.desired.code === 400), { what: 'the refusal report' });
    expect(refused.desired).toMatchObject({
      version: 5,
      source: 'cloud',
      errors: [{ path: 'modules.app.process.command', message: 'required' }],
    });
    // Modules are untouched by a refusal.
    expect(refused.modules.app?.status).toBe('running');
  });
});
