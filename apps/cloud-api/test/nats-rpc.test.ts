import { decodeReply, OutpostError, rpc } from '@outpost/protocol';
import {
  createTestDatabase,
  type NatsServerHandle,
  startNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, natsClient, rpcCall, rpcRaw, startTestApp, type TestApp } from './helpers.js';

let nats: NatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let nc: NatsConnection;

beforeAll(async () => {
  [nats, database] = await Promise.all([startNatsServer(), createTestDatabase()]);
  app = await startTestApp({ natsUrl: nats.url, databaseUrl: database.url });
  nc = await natsClient(nats.url);
  for (const id of ['rpc-01', 'rpc-02', 'rpc-03']) {
    await api(app, '/api/v1/devices', { method: 'POST', token: app.adminToken, body: { id, tags: { n: id } } });
  }
  // The API subscribes once its NATS connection is up; wait until a request is answered.
  await waitFor(() => rpcRaw(nc, rpc.devicesList, {}, app.adminToken, { timeout: 1000 }), {
    what: 'the API to answer on NATS',
  });
});

afterAll(async () => {
  await nc?.close();
  await app?.close();
  await Promise.all([nats?.stop(), database?.drop()]);
});

function rejection(promise: Promise<unknown>): Promise<OutpostError> {
  return promise.then(
    () => {
      throw new Error('expected an error reply');
    },
    (err: unknown) => {
      if (err instanceof OutpostError) return err;
      throw err;
    },
  );
}

describe('portal request/reply over NATS', () => {
  it('lists devices as a DevicePage in the protocol wire format', async () => {
    const reply = await rpcRaw(nc, rpc.devicesList, { limit: 2 }, app.adminToken);
    const wire = JSON.parse(new TextDecoder().decode(reply)) as Record<string, unknown>;
    // Only the protocol's envelope: none of Nest's { response, err, isDisposed, id }.
    expect(Object.keys(wire).sort()).toEqual(['data', 'ok', 'type', 'v']);
    const page = decodeReply(rpc.devicesList.response, reply);
    expect(page.items.map((d) => d.id)).toEqual(['rpc-01', 'rpc-02']);
    expect(page.nextCursor).not.toBeNull();
    const next = await rpcCall(nc, rpc.devicesList, { limit: 2, cursor: page.nextCursor ?? '' }, app.adminToken);
    expect(next.items.map((d) => d.id)).toEqual(['rpc-03']);
    expect(next.nextCursor).toBeNull();
  });

  it('gets one device', async () => {
    expect(await rpcCall(nc, rpc.devicesGet, { id: 'rpc-02' }, app.adminToken)).toMatchObject({
      id: 'rpc-02',
      tags: { n: 'rpc-02' },
    });
  });

  it('answers NOT_FOUND as an error reply with the error body', async () => {
    const reply = await rpcRaw(nc, rpc.devicesGet, { id: 'ghost' }, app.adminToken);
    expect(JSON.parse(new TextDecoder().decode(reply))).toEqual({
      ok: false,
      type: 'error',
      v: '1.0',
      error: {
        code: 'NOT_FOUND',
        message: 'Device ghost not found',
        details: [{ path: 'id', message: 'no such device' }],
      },
    });
  });

  it('answers malformed and invalid requests with codes naming what is wrong', async () => {
    const notJson = await rejection(
      nc
        .request(rpc.devicesList.subject, new TextEncoder().encode('{nope'))
        .then((r) => decodeReply(rpc.devicesList.response, r.data)),
    );
    expect(notJson.code).toBe('BAD_MESSAGE');

    const wrongVersion = new TextEncoder().encode(JSON.stringify({ type: 'api.devices.list', v: 7, data: {} }));
    const version = await rejection(
      nc.request(rpc.devicesList.subject, wrongVersion).then((r) => decodeReply(rpc.devicesList.response, r.data)),
    );
    expect(version.code).toBe('UNSUPPORTED_VERSION');
    expect(version.message).toMatch(/version 7\.0/);
    expect(version.details[0]?.path).toBe('v');

    const badLimit = new TextEncoder().encode(JSON.stringify({ type: 'api.devices.list', v: 1, data: { limit: 0 } }));
    const limit = await rejection(
      nc.request(rpc.devicesList.subject, badLimit).then((r) => decodeReply(rpc.devicesList.response, r.data)),
    );
    expect(limit.code).toBe('VALIDATION_FAILED');
    expect(limit.details.map((d) => d.path)).toEqual(['data.limit']);

    const cursor = await rejection(rpcCall(nc, rpc.devicesList, { cursor: 'garbage' }, app.adminToken));
    expect(cursor.code).toBe('VALIDATION_FAILED');
    expect(cursor.details[0]?.path).toBe('cursor');
  });

  it('logs a rejected request with its subject and code', () => {
    const line = app.logs.find((l) => l.code === 'BAD_MESSAGE' && l.subject === rpc.devicesList.subject);
    expect(line).toBeDefined();
  });
});
