import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ARTIFACTS_BUCKET, parseArtifactRef, subjects } from '@outpost/protocol';
import {
  createTestDatabase,
  type SecureNatsServerHandle,
  startSecureNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, personWithRole, secureNatsEnv, startTestApp, type TestApp } from './helpers.js';

/**
 * Artifacts go into the JetStream object store through the API, and devices read them with their own credentials
 * (operator mode, TLS) — and can neither write nor delete them.
 */

const LIMIT = 8 * 1024 * 1024;

let nats: SecureNatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let operator: string;
let cloud: NatsConnection;
const connections: NatsConnection[] = [];

interface Uploaded {
  ref: string;
  sha256: string;
  size: number;
  bucket: string;
  object: string;
}

async function upload(
  name: string,
  body: Uint8Array | ReadableStream<Uint8Array>,
  options: { token?: string; contentType?: string } = {},
): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${app.url}/api/v1/artifacts?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${options.token ?? operator}`,
      'content-type': options.contentType ?? 'application/octet-stream',
    },
    body,
    // A stream body is sent chunked, without a content-length.
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
  return { status: response.status, body: await response.json() };
}

/** What the agent does to fetch an artifact, with the device's own credential. */
async function readAsDevice(nc: NatsConnection, object: string): Promise<Buffer> {
  const store = await nc.jetstream().views.os(ARTIFACTS_BUCKET);
  const result = await store.get(object);
  if (!result) throw new Error(`artifact ${object} not found`);
  const chunks: Uint8Array[] = [];
  const reader = result.data.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
  }
  if ((await result.error) !== null && (await result.error) !== undefined) throw await result.error;
  return Buffer.concat(chunks);
}

async function deviceConnection(deviceId: string): Promise<NatsConnection> {
  const creds = await nats.mintDeviceCreds(deviceId);
  const nc = await connect({
    servers: nats.url,
    tls: { caFile: nats.caFile },
    authenticator: credsAuthenticator(readFileSync(creds.credsFile)),
    inboxPrefix: subjects.device.inboxPrefix(deviceId),
  });
  connections.push(nc);
  return nc;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  [nats, database] = await Promise.all([startSecureNatsServer(), createTestDatabase()]);
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: { ...secureNatsEnv(nats), OUTPOST_ARTIFACT_MAX_BYTES: String(LIMIT) },
  });
  await waitFor(async () => (await api(app, '/healthz')).status === 200, { what: 'the API to reach NATS over TLS' });
  operator = (await personWithRole(app, 'operator')).token;
  // The cloud API's own credential, to look at the bucket from outside the device.
  cloud = await connect({
    servers: nats.url,
    tls: { caFile: nats.caFile },
    authenticator: credsAuthenticator(readFileSync(nats.serviceCreds.cloudApi)),
    inboxPrefix: subjects.cloudApi.inboxPrefix,
  });
  connections.push(cloud);
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await app?.close();
  await nats?.stop();
  await database?.drop();
});

describe('POST /api/v1/artifacts', () => {
  it('stores the bytes under a name with their sha256; a device reads them with its own credential', async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const { status, body } = await upload('sensor-1.0.tar.gz', bytes);
    expect(status, JSON.stringify(body)).toBe(201);
    const uploaded = body as Uploaded;
    expect(uploaded).toEqual({
      ref: `os://${ARTIFACTS_BUCKET}/sensor-1.0.tar.gz-sha256-${sha256(bytes)}`,
      sha256: sha256(bytes),
      size: bytes.length,
      bucket: ARTIFACTS_BUCKET,
      object: `sensor-1.0.tar.gz-sha256-${sha256(bytes)}`,
    });
    expect(parseArtifactRef(uploaded.ref)).toEqual({
      kind: 'object-store',
      bucket: ARTIFACTS_BUCKET,
      name: uploaded.object,
    });

    const device = await deviceConnection('artifact-reader-01');
    const read = await readAsDevice(device, uploaded.object);
    expect(read.length).toBe(bytes.length);
    expect(sha256(read)).toBe(uploaded.sha256);

    // Audited with the object and its digest.
    const audit = await api(app, '/api/v1/audit?action=artifact.upload', { token: app.adminToken });
    expect((audit.body as { items: { target: { id: string }; details: { sha256: string } }[] }).items[0]).toMatchObject(
      { target: { id: uploaded.object }, details: { sha256: uploaded.sha256 } },
    );
  });

  it('never overwrites: other contents under the same name get another object; the same contents the same one', async () => {
    const a = randomBytes(1000);
    const b = randomBytes(1000);
    const first = (await upload('tool.bin', a)).body as Uploaded;
    const second = (await upload('tool.bin', b)).body as Uploaded;
    const again = await upload('tool.bin', a);
    expect(again.status).toBe(201);
    expect(second.ref).not.toBe(first.ref);
    expect((again.body as Uploaded).ref).toBe(first.ref);
    const device = await deviceConnection('artifact-reader-02');
    expect(sha256(await readAsDevice(device, first.object))).toBe(sha256(a));
    expect(sha256(await readAsDevice(device, second.object))).toBe(sha256(b));
  });

  it('does not let a device write or delete artifacts', async () => {
    const bytes = randomBytes(5000);
    const uploaded = (await upload('keep-me.bin', bytes)).body as Uploaded;
    const device = await deviceConnection('artifact-writer-01');
    const store = await device.jetstream().views.os(ARTIFACTS_BUCKET);
    await expect(store.putBlob({ name: 'planted.bin' }, randomBytes(100))).rejects.toThrow(/Permissions Violation/);
    await expect(store.delete(uploaded.object)).rejects.toThrow(/Permissions Violation/);
    // A raw publish into the bucket's subjects is dropped by the server too.
    device.publish(`$O.${ARTIFACTS_BUCKET}.C.planted`, new Uint8Array([1, 2, 3]));
    await device.flush();

    const cloudStore = await cloud.jetstream().views.os(ARTIFACTS_BUCKET);
    expect(await cloudStore.info('planted.bin')).toBeNull();
    const kept = await cloudStore.info(uploaded.object);
    expect(kept?.deleted).toBeFalsy();
    expect(sha256(await readAsDevice(device, uploaded.object))).toBe(sha256(bytes));
    const stream = await (await cloud.jetstreamManager()).streams.info(`OBJ_${ARTIFACTS_BUCKET}`);
    const subjectsInStream = await (await cloud.jetstreamManager()).streams
      .getMessage(stream.config.name, {
        last_by_subj: `$O.${ARTIFACTS_BUCKET}.C.planted`,
      })
      .catch((err: Error) => err);
    expect(subjectsInStream).toBeInstanceOf(Error);
  });

  it('answers 413 above the size limit, with or without a content-length, and stores nothing', async () => {
    const tooBig = randomBytes(LIMIT + 1);
    const declared = await upload('big.bin', tooBig);
    expect(declared.status).toBe(413);
    expect(JSON.stringify(declared.body)).toContain(String(LIMIT));

    let sent = 0;
    const chunk = randomBytes(1024 * 1024);
    const streamed = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > LIMIT + chunk.length) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const chunked = await upload('big.bin', streamed);
    expect(chunked.status).toBe(413);

    const cloudStore = await cloud.jetstream().views.os(ARTIFACTS_BUCKET);
    const names: string[] = [];
    for (const info of await cloudStore.list()) names.push(info.name);
    expect(names.some((name) => name.startsWith('big.bin'))).toBe(false);
  });

  it('refuses a viewer, a JSON body, an empty body and a bad name', async () => {
    const viewer = (await personWithRole(app, 'viewer')).token;
    expect((await upload('x.bin', randomBytes(10), { token: viewer })).status).toBe(403);
    const json = await upload('x.bin', new TextEncoder().encode('{}'), { contentType: 'application/json' });
    expect(json.status).toBe(400);
    expect(json.body).toMatchObject({ details: [{ path: 'content-type' }] });
    expect((await upload('x.bin', new Uint8Array(0))).body).toMatchObject({ code: 'VALIDATION_FAILED' });
    const badName = await upload('../etc/passwd', randomBytes(10));
    expect(badName.status).toBe(400);
    expect(badName.body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'name' }] });
  });
});
