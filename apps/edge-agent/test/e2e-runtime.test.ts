// The agent binary end to end: a test responder plays the cloud's desired.get with a signed deployment (key in
// trusted-keys.json); the agent runs real process modules. An agent SIGKILLed mid-deployment converges on restart
// with exactly one process per module; modules survive a clean agent stop and are adopted; an offline boot (cloud
// unreachable) brings the modules up from the last-known-good.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey, type ManifestInput, type SigningKeyPair, signDeployment } from '@outpost/manifest';
import {
  DesiredChangedV1,
  DesiredGetReplyV1,
  decodeMessage,
  encodeMessage,
  encodeReply,
  type MessageData,
  type MessageInput,
  ReportedStateV1,
  subjects,
} from '@outpost/protocol';
import {
  getFreePort,
  type NatsServerHandle,
  type SpawnedProcess,
  spawnProcess,
  startNatsServer,
  waitFor,
} from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, logsWithMsg, makeTempDir, removeTempDirs, uniqueDeviceId, writeConfig } from './helpers.js';
import { FOREVER, pidsWithMarker, uniqueMarker } from './runtime-fixtures.js';

type WireSigned = Extract<MessageInput<typeof DesiredGetReplyV1>, { status: 'current' }>['signed'];

let server: NatsServerHandle;
let nc: NatsConnection;
const cloudKey: SigningKeyPair = generateSigningKey();
const agents: SpawnedProcess[] = [];
const markersUsed: string[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.kill()));
  // Modules outlive the agent by design: end the ones this test started, by pid.
  for (const marker of markersUsed.splice(0)) {
    for (const pid of pidsWithMarker(marker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});
afterAll(async () => {
  await nc?.close();
  await server?.stop();
  removeTempDirs();
});

interface Device {
  readonly deviceId: string;
  readonly dir: string;
  readonly stateDir: string;
  config(natsUrl: string, extra?: Record<string, unknown>): string;
}

/** A device dir: state dir with the cloud key trusted, modules dir the `nobody` module user can traverse. */
function newDevice(label: string): Device {
  const deviceId = uniqueDeviceId(label);
  const dir = makeTempDir();
  chmodSync(dir, 0o711);
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  writeFileSync(
    join(stateDir, 'trusted-keys.json'),
    JSON.stringify([{ keyId: cloudKey.keyId, publicKey: cloudKey.publicKey }]),
  );
  return {
    deviceId,
    dir,
    stateDir,
    config: (natsUrl, extra = {}) =>
      writeConfig(dir, {
        deviceId,
        natsUrl,
        stateDir: 'state',
        modulesDir: 'modules',
        moduleUser: 'nobody',
        heartbeatIntervalMs: 300,
        ...extra,
      }),
  };
}

/**
 * Answers desired.get for the device with `manifest` signed as version `version` (the cloud's side). The returned
 * function deploys a newer version and tells the device, as the cloud API does.
 */
function serveDeployment(
  deviceId: string,
  version: number,
  manifest: ManifestInput,
): (version: number, manifest: ManifestInput) => void {
  let current = { version, signed: signDeployment({ id: `dep-${version}`, deviceId, version, manifest }, cloudKey) };
  const sub = nc.subscribe(subjects.device.desiredGet(deviceId), {
    callback: (err, msg) => {
      if (err) return;
      const reply: MessageInput<typeof DesiredGetReplyV1> = {
        status: 'current',
        version: current.version,
        manifest: null,
        signature: null,
        signed: JSON.parse(JSON.stringify(current.signed)) as WireSigned,
      };
      msg.respond(encodeReply(DesiredGetReplyV1, reply));
    },
  });
  closers.push(() => sub.unsubscribe());
  return (next, nextManifest) => {
    current = {
      version: next,
      signed: signDeployment({ id: `dep-${next}`, deviceId, version: next, manifest: nextManifest }, cloudKey),
    };
    nc.publish(
      subjects.device.desiredChanged(deviceId),
      encodeMessage(DesiredChangedV1, { version: next, changedAt: new Date().toISOString() }),
    );
  };
}
const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

function reportsOf(deviceId: string): MessageData<typeof ReportedStateV1>[] {
  const reports: MessageData<typeof ReportedStateV1>[] = [];
  const sub = nc.subscribe(subjects.device.reported(deviceId), {
    callback: (err, msg) => {
      if (!err) reports.push(decodeMessage(ReportedStateV1, msg.data, msg.headers));
    },
  });
  closers.push(() => sub.unsubscribe());
  return reports;
}

async function runAgent(configPath: string): Promise<SpawnedProcess> {
  const proc = await spawnProcess(process.execPath, [CLI_PATH, 'run', '--config', configPath], {
    readyWhen: /"msg":"agent started"/,
    readyTimeoutMs: 30_000,
  });
  agents.push(proc);
  return proc;
}

function modulesWithMarkers(count: number, label: string): { manifest: ManifestInput; markers: string[] } {
  const markers: string[] = [];
  const modules: NonNullable<ManifestInput['modules']> = {};
  for (let i = 0; i < count; i++) {
    const marker = uniqueMarker(`${label}${i}`);
    markers.push(marker);
    markersUsed.push(marker);
    modules[`m${i}`] = {
      type: 'process',
      startupOrder: i,
      process: { command: process.execPath, args: ['-e', FOREVER, marker] },
    };
  }
  return { manifest: { schemaVersion: '1.0', modules }, markers };
}

const oneEach = (markers: string[]) => markers.every((marker) => pidsWithMarker(marker).length === 1);

describe('agent binary: runtime end to end', () => {
  it('SIGKILLed mid-deployment, the restarted agent converges with exactly one process per module', async () => {
    const device = newDevice('e2e-kill');
    const { manifest, markers } = modulesWithMarkers(6, 'kill');
    serveDeployment(device.deviceId, 1, manifest);
    const reports = reportsOf(device.deviceId);
    await nc.flush();
    const configPath = device.config(server.url);

    const first = await runAgent(configPath);
    // Killed as soon as the first module is created: the later startup groups may not have run yet.
    await waitFor(() => logsWithMsg(first, 'module created').length >= 1, { intervalMs: 5, what: 'a module created' });
    await first.stop('SIGKILL');
    const runningAtKill = markers.filter((marker) => pidsWithMarker(marker).length > 0).length;
    expect(runningAtKill).toBeGreaterThanOrEqual(1);

    const second = await runAgent(configPath);
    await waitFor(() => oneEach(markers), { timeoutMs: 45_000, what: 'one process per module' }).catch((err) => {
      const counts = markers.map((marker) => pidsWithMarker(marker).length).join(',');
      throw new Error(`${(err as Error).message} (processes per module: ${counts})\n${second.output().slice(-4000)}`);
    });
    const report = await waitFor(
      () =>
        reports.find(
          (r) =>
            r.desired.code === 200 &&
            Object.keys(r.modules).length === markers.length &&
            Object.values(r.modules).every((m) => m.status === 'running'),
        ),
      { timeoutMs: 60_000, what: 'a report with every module running' },
    );
    expect(report.desired).toMatchObject({ version: 1, source: 'cloud', deploymentId: 'dep-1' });
    // The modules the first agent started were adopted, not started twice.
    expect(markers.every((marker) => pidsWithMarker(marker).length === 1)).toBe(true);
    expect(logsWithMsg(second, 'module adopted').length).toBeGreaterThanOrEqual(runningAtKill);
  });

  it('modules survive a clean agent stop; with the cloud unreachable the next agent runs them from last-known-good', async () => {
    const device = newDevice('e2e-offline');
    const { manifest, markers } = modulesWithMarkers(2, 'offline');
    serveDeployment(device.deviceId, 7, manifest);
    await nc.flush();
    const first = await runAgent(device.config(server.url));
    await waitFor(() => oneEach(markers), { timeoutMs: 60_000, what: 'modules running' });
    await waitFor(() => logsWithMsg(first, 'deployment is last-known-good').length > 0, { what: 'last-known-good' });
    const pids = markers.map((marker) => pidsWithMarker(marker)[0]);

    // A clean stop leaves them running (decided: modules survive agent restarts).
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(markers.map((marker) => pidsWithMarker(marker)[0])).toEqual(pids);

    // The device reboots: modules gone, and the cloud is unreachable (nothing listens on the configured port).
    for (const pid of pids) process.kill(pid!, 'SIGKILL');
    await waitFor(() => markers.every((marker) => pidsWithMarker(marker).length === 0), { what: 'modules gone' });
    const deadPort = await getFreePort();
    const second = await runAgent(device.config(`nats://127.0.0.1:${deadPort}`));
    await waitFor(() => oneEach(markers), { timeoutMs: 60_000, what: 'modules back from last-known-good' });
    const started = markers.map((marker) => pidsWithMarker(marker)[0]);
    expect(started).not.toEqual(pids);
    expect(logsWithMsg(second, 'applying the last-known-good deployment')).toHaveLength(1);
  });

  it('a cloud update whose new version crashes is rolled back: ROLLED_BACK reported, the old version runs again', async () => {
    const device = newDevice('e2e-rollback');
    const marker = uniqueMarker('rb');
    markersUsed.push(marker);
    const agent = { restartBackoffUnitSecs: 0.05, restartBackoffCapSecs: 0.1, maxRestarts: 1000 };
    const app = (version: string, script: string): ManifestInput => ({
      schemaVersion: '1.0',
      agent: { ...agent, healthyWithinSecs: 1.5 },
      modules: {
        app: { type: 'process', version, process: { command: process.execPath, args: ['-e', script, marker] } },
      },
    });
    const deploy = serveDeployment(device.deviceId, 1, app('1', FOREVER));
    const reports = reportsOf(device.deviceId);
    await nc.flush();
    const proc = await runAgent(device.config(server.url));
    await waitFor(() => reports.find((r) => r.desired.version === 1 && r.modules.app?.status === 'running'), {
      what: 'version 1 running',
    });

    deploy(2, app('2', `console.log('started'); process.exit(3)`));
    const rolledBack = await waitFor(() => reports.find((r) => r.desired.description.startsWith('ROLLED_BACK:')), {
      timeoutMs: 60_000,
      what: 'a ROLLED_BACK report',
    });
    expect(rolledBack.desired).toMatchObject({ version: 2, code: 500, source: 'cloud', deploymentId: 'dep-2' });
    expect(rolledBack.desired.description).toMatch(/module app: .*restored version 1 \(dep-1\)$/);
    await waitFor(
      () =>
        reports.find(
          (r) => r.seq > rolledBack.seq && r.modules.app?.version === '1' && r.modules.app.status === 'running',
        ),
      { what: 'version 1 running again' },
    );
    expect(pidsWithMarker(marker)).toHaveLength(1);
    const good = logsWithMsg(proc, 'deployment is last-known-good').map((line) => line.version);
    expect(good).toEqual([1]);

    // The rolled-back version is remembered as refused: a restarted agent (the cloud still offers version 2) keeps
    // version 1 running and does not try version 2 again.
    const runningPid = pidsWithMarker(marker)[0];
    expect(await proc.stop('SIGTERM')).toBe(0);
    const restarted = await runAgent(device.config(server.url, { logLevel: 'debug' }));
    await waitFor(() => logsWithMsg(restarted, 'connected').length > 0, { what: 'the restarted agent to connect' });
    await waitFor(
      () =>
        reports.find(
          (r) => r.bootId !== rolledBack.bootId && r.desired.version === 1 && r.modules.app?.status === 'running',
        ),
      { what: 'the restarted agent to report version 1 running' },
    );
    // Its first pull is answered with version 2 again, which it now ignores as already seen (refused).
    const ignored = await waitFor(
      () => logsWithMsg(restarted, 'stale cloud deployment ignored').find((line) => line.version === 2),
      { what: 'the restarted agent to ignore version 2' },
    );
    expect(ignored).toMatchObject({ seen: 2, outcome: 'refused' });
    const retried = logsWithMsg(restarted, 'deployment accepted; applying').filter((line) => line.version === 2);
    expect(retried).toEqual([]);
    expect(pidsWithMarker(marker)).toEqual([runningPid]);
  });

  it('with modulesOnAgentStop "stop" (the dev stack), stopping the agent stops its modules', async () => {
    const device = newDevice('e2e-stop');
    const { manifest, markers } = modulesWithMarkers(2, 'stop');
    serveDeployment(device.deviceId, 1, manifest);
    await nc.flush();
    const agent = await runAgent(device.config(server.url, { modulesOnAgentStop: 'stop' }));
    await waitFor(() => oneEach(markers), { timeoutMs: 60_000, what: 'modules running' });
    expect(await agent.stop('SIGTERM')).toBe(0);
    expect(markers.flatMap((marker) => pidsWithMarker(marker))).toEqual([]);
  });
});
