import { type TrustedKey, verifyDeployment } from '@outpost/manifest';
import {
  DesiredChangedV1,
  DesiredGetReplyV1,
  DesiredGetRequestV1,
  decodeMessage,
  decodeReply,
  encodeMessage,
  type MessageData,
  type MessageInput,
  ReportedStateV1,
  type SigningKeyList,
  subjects,
} from '@outpost/protocol';
import {
  createTestDatabase,
  type SecureNatsServerHandle,
  startSecureNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  connectAsDevice,
  personWithRole,
  registerDevice,
  secureNatsEnv,
  startTestApp,
  type TestApp,
} from './helpers.js';

/**
 * A deployment reaches one device, against NATS in operator mode with TLS and a real PostgreSQL: the API validates,
 * versions, signs, stores and announces it; the device — with its own credential — is notified, pulls it with
 * desired.get, verifies it with the keys the API publishes, and reports back.
 */

let nats: SecureNatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let operator: string;
let viewer: string;
const devices: NatsConnection[] = [];

const manifest = (command = './sensor', extra: Record<string, unknown> = {}) => ({
  schemaVersion: '1.0',
  modules: {
    sensor: {
      type: 'process',
      process: { command },
      env: { API_KEY: { value: 'hunter2-secret', secret: true }, LEVEL: { value: 'debug' } },
      ...extra,
    },
  },
});

/** A device connected with its own credential, as the agent connects. */
async function deviceConnection(deviceId: string): Promise<NatsConnection> {
  const nc = await connectAsDevice(nats, deviceId);
  devices.push(nc);
  return nc;
}

async function desiredGet(
  nc: NatsConnection,
  deviceId: string,
  knownVersion: number | null,
): Promise<MessageData<typeof DesiredGetReplyV1>> {
  const reply = await nc.request(
    subjects.device.desiredGet(deviceId),
    encodeMessage(DesiredGetRequestV1, { knownVersion }),
    { timeout: 10_000 },
  );
  return decodeReply(DesiredGetReplyV1, reply.data);
}

const put = (deviceId: string, body: unknown, token = operator, query = '') =>
  api(app, `/api/v1/devices/${deviceId}/deployment${query}`, { method: 'PUT', token, body });

interface PutBody {
  deviceId: string;
  version: number;
  id: string;
  createdAt: string;
  manifest: { modules: Record<string, { env?: Record<string, { value: unknown }> }> };
  signatureKeyId: string;
  warnings: { path: string; message: string }[];
}

beforeAll(async () => {
  [nats, database] = await Promise.all([startSecureNatsServer(), createTestDatabase()]);
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: { ...secureNatsEnv(nats), PRESENCE_FLUSH_INTERVAL_MS: '100' },
  });
  await waitFor(async () => (await api(app, '/healthz')).status === 200, { what: 'the API to reach NATS over TLS' });
  operator = (await personWithRole(app, 'operator')).token;
  viewer = (await personWithRole(app, 'viewer')).token;
});

afterAll(async () => {
  await Promise.allSettled(devices.map((nc) => nc.close()));
  await app?.close();
  await nats?.stop();
  await database?.drop();
});

describe('PUT /api/v1/devices/{id}/deployment', () => {
  it('stores, versions, signs and announces a deployment; the device pulls it and it verifies', async () => {
    await registerDevice(app, 'deploy-01');
    const device = await deviceConnection('deploy-01');
    const notifications: MessageData<typeof DesiredChangedV1>[] = [];
    device.subscribe(subjects.device.desiredChanged('deploy-01'), {
      callback: (err, msg) => {
        if (!err) notifications.push(decodeMessage(DesiredChangedV1, msg.data));
      },
    });
    await device.flush();

    // Nothing deployed yet: the device is told so.
    expect(await desiredGet(device, 'deploy-01', null)).toEqual({
      status: 'current',
      version: 0,
      manifest: null,
      signature: null,
      signed: null,
    });

    const first = await put('deploy-01', { manifest: manifest() });
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const body = first.body as PutBody;
    expect(body).toMatchObject({ deviceId: 'deploy-01', version: 1, warnings: [] });
    expect(body.id).toMatch(/^dep-/);
    // Secrets never come back; other values do.
    expect(body.manifest.modules.sensor?.env?.API_KEY?.value).toBe('[redacted]');
    expect(body.manifest.modules.sensor?.env?.LEVEL?.value).toBe('debug');
    expect(JSON.stringify(body)).not.toContain('hunter2-secret');

    await waitFor(() => notifications.find((n) => n.version === 1), { what: 'desired.changed for version 1' });

    const reply = await desiredGet(device, 'deploy-01', null);
    expect(reply.status).toBe('current');
    if (reply.status !== 'current') return;
    expect(reply.version).toBe(1);
    const keys = (await api(app, '/api/v1/signing-keys', { token: viewer })).body as SigningKeyList;
    const trusted: TrustedKey[] = keys.items.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey }));
    const verified = verifyDeployment(reply.signed, trusted, { expectedDeviceId: 'deploy-01', minVersion: 1 });
    expect(verified.ok, JSON.stringify(verified)).toBe(true);
    if (!verified.ok) return;
    expect(verified.keyId).toBe(body.signatureKeyId);
    expect(verified.deployment).toMatchObject({ id: body.id, version: 1, createdAt: body.createdAt });
    // The device gets the real secret: it must hand it to the module.
    expect(verified.deployment.manifest.modules.sensor?.env?.API_KEY?.value).toBe('hunter2-secret');
    // For 1.0 readers: the same signature in standard base64 and the same manifest.
    expect(reply.signature?.keyId).toBe(body.signatureKeyId);
    expect(Buffer.from(reply.signature?.value ?? '', 'base64').toString('base64url')).toBe(
      (reply.signed as { signature: { value: string } }).signature.value,
    );
    expect(reply.manifest).toEqual(verified.deployment.manifest);
    // Another device cannot use it.
    expect(verifyDeployment(reply.signed, trusted, { expectedDeviceId: 'deploy-02' })).toMatchObject({
      ok: false,
      code: 'WRONG_TARGET',
    });

    // Known version → unchanged; a newer deployment → version 2, announced, and 1 is stale for it.
    expect(await desiredGet(device, 'deploy-01', 1)).toEqual({ status: 'unchanged', version: 1 });
    const second = await put('deploy-01', { manifest: manifest('./sensor-v2') });
    expect((second.body as PutBody).version).toBe(2);
    await waitFor(() => notifications.find((n) => n.version === 2), { what: 'desired.changed for version 2' });
    const newer = await desiredGet(device, 'deploy-01', 1);
    expect(newer).toMatchObject({ status: 'current', version: 2 });

    const shown = await api(app, '/api/v1/devices/deploy-01/deployment', { token: viewer });
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({
      deviceId: 'deploy-01',
      desired: { version: 2, id: (second.body as PutBody).id, signatureKeyId: body.signatureKeyId },
      reported: null,
    });
    expect(JSON.stringify(shown.body)).not.toContain('hunter2-secret');

    // Audited, with who did it and the version.
    const audit = await api(app, '/api/v1/audit?action=deployment.create&targetId=deploy-01', {
      token: app.adminToken,
    });
    const records = (audit.body as { items: { details: { version: number } }[] }).items;
    expect(records.map((r) => r.details.version).sort()).toEqual([1, 2]);
  });

  it('answers 400 naming every invalid path in one error body, and stores nothing', async () => {
    await registerDevice(app, 'invalid-01');
    const bad = {
      schemaVersion: '1.0',
      modules: {
        a: { type: 'process', process: {} },
        b: { type: 'process', process: { command: 'x' }, restartPolicy: 'sometimes' },
        c: { type: 'teleport' },
      },
    };
    const { status, body } = await put('invalid-01', { manifest: bad });
    expect(status).toBe(400);
    const error = body as { code: string; details: { path: string; message: string }[] };
    expect(error.code).toBe('VALIDATION_FAILED');
    const paths = error.details.map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining(['manifest.modules.a.process.command', 'manifest.modules.b.restartPolicy']),
    );
    expect(paths.some((p) => p.startsWith('manifest.modules.c'))).toBe(true);

    expect((await put('invalid-01', {})).body).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [{ path: 'manifest' }],
    });
    expect((await put('invalid-01', { manifest: manifest(), extra: 1 })).body).toMatchObject({
      code: 'VALIDATION_FAILED',
      details: [{ path: 'extra' }],
    });
    const shown = await api(app, '/api/v1/devices/invalid-01/deployment', { token: viewer });
    expect(shown.body).toMatchObject({ desired: null });
  });

  it('answers 404 for an unknown device, and lets a viewer read but not deploy', async () => {
    expect((await put('nobody-here', { manifest: manifest() })).status).toBe(404);
    expect((await api(app, '/api/v1/devices/nobody-here/deployment', { token: viewer })).status).toBe(404);
    await registerDevice(app, 'roles-01');
    const refused = await put('roles-01', { manifest: manifest() }, viewer);
    expect(refused.status).toBe(403);
    expect((refused.body as { code: string }).code).toBe('FORBIDDEN');
    expect((await api(app, '/api/v1/devices/roles-01/deployment', { token: viewer })).body).toMatchObject({
      desired: null,
    });
    expect((await put('roles-01', { manifest: manifest() }, null as unknown as string)).status).toBe(401);
  });

  it('gives concurrent deployments to one device distinct, consecutive versions', async () => {
    await registerDevice(app, 'race-01');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => put('race-01', { manifest: manifest(`./sensor-${i}`) })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(8).fill(200));
    const versions = results.map((r) => (r.body as PutBody).version).sort((a, b) => a - b);
    expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const latest = await api(app, '/api/v1/devices/race-01/deployment', { token: viewer });
    expect((latest.body as { desired: { version: number } }).desired.version).toBe(8);
  });

  it('imports an Azure IoT Edge deployment with ?format=azure, and lists every import error otherwise', async () => {
    await registerDevice(app, 'azure-01');
    const azure = {
      modulesContent: {
        $edgeAgent: {
          'properties.desired': {
            schemaVersion: '1.1',
            runtime: { type: 'docker', settings: { minDockerVersion: 'v1.25' } },
            systemModules: {
              edgeAgent: { type: 'docker', settings: { image: 'mcr.microsoft.com/azureiotedge-agent:1.5' } },
              edgeHub: {
                type: 'docker',
                status: 'running',
                restartPolicy: 'always',
                settings: { image: 'mcr.microsoft.com/azureiotedge-hub:1.5' },
              },
            },
            modules: {
              sensor: {
                version: '1.0',
                type: 'docker',
                status: 'running',
                restartPolicy: 'always',
                env: { DB_PASSWORD: { value: 'pw-from-azure' } },
                settings: { image: 'contoso.azurecr.io/sensor:1.0', createOptions: '{}' },
              },
            },
          },
        },
        $edgeHub: { 'properties.desired': { schemaVersion: '1.2', routes: {} } },
      },
    };
    const imported = await put('azure-01', azure, operator, '?format=azure');
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    const body = imported.body as PutBody;
    expect(body.version).toBe(1);
    expect(Object.keys(body.manifest.modules)).toEqual(['sensor']);
    expect(JSON.stringify(body)).not.toContain('pw-from-azure');

    const broken = await put(
      'azure-01',
      { modulesContent: { $edgeAgent: { 'properties.desired': { schemaVersion: '9.9' } } } },
      operator,
      '?format=azure',
    );
    expect(broken.status).toBe(400);
    expect((broken.body as { details: unknown[] }).details.length).toBeGreaterThan(0);
    // Without ?format=azure the same document is no { manifest } body.
    expect((await put('azure-01', azure)).status).toBe(400);
    expect((await put('azure-01', azure, operator, '?format=yaml')).status).toBe(400);
  });
});

describe('reported state', () => {
  type Report = MessageInput<typeof ReportedStateV1>;
  const report = (bootId: string, seq: number, code: number, status: 'running' | 'failed'): Report => ({
    bootId,
    seq,
    reportedAt: new Date().toISOString(),
    desired: {
      version: 3,
      code,
      description: code === 200 ? 'applied' : 'module sensor failed',
      source: 'cloud',
      deploymentId: 'dep-x',
      errors: code === 200 ? [] : [{ path: 'modules.sensor', message: 'exited 1' }],
    },
    modules: {
      sensor: {
        status,
        exitCode: status === 'failed' ? 1 : null,
        restartCount: seq,
        lastStartedAt: new Date().toISOString(),
        lastExitedAt: null,
        type: 'process',
        version: '1.0',
      },
    },
  });

  /** The API logs each report it ignores: waiting for that line makes "it was handled and dropped" observable. */
  const ignored = (deviceId: string, seq: number) =>
    waitFor(
      () => app.logs.find((l) => l.msg === 'reported state ignored' && l.deviceId === deviceId && l.seq === seq),
      {
        what: `report seq ${seq} of ${deviceId} ignored`,
      },
    );

  interface ShownDevice {
    reported: { seq: number; bootId: string; receivedAt: string; desired: { code: number } } | null;
  }

  it('keeps the latest report per device, ignores an older one from the same boot, and shows it on the device', async () => {
    await registerDevice(app, 'report-01');
    const device = await deviceConnection('report-01');
    const shown = async () =>
      ((await api(app, '/api/v1/devices/report-01', { token: viewer })).body as ShownDevice).reported;
    expect(await shown()).toBeNull();

    const send = async (r: Report) => {
      device.publish(subjects.device.reported('report-01'), encodeMessage(ReportedStateV1, r));
      await device.flush();
    };
    await send(report('boot-a', 5, 500, 'failed'));
    const first = await waitFor(async () => (await shown())?.seq === 5 && (await shown()), {
      what: 'the first report stored',
    });
    expect(first).toMatchObject({
      bootId: 'boot-a',
      desired: { version: 3, code: 500, source: 'cloud', errors: [{ path: 'modules.sensor', message: 'exited 1' }] },
      modules: { sensor: { status: 'failed', exitCode: 1, restartCount: 5 } },
    });
    expect(Date.parse(first ? first.receivedAt : '')).not.toBeNaN();

    // An older report of the same boot arrives late: ignored (the API says so in its log), the stored one stays.
    await send(report('boot-a', 4, 200, 'running'));
    await ignored('report-01', 4);
    expect(await shown()).toMatchObject({ seq: 5, desired: { code: 500 } });
    // The same seq again is no newer either.
    await send(report('boot-a', 5, 200, 'running'));
    await ignored('report-01', 5);
    expect(await shown()).toMatchObject({ seq: 5, desired: { code: 500 } });
    // A newer one is stored; then the agent restarts: a new boot replaces it even with a lower seq.
    await send(report('boot-a', 7, 200, 'running'));
    await waitFor(async () => (await shown())?.seq === 7, { what: 'the newer report stored' });
    expect((await shown())?.desired.code).toBe(200);
    await send(report('boot-b', 0, 200, 'running'));
    await waitFor(async () => (await shown())?.bootId === 'boot-b', { what: 'the new boot’s report stored' });

    const both = await api(app, '/api/v1/devices/report-01/deployment', { token: viewer });
    expect(both.body).toMatchObject({ desired: null, reported: { bootId: 'boot-b', seq: 0 } });
    // Lists stay light: no reported state per item.
    const list = await api(app, '/api/v1/devices?idPrefix=report-01', { token: viewer });
    expect((list.body as { items: Record<string, unknown>[] }).items[0]).not.toHaveProperty('reported');
  });
});
