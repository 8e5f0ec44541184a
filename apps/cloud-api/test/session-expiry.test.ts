import { OutpostError, rpc } from '@outpost/protocol';
import {
  createTestDatabase,
  type NatsServerHandle,
  startNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, login, natsClient, rpcCall, startTestApp, type TestApp } from './helpers.js';

/* Sessions end at their absolute expiry (here 2 s after login), over HTTP and NATS alike. */

let nats: NatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let nc: NatsConnection;

beforeAll(async () => {
  [nats, database] = await Promise.all([startNatsServer(), createTestDatabase()]);
  app = await startTestApp({ natsUrl: nats.url, databaseUrl: database.url, env: { AUTH_SESSION_TTL_SECONDS: '2' } });
  nc = await natsClient(nats.url);
});

afterAll(async () => {
  await nc?.close();
  await app?.close();
  await Promise.all([nats?.stop(), database?.drop()]);
});

describe('session expiry', () => {
  it('refuses a session once its expiry has passed, however recently it was used', async () => {
    const before = Date.now();
    const token = await login(app, 'admin', app.adminPassword);
    const me = await api(app, '/api/v1/auth/me', { token });
    expect(me.status).toBe(200);
    const expiresAt = Date.parse((me.body as { expiresAt: string }).expiresAt);
    expect(expiresAt - before).toBeGreaterThanOrEqual(1_000);
    expect(expiresAt - before).toBeLessThanOrEqual(3_000);
    await waitFor(async () => (await api(app, '/api/v1/auth/me', { token })).status === 401, {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'the 2 s session to expire',
    });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    const overNats = await rpcCall(nc, rpc.devicesList, {}, token).catch((err: unknown) => err);
    expect(overNats).toBeInstanceOf(OutpostError);
    expect(overNats).toMatchObject({ code: 'UNAUTHORIZED' });
  });
});
