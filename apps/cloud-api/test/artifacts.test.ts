import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ARTIFACTS_BUCKET, ARTIFACTS_STREAM, parseArtifactRef, subjectMap, subjects } from '@outpost/protocol';
import {
  createTestDatabase,
  type SecureNatsServerHandle,
  startSecureNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { connect, credsAuthenticator, DiscardPolicy, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, connectAsDevice, personWithRole, secureNatsEnv, startTestApp, type TestApp } from './helpers.js';

/**
 * Artifacts go into the JetStream object store through the API, and devices read them with their own credentials
 * (operator mode, TLS) by JetStream direct gets only — and can neither write nor delete them, nor create a consumer
 * (whose deliver subject nats-server does not check).
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

const DIRECT_GET = subjectMap.artifactsDirectGet.build({});

/** One direct get as a device makes it: the stored message's data and sequence, or null for a 404. */
async function directGet(nc: NatsConnection, query: object): Promise<{ seq: number; data: Uint8Array } | null> {
  const reply = await nc.request(DIRECT_GET, JSON.stringify(query), { timeout: 10_000 });
  if (reply.data.length === 0 && reply.headers && reply.headers.code !== 0) {
    if (reply.headers.code === 404) return null;
    throw new Error(`direct get answered ${reply.headers.code} ${reply.headers.description}`);
  }
  return { seq: Number(reply.headers?.get('Nats-Sequence')), data: reply.data };
}

/**
 * What the agent does to fetch an artifact with the device's own credential (its ArtifactStore, tested in the agent):
 * the object's metadata, then its chunks, each by a direct get.
 */
async function readAsDevice(nc: NatsConnection, object: string): Promise<Buffer> {
  const metaSubject = `$O.${ARTIFACTS_BUCKET}.M.${Buffer.from(object).toString('base64').replaceAll('+', '-').replaceAll('/', '_')}`;
  const meta = await directGet(nc, { last_by_subj: metaSubject });
  if (!meta) throw new Error(`artifact ${object} not found`);
  const info = JSON.parse(Buffer.from(meta.data).toString()) as { nuid: string; chunks: number };
  const chunks: Uint8Array[] = [];
  let seq = 1;
  while (chunks.length < info.chunks) {
    const chunk = await directGet(nc, { seq, next_by_subj: `$O.${ARTIFACTS_BUCKET}.C.${info.nuid}` });
    if (!chunk) throw new Error(`artifact ${object} is truncated`);
    chunks.push(chunk.data);
    seq = chunk.seq + 1;
  }
  return Buffer.concat(chunks);
}

async function allowDirect(): Promise<boolean | undefined> {
  return (await (await cloud.jetstreamManager()).streams.info(ARTIFACTS_STREAM)).config.allow_direct;
}

/** Turns direct gets off on the bucket's stream, as on a bucket made by a client that does not set them. */
async function disallowDirect(): Promise<void> {
  const jsm = await cloud.jetstreamManager();
  const { config } = await jsm.streams.info(ARTIFACTS_STREAM);
  await jsm.streams.update(ARTIFACTS_STREAM, { ...config, allow_direct: false });
}

async function deviceConnection(deviceId: string): Promise<NatsConnection> {
  const nc = await connectAsDevice(nats, deviceId);
  connections.push(nc);
  return nc;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  [nats, database] = await Promise.all([startSecureNatsServer(), createTestDatabase()]);
  // The cloud API's own credential, to look at the bucket from outside the device.
  cloud = await connect({
    servers: nats.url,
    tls: { caFile: nats.caFile },
    authenticator: credsAuthenticator(readFileSync(nats.serviceCreds.cloudApi)),
    inboxPrefix: subjects.cloudApi.inboxPrefix,
  });
  connections.push(cloud);
  // A bucket that exists before the API starts, made without direct gets (as by a client that does not set them).
  await (await cloud.jetstreamManager()).streams.add({
    name: ARTIFACTS_STREAM,
    subjects: [`$O.${ARTIFACTS_BUCKET}.C.>`, `$O.${ARTIFACTS_BUCKET}.M.>`],
    allow_rollup_hdrs: true,
    discard: DiscardPolicy.New,
    allow_direct: false,
  });
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: { ...secureNatsEnv(nats), OUTPOST_ARTIFACT_MAX_BYTES: String(LIMIT) },
  });
  await waitFor(async () => (await api(app, '/healthz')).status === 200, { what: 'the API to reach NATS over TLS' });
  operator = (await personWithRole(app, 'operator')).token;
});

afterAll(async () => {
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await app?.close();
  await nats?.stop();
  await database?.drop();
});

describe('POST /api/v1/artifacts', () => {
  it('allows direct gets on an existing bucket when it connects, and again when it opens the bucket to upload', async () => {
    // Made in beforeAll without direct gets, before the API started: nothing has been uploaded yet.
    await waitFor(async () => (await allowDirect()) === true, { what: 'the API to allow direct gets on the bucket' });
    expect((await (await cloud.jetstreamManager()).streams.info(ARTIFACTS_STREAM)).state.messages).toBe(0);
    await disallowDirect();
    const bytes = randomBytes(2000);
    const uploaded = (await upload('direct.bin', bytes)).body as Uploaded;
    expect(await allowDirect()).toBe(true);
    const device = await deviceConnection('artifact-reader-03');
    expect(sha256(await readAsDevice(device, uploaded.object))).toBe(sha256(bytes));
  });

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

  it('does not let a device write or delete artifacts, nor use any JetStream call but a direct get', async () => {
    const bytes = randomBytes(5000);
    const uploaded = (await upload('keep-me.bin', bytes)).body as Uploaded;
    const device = await deviceConnection('artifact-writer-01');
    const refused = [
      // What nats.js's object store view asks first: a device cannot even open the bucket that way.
      '$JS.API.INFO',
      `$JS.API.STREAM.INFO.${ARTIFACTS_STREAM}`,
      '$JS.API.STREAM.NAMES',
      `$JS.API.STREAM.MSG.GET.${ARTIFACTS_STREAM}`,
      `$JS.API.STREAM.MSG.DELETE.${ARTIFACTS_STREAM}`,
      `$JS.API.STREAM.PURGE.${ARTIFACTS_STREAM}`,
      `$JS.API.STREAM.DELETE.${ARTIFACTS_STREAM}`,
      `$JS.API.STREAM.UPDATE.${ARTIFACTS_STREAM}`,
      // The last-by-subject URL form of a direct get is not needed, so not granted.
      `${DIRECT_GET}.$O.${ARTIFACTS_BUCKET}.M.x`,
      `$O.${ARTIFACTS_BUCKET}.C.planted`,
      `$O.${ARTIFACTS_BUCKET}.M.cGxhbnRlZC5iaW4=`,
    ];
    for (const subject of refused) {
      await expect(
        device.request(subject, JSON.stringify({ purge: true }), { timeout: 10_000 }),
        subject,
      ).rejects.toThrow(/Permissions Violation/);
    }

    const cloudStore = await cloud.jetstream().views.os(ARTIFACTS_BUCKET);
    expect(await cloudStore.info('planted.bin')).toBeNull();
    const kept = await cloudStore.info(uploaded.object);
    expect(kept?.deleted).toBeFalsy();
    expect(sha256(await readAsDevice(device, uploaded.object))).toBe(sha256(bytes));
    const planted = await (await cloud.jetstreamManager()).streams
      .getMessage(ARTIFACTS_STREAM, { last_by_subj: `$O.${ARTIFACTS_BUCKET}.C.planted` })
      .catch((err: Error) => err);
    expect(planted).toBeInstanceOf(Error);
  });

  it('does not let a device create a consumer, so it cannot have the stream delivered to another subject', async () => {
    const bytes = randomBytes(3000);
    await upload('pushed.bin', bytes);
    const attacker = await deviceConnection('artifact-attacker-01');
    const victim = await deviceConnection('artifact-victim-01');
    const delivered: string[] = [];
    const victimSubject = subjects.device.desiredChanged('artifact-victim-01');
    const victimInbox = `${subjects.device.inboxPrefix('artifact-victim-01')}.pushed`;
    for (const subject of [victimSubject, victimInbox]) {
      victim.subscribe(subject, { callback: (_err, msg) => delivered.push(msg.subject) });
    }
    await victim.flush();
    cloud.subscribe(`${subjects.cloudApi.inboxPrefix}.pushed`, {
      callback: (_err, msg) => delivered.push(msg.subject),
    });
    await cloud.flush();

    for (const deliver of [victimSubject, victimInbox, `${subjects.cloudApi.inboxPrefix}.pushed`]) {
      const request = JSON.stringify({
        stream_name: ARTIFACTS_STREAM,
        config: { deliver_subject: deliver, ack_policy: 'none', deliver_policy: 'all' },
      });
      for (const subject of [
        `$JS.API.CONSUMER.CREATE.${ARTIFACTS_STREAM}`,
        `$JS.API.CONSUMER.CREATE.${ARTIFACTS_STREAM}.pushed.$O.${ARTIFACTS_BUCKET}.C.>`,
        `$JS.API.CONSUMER.DURABLE.CREATE.${ARTIFACTS_STREAM}.pushed`,
      ]) {
        await expect(attacker.request(subject, request, { timeout: 10_000 }), subject).rejects.toThrow(
          /Permissions Violation/,
        );
      }
    }
    // No consumer exists on the stream, and a round trip through the server for each side later nothing has arrived.
    const consumers = await (await cloud.jetstreamManager()).consumers.list(ARTIFACTS_STREAM).next();
    expect(consumers).toEqual([]);
    await Promise.all([attacker.flush(), victim.flush(), cloud.flush()]);
    expect(delivered).toEqual([]);
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
