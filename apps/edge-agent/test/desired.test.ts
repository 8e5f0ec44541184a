import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  canonicalJsonBytes,
  DEPLOYMENT_TYPE,
  generateSigningKey,
  type SignedDeployment,
  type SigningKeyPair,
  signDeployment,
} from '@outpost/manifest';
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
import { type NatsServerHandle, startNatsServer, startSecureNatsServer, waitFor } from '@outpost/testing';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentConnection } from '../src/connection/index.js';
import { DesiredStateClient } from '../src/desired/index.js';
import { appManifest, RecordingSink } from './desired-fixtures.js';
import { makeTempDir, removeTempDirs, uniqueDeviceId } from './helpers.js';

interface LogRecord {
  readonly msg: string;
  readonly code?: string;
  readonly level: number;
  readonly [key: string]: unknown;
}

function recordingLogger() {
  const lines: LogRecord[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as LogRecord) });
  return { log, lines };
}

type WireSigned = Extract<MessageInput<typeof DesiredGetReplyV1>, { status: 'current' }>['signed'];

/** Plays the cloud's side of desired.get for one device: answers with whatever `deploy` last set. */
class FakeCloud {
  version = 0;
  signed: WireSigned = null;
  readonly knownVersions: (number | null)[] = [];
  constructor(
    private readonly nc: NatsConnection,
    private readonly deviceId: string,
    private readonly key: SigningKeyPair,
  ) {
    nc.subscribe(subjects.device.desiredGet(deviceId), {
      callback: (err, msg) => {
        if (err) return;
        const { knownVersion } = decodeMessage(DesiredGetRequestV1, msg.data);
        this.knownVersions.push(knownVersion);
        const reply: MessageInput<typeof DesiredGetReplyV1> =
          knownVersion !== null && knownVersion === this.version
            ? { status: 'unchanged' as const, version: this.version }
            : {
                status: 'current' as const,
                version: this.version,
                manifest: null,
                signature: null,
                signed: this.signed,
              };
        msg.respond(encodeReply(DesiredGetReplyV1, reply));
      },
    });
  }

  /** Signs and stores a deployment as the cloud API does (without notifying). */
  deploy(version: number, tag = `v${version}`, overrides: { deviceId?: string; key?: SigningKeyPair } = {}): void {
    const envelope = signDeployment(
      { id: `dep-${version}`, deviceId: overrides.deviceId ?? this.deviceId, version, manifest: appManifest(tag) },
      overrides.key ?? this.key,
    );
    this.setRaw(version, envelope);
  }

  setRaw(version: number, signed: SignedDeployment | Record<string, unknown> | null): void {
    this.version = version;
    this.signed = signed === null ? null : (JSON.parse(JSON.stringify(signed)) as WireSigned);
  }

  notify(): void {
    this.nc.publish(
      subjects.device.desiredChanged(this.deviceId),
      encodeMessage(DesiredChangedV1, { version: this.version, changedAt: new Date().toISOString() }),
    );
  }
}

/** A deployment signed over whatever manifest it is given (signDeployment refuses invalid ones; a newer cloud may not). */
function signRaw(
  key: SigningKeyPair,
  deviceId: string,
  version: number,
  rawManifest: unknown,
): Record<string, unknown> {
  const deployment = {
    type: DEPLOYMENT_TYPE,
    id: `dep-${version}`,
    deviceId,
    version,
    createdAt: new Date().toISOString(),
    manifest: rawManifest,
  };
  const value = cryptoSign(null, canonicalJsonBytes(deployment), createPrivateKey(key.privateKey)).toString(
    'base64url',
  );
  return { deployment, signature: { alg: 'ed25519', keyId: key.keyId, value } };
}

const cloudKey = generateSigningKey();
let server: NatsServerHandle;
let cloudNc: NatsConnection;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  server = await startNatsServer();
  cloudNc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await cloudNc?.close();
  await server?.stop();
  removeTempDirs();
});

interface Device {
  readonly deviceId: string;
  readonly stateDir: string;
  readonly sink: RecordingSink;
  readonly client: DesiredStateClient;
  readonly connection: AgentConnection;
  readonly lines: LogRecord[];
}

/** A device with the cloud key in trusted-keys.json, a recording sink and the client started. */
async function startDevice(
  options: {
    deviceId?: string;
    stateDir?: string;
    refreshMs?: number;
    servers?: string[];
    sink?: RecordingSink;
    connect?: boolean;
    allowUnsignedLocal?: boolean;
    credsFile?: string;
    caFile?: string;
  } = {},
): Promise<Device> {
  const deviceId = options.deviceId ?? uniqueDeviceId('desired');
  const stateDir = options.stateDir ?? makeTempDir();
  writeFileSync(
    join(stateDir, 'trusted-keys.json'),
    JSON.stringify([{ keyId: cloudKey.keyId, publicKey: cloudKey.publicKey }]),
  );
  const { log, lines } = recordingLogger();
  const connection = new AgentConnection({
    servers: options.servers ?? [server.url],
    name: `test ${deviceId}`,
    inboxPrefix: subjects.device.inboxPrefix(deviceId),
    credsFile: options.credsFile ?? null,
    caFile: options.caFile ?? null,
    log,
  });
  const sink = options.sink ?? new RecordingSink();
  const client = new DesiredStateClient({
    config: {
      deviceId,
      stateDir,
      allowUnsignedLocal: options.allowUnsignedLocal ?? false,
      desiredRefreshIntervalMs: options.refreshMs ?? 600_000,
    },
    connection,
    sink,
    log,
  });
  await client.start();
  if (options.connect !== false) connection.start();
  cleanups.push(async () => {
    client.stop();
    await connection.close();
  });
  return { deviceId, stateDir, sink, client, connection, lines };
}

function waitForApplied(sink: RecordingSink, count: number, what: string) {
  return waitFor(() => sink.applied.length >= count, { timeoutMs: 30_000, what });
}

describe('desired-state client against a real nats-server', () => {
  it('pulls on start and applies the verified deployment with the signed envelope attached', async () => {
    const deviceId = uniqueDeviceId('start');
    const cloud = new FakeCloud(cloudNc, deviceId, cloudKey);
    cloud.deploy(1, 'first');
    await cloudNc.flush();
    const device = await startDevice({ deviceId });
    await waitForApplied(device.sink, 1, 'the deployment pulled on start');
    const [applied] = device.sink.applied;
    expect(applied).toMatchObject({ source: 'cloud', id: 'dep-1', version: 1 });
    expect(applied?.manifest.modules.app?.version).toBe('first');
    expect(applied?.signed).toEqual(cloud.signed);
    expect(device.sink.refused).toEqual([]);
    const record = JSON.parse(readFileSync(join(device.stateDir, 'desired-state.json'), 'utf8'));
    expect(record.cloud).toEqual({ version: 1, outcome: 'applied' });
  });

  it('pulls when the cloud notifies a change, and only then (no refresh in between)', async () => {
    const deviceId = uniqueDeviceId('notify');
    const cloud = new FakeCloud(cloudNc, deviceId, cloudKey);
    cloud.deploy(1);
    await cloudNc.flush();
    const device = await startDevice({ deviceId });
    await waitForApplied(device.sink, 1, 'the first deployment');
    cloud.deploy(2, 'second');
    cloud.notify();
    await waitForApplied(device.sink, 2, 'the deployment announced by desired.changed');
    expect(device.sink.versions()).toEqual([1, 2]);
    // The second pull told the cloud what it already had.
    expect(cloud.knownVersions).toEqual([null, 1]);
  });

  it('pulls every desiredRefreshIntervalMs even without a notification', async () => {
    const deviceId = uniqueDeviceId('refresh');
    const cloud = new FakeCloud(cloudNc, deviceId, cloudKey);
    cloud.deploy(1);
    await cloudNc.flush();
    const device = await startDevice({ deviceId, refreshMs: 300 });
    await waitForApplied(device.sink, 1, 'the first deployment');
    cloud.deploy(2);
    await waitForApplied(device.sink, 2, 'the deployment found by the periodic refresh');
    // Refreshes with nothing new are answered "unchanged" and apply nothing.
    await waitFor(() => cloud.knownVersions.filter((v) => v === 2).length >= 2, { what: 'two more refreshes' });
    expect(device.sink.versions()).toEqual([1, 2]);
  });

  it('ignores stale versions silently and never re-applies one, even after a restart', async () => {
    const deviceId = uniqueDeviceId('stale');
    const cloud = new FakeCloud(cloudNc, deviceId, cloudKey);
    cloud.deploy(5);
    await cloudNc.flush();
    const first = await startDevice({ deviceId, refreshMs: 200 });
    await waitForApplied(first.sink, 1, 'version 5');
    // The cloud goes back to an older version (restored database, replayed message): never applied.
    cloud.deploy(3, 'older');
    await waitFor(() => first.lines.filter((l) => l.msg === 'stale cloud deployment ignored').length >= 2, {
      what: 'stale version ignored on refresh',
    });
    expect(first.sink.versions()).toEqual([5]);
    expect(first.sink.refused).toEqual([]);

    // A new process on the same state dir (same version 5 still desired, no LKG saved): 5 was applied but never
    // became last-known-good, so it is applied once more; 3 never.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    cloud.deploy(5);
    const second = await startDevice({ deviceId, stateDir: first.stateDir, refreshMs: 200 });
    await waitForApplied(second.sink, 1, 'the interrupted version 5 applied once more');
    await waitFor(() => cloud.knownVersions.filter((v) => v === 5).length >= 3, { what: 'later refreshes' });
    expect(second.sink.versions()).toEqual([5]);
  });

  it('refuses unsigned, tampered, unknown-key and wrong-device deployments with 412 and applies none', async () => {
    const deviceId = uniqueDeviceId('refuse');
    const cloud = new FakeCloud(cloudNc, deviceId, cloudKey);
    cloud.deploy(1);
    await cloudNc.flush();
    const device = await startDevice({ deviceId });
    await waitForApplied(device.sink, 1, 'the good first deployment');

    const good = signDeployment({ id: 'dep-2', deviceId, version: 2, manifest: appManifest('two') }, cloudKey);
    cloud.setRaw(2, { deployment: good.deployment });
    cloud.notify();
    await waitFor(() => device.sink.refused.length >= 1, { what: 'unsigned refused' });

    const tampered = JSON.parse(
      JSON.stringify(signDeployment({ id: 'dep-3', deviceId, version: 3, manifest: appManifest('three') }, cloudKey)),
    );
    tampered.deployment.manifest.modules.app.process.command = 'bin/evil';
    cloud.setRaw(3, tampered);
    cloud.notify();
    await waitFor(() => device.sink.refused.length >= 2, { what: 'tampered refused' });

    cloud.deploy(4, 'stranger', { key: generateSigningKey() });
    cloud.notify();
    await waitFor(() => device.sink.refused.length >= 3, { what: 'unknown key refused' });

    cloud.deploy(5, 'other', { deviceId: 'someone-else' });
    cloud.notify();
    await waitFor(() => device.sink.refused.length >= 4, { what: 'wrong device refused' });

    expect(device.sink.versions()).toEqual([1]);
    expect(device.sink.refused.map((r) => [r.version, r.source, r.outcome.code])).toEqual([
      [2, 'cloud', 412],
      [3, 'cloud', 412],
      [4, 'cloud', 412],
      [5, 'cloud', 412],
    ]);
    const descriptions = device.sink.refused.map((r) => r.outcome.description);
    expect(descriptions[0]).toMatch(/UNSIGNED/);
    expect(descriptions[1]).toMatch(/BAD_SIGNATURE/);
    expect(descriptions[2]).toMatch(/UNKNOWN_KEY/);
    expect(descriptions[3]).toMatch(/WRONG_TARGET.*someone-else/);
    expect(device.lines.filter((l) => l.code === 'DEPLOYMENT_REFUSED')).toHaveLength(4);

    // A refused version is not refused (or reported) again on the next pull.
    await device.client.refresh();
    expect(device.sink.refused).toHaveLength(4);

    // Nor after a restart: desired-state.json remembers version 5 was refused.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    const restarted = await startDevice({ deviceId, stateDir: device.stateDir });
    await waitFor(() => restarted.lines.some((l) => l.msg === 'stale cloud deployment ignored'), {
      what: 'the refused version ignored after a restart',
    });
    expect(restarted.sink.refused).toEqual([]);
    expect(restarted.sink.applied).toEqual([]);

    // The next good version still applies.
    cloud.deploy(6);
    cloud.notify();
    await waitForApplied(restarted.sink, 1, 'version 6 after the refusals');
    expect(restarted.sink.versions()).toEqual([6]);
  });

  it('refuses a validly signed deployment whose manifest is invalid with 400 and every error path', async () => {
    const deviceId = uniqueDeviceId('invalid');
    const cloud = new FakeCloud(cloudNc, deviceId, cloudKey);
    cloud.setRaw(
      1,
      signRaw(cloudKey, deviceId, 1, {
        schemaVersion: '1.0',
        modules: {
          app: { type: 'banana' },
          web: { type: 'process', restartPolicy: 'sometimes', process: { command: 'x' } },
        },
      }),
    );
    await cloudNc.flush();
    const device = await startDevice({ deviceId });
    await waitFor(() => device.sink.refused.length >= 1, { what: 'the invalid deployment refused' });
    const [refusal] = device.sink.refused;
    expect(refusal?.version).toBe(1);
    expect(refusal?.outcome.code).toBe(400);
    const paths = refusal?.outcome.errors?.map((e) => e.path);
    expect(paths).toContain('modules.app.type');
    expect(paths).toContain('modules.web.restartPolicy');
    expect(device.sink.applied).toEqual([]);
  });

  it('reports 417 when nothing is deployed to the device', async () => {
    const deviceId = uniqueDeviceId('none');
    new FakeCloud(cloudNc, deviceId, cloudKey);
    await cloudNc.flush();
    const device = await startDevice({ deviceId });
    await waitFor(() => device.sink.refused.length >= 1, { what: '417 reported' });
    expect(device.sink.refused[0]).toMatchObject({ source: 'cloud', outcome: { code: 417 } });
    expect(device.sink.applied).toEqual([]);
  });

  it('pulls again after a reconnect (nats-server restarted) and picks up what changed meanwhile', async () => {
    const own = await startNatsServer();
    const ownCloudNc = await connect({ servers: own.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
    cleanups.push(async () => {
      await ownCloudNc.close();
      await own.stop();
    });
    const deviceId = uniqueDeviceId('reconnect');
    const cloud = new FakeCloud(ownCloudNc, deviceId, cloudKey);
    cloud.deploy(1);
    await ownCloudNc.flush();
    const device = await startDevice({ deviceId, servers: [own.url] });
    await waitForApplied(device.sink, 1, 'the first deployment');
    // Changed without a notification while the server is down: only the pull on reconnect can find it.
    await own.restart();
    cloud.deploy(2);
    await waitForApplied(device.sink, 2, 'the deployment pulled on reconnect');
    expect(device.sink.versions()).toEqual([1, 2]);
    expect(device.lines.some((l) => l.msg === 'connected' && l.reconnect === true)).toBe(true);
  });

  it('boots from the last-known-good with no NATS reachable', async () => {
    const deviceId = uniqueDeviceId('offline');
    const stateDir = makeTempDir();
    // A previous run saved version 1 as last-known-good.
    const earlier = await startDevice({ deviceId, stateDir, connect: false });
    const signed = signDeployment({ id: 'dep-1', deviceId, version: 1, manifest: appManifest('saved') }, cloudKey);
    await earlier.client.lastKnownGood.save({
      source: 'cloud',
      id: 'dep-1',
      version: 1,
      createdAt: signed.deployment.createdAt,
      manifest: signed.deployment.manifest,
      signed: JSON.parse(JSON.stringify(signed)),
    });
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();

    // Nothing listens on this port.
    const device = await startDevice({ deviceId, stateDir, servers: ['nats://127.0.0.1:1'] });
    await waitForApplied(device.sink, 1, 'the last-known-good applied offline');
    expect(device.sink.applied[0]).toMatchObject({ source: 'cloud', id: 'dep-1', version: 1 });
    expect(device.sink.applied[0]?.manifest.modules.app?.version).toBe('saved');
    await waitFor(() => device.lines.some((l) => l.code === 'NATS_CONNECT_FAILED'), { what: 'the failed connect' });
    expect(device.sink.refused).toEqual([]);
  });

  it('the most recent wins: a local deployment replaces the cloud one until the cloud has a newer version', async () => {
    const deviceId = uniqueDeviceId('precedence');
    const cloud = new FakeCloud(cloudNc, deviceId, cloudKey);
    cloud.deploy(1);
    await cloudNc.flush();
    const device = await startDevice({ deviceId, allowUnsignedLocal: true });
    await waitForApplied(device.sink, 1, 'cloud version 1');
    expect((await device.client.applyLocal(appManifest('on-site'))).code).toBe(200);
    // The cloud still says version 1: already seen, so the local deployment keeps running.
    await device.client.refresh();
    cloud.notify();
    await waitFor(() => cloud.knownVersions.length >= 3, { what: 'two more pulls' });
    await device.client.refresh();
    expect(device.sink.applied.map((d) => [d.source, d.manifest.modules.app?.version])).toEqual([
      ['cloud', 'v1'],
      ['local', 'on-site'],
    ]);
    cloud.deploy(2);
    cloud.notify();
    await waitForApplied(device.sink, 3, 'cloud version 2 replacing the local deployment');
    expect(device.sink.applied[2]).toMatchObject({ source: 'cloud', version: 2 });
  });

  it('works with production permissions: a device credential pulls and hears desired.changed (operator mode, TLS)', async () => {
    const secure = await startSecureNatsServer();
    const apiNc = await connect({
      servers: secure.url,
      tls: { caFile: secure.caFile },
      authenticator: credsAuthenticator(readFileSync(secure.serviceCreds.cloudApi)),
      inboxPrefix: subjects.cloudApi.inboxPrefix,
    });
    cleanups.push(async () => {
      await apiNc.close();
      await secure.stop();
    });
    const deviceId = uniqueDeviceId('secure');
    const creds = await secure.mintDeviceCreds(deviceId);
    const cloud = new FakeCloud(apiNc, deviceId, cloudKey);
    cloud.deploy(1);
    await apiNc.flush();
    const device = await startDevice({
      deviceId,
      servers: [secure.url],
      credsFile: creds.credsFile,
      caFile: secure.caFile,
    });
    await waitForApplied(device.sink, 1, 'the deployment pulled with a device credential');
    cloud.deploy(2);
    cloud.notify();
    await waitForApplied(device.sink, 2, 'the deployment announced by desired.changed');
    expect(device.sink.versions()).toEqual([1, 2]);
    expect(device.lines.filter((l) => l.code === 'NATS_SERVER_ERROR')).toEqual([]);
  });

  it('refuses with 412 naming trusted-keys.json while it is broken, and applies the same version once it is fixed', async () => {
    const deviceId = uniqueDeviceId('badtrust');
    const cloud = new FakeCloud(cloudNc, deviceId, cloudKey);
    cloud.deploy(1);
    await cloudNc.flush();
    const device = await startDevice({ deviceId, connect: false });
    const trustFile = join(device.stateDir, 'trusted-keys.json');
    const good = readFileSync(trustFile, 'utf8');
    writeFileSync(trustFile, '[{"keyId": "nope"');
    // A broken device-local key must not get in the way of the cloud's deployments.
    writeFileSync(join(device.stateDir, 'local-signing-key.pem'), 'not a key');
    device.connection.start();
    await waitFor(() => device.sink.refused.length >= 1, { what: 'the refusal' });
    expect(device.sink.refused[0]?.outcome.code).toBe(412);
    expect(device.sink.refused[0]?.outcome.description).toContain(trustFile);
    writeFileSync(trustFile, good);
    await device.client.refresh();
    await waitForApplied(device.sink, 1, 'version 1 once the keys are readable');
    expect(device.sink.applied[0]?.version).toBe(1);
  });
});
