// The desired-state client feeding the real Runtime and ProcessDriver: a deployment from a (test) cloud runs real
// processes and becomes last-known-good on disk; refused deployments leave them untouched; a device rebooted with no
// cloud brings its modules back from the last-known-good.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey, type ManifestInput, signDeployment } from '@outpost/manifest';
import {
  DesiredChangedV1,
  DesiredGetReplyV1,
  DesiredGetRequestV1,
  decodeMessage,
  encodeMessage,
  encodeReply,
  type MessageInput,
  subjects,
} from '@outpost/protocol';
import { type NatsServerHandle, startNatsServer, waitFor } from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentConnection } from '../src/connection/index.js';
import { DesiredStateClient, LastKnownGoodStore } from '../src/desired/index.js';
import { makeTempDir, removeTempDirs, uniqueDeviceId } from './helpers.js';
import {
  cleanupRuntimes,
  FOREVER,
  logger,
  modulesDir,
  newProcessDriver,
  newRuntime,
  nodeModule,
  pidsWithMarker,
  uniqueMarker,
  waitForStatus,
} from './runtime-fixtures.js';

type WireSigned = Extract<MessageInput<typeof DesiredGetReplyV1>, { status: 'current' }>['signed'];

const cloudKey = generateSigningKey();
let server: NatsServerHandle;
let cloudNc: NatsConnection;
const stops: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  cloudNc = await connect({ servers: server.url });
});
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  await cleanupRuntimes();
});
afterAll(async () => {
  await cloudNc?.close();
  await server?.stop();
  removeTempDirs();
});

/** Answers desired.get for one device with the current signed deployment. */
function fakeCloud(deviceId: string) {
  const state: { version: number; signed: WireSigned } = { version: 0, signed: null };
  cloudNc.subscribe(subjects.device.desiredGet(deviceId), {
    callback: (err, msg) => {
      if (err) return;
      decodeMessage(DesiredGetRequestV1, msg.data);
      msg.respond(
        encodeReply(DesiredGetReplyV1, {
          status: 'current',
          version: state.version,
          manifest: null,
          signature: null,
          signed: state.signed,
        }),
      );
    },
  });
  return {
    set(version: number, signed: unknown) {
      state.version = version;
      state.signed = JSON.parse(JSON.stringify(signed)) as WireSigned;
      cloudNc.publish(
        subjects.device.desiredChanged(deviceId),
        encodeMessage(DesiredChangedV1, { version, changedAt: new Date().toISOString() }),
      );
    },
  };
}

function manifestWith(marker: string): ManifestInput {
  return { schemaVersion: '1.0', modules: { worker: nodeModule(FOREVER, marker) } } as ManifestInput;
}

/** One agent run: a Runtime over the modules dir, the LKG store and the client, wired as agent.ts does. */
async function agentRun(deviceId: string, stateDir: string, dir: string, servers: string[]) {
  const store = new LastKnownGoodStore({ stateDir, deviceId, allowUnsignedLocal: false, log: logger });
  const lkg = await store.load();
  const { runtime } = await newRuntime(dir, { lastKnownGood: lkg, saveLastKnownGood: (d) => store.save(d) });
  const connection = new AgentConnection({
    servers,
    name: `test ${deviceId}`,
    inboxPrefix: subjects.device.inboxPrefix(deviceId),
    log: logger,
  });
  const client = new DesiredStateClient({
    config: { deviceId, stateDir, allowUnsignedLocal: false, desiredRefreshIntervalMs: 600_000 },
    connection,
    sink: runtime,
    log: logger,
    lastKnownGood: store,
  });
  await client.start({ lastKnownGood: lkg });
  connection.start();
  stops.push(async () => {
    client.stop();
    await connection.close();
  });
  return { runtime, store, client };
}

describe('desired-state client with the real runtime', () => {
  it('runs a cloud deployment, keeps it as last-known-good, refuses a tampered one without touching the module, and brings it back offline after a reboot', async () => {
    const deviceId = uniqueDeviceId('e2e');
    const stateDir = makeTempDir();
    writeFileSync(
      join(stateDir, 'trusted-keys.json'),
      JSON.stringify([{ keyId: cloudKey.keyId, publicKey: cloudKey.publicKey }]),
    );
    const dir = modulesDir();
    const cloud = fakeCloud(deviceId);
    await cloudNc.flush();
    const marker = uniqueMarker('desired');
    cloud.set(1, signDeployment({ id: 'dep-1', deviceId, version: 1, manifest: manifestWith(marker) }, cloudKey));

    const first = await agentRun(deviceId, stateDir, dir, [server.url]);
    await waitForStatus(first.runtime, 'worker', 'running');
    await waitFor(async () => (await first.store.load())?.version === 1, {
      what: 'version 1 saved as last-known-good',
    });
    const [pid] = pidsWithMarker(marker);
    expect(pid).toBeDefined();

    // A tampered version 2: refused, reported 412, the module keeps running as it was.
    const tampered = JSON.parse(
      JSON.stringify(
        signDeployment({ id: 'dep-2', deviceId, version: 2, manifest: manifestWith(uniqueMarker('evil')) }, cloudKey),
      ),
    );
    tampered.deployment.manifest.modules.worker.process.args[0] = 'process.exit(3)';
    cloud.set(2, tampered);
    await waitFor(() => first.runtime.deployment().code === 412, { what: 'the 412 in the runtime status' });
    expect(first.runtime.deployment().description).toMatch(/BAD_SIGNATURE/);
    expect(pidsWithMarker(marker)).toEqual([pid]);
    expect((await first.store.load())?.version).toBe(1);

    // Reboot: the agent stops, the machine's processes are gone, and no cloud is reachable.
    for (const stop of stops.splice(0).reverse()) await stop();
    await first.runtime.stop();
    const driver = newProcessDriver(dir);
    for (const instance of await driver.list()) await driver.remove(instance.name, 2_000);
    await driver.close();
    expect(pidsWithMarker(marker)).toEqual([]);

    const second = await agentRun(deviceId, stateDir, dir, ['nats://127.0.0.1:1']);
    await waitForStatus(second.runtime, 'worker', 'running');
    expect(pidsWithMarker(marker)).toHaveLength(1);
    expect(second.runtime.deployment()).toMatchObject({ source: 'cloud', version: 1 });
  });
});
