import { rpc } from '@outpost/protocol';
import {
  createTestDatabase,
  type NatsServerHandle,
  startNatsServer,
  startTcpProxy,
  type TcpProxy,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, natsClient, rpcCall, startTestApp, type TestApp } from './helpers.js';

interface HealthBody {
  status: 'ok' | 'degraded';
  checks: { nats: { ok: boolean; error?: string }; database: { ok: boolean; error?: string } };
}

let nats: NatsServerHandle;
let database: TestDatabase;
let proxy: TcpProxy | null = null;
let app: TestApp;

const health = async () => {
  const { status, body } = await api(app, '/healthz');
  return { status, body: body as HealthBody };
};

const waitForHealth = (status: number, what: string) =>
  waitFor(
    async () => {
      const result = await health();
      return result.status === status ? result : null;
    },
    { timeoutMs: 30_000, intervalMs: 100, what },
  );

beforeAll(async () => {
  [nats, database] = await Promise.all([startNatsServer(), createTestDatabase()]);
  let databaseUrl = database.url;
  if (database.kind === 'postgres') {
    // The API reaches PostgreSQL through a proxy the test can cut.
    const target = new URL(database.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    target.host = `${proxy.host}:${proxy.port}`;
    databaseUrl = target.toString();
  }
  app = await startTestApp({ natsUrl: nats.url, databaseUrl });
  await waitForHealth(200, 'healthy at start');
});

afterAll(async () => {
  await app?.close();
  await proxy?.close();
  await Promise.all([nats?.stop(), database?.drop()]);
});

describe('GET /healthz', () => {
  it('is 200 with both checks ok', async () => {
    expect(await health()).toEqual({
      status: 200,
      body: { status: 'ok', checks: { nats: { ok: true }, database: { ok: true } } },
    });
  });

  it('is 503 while the database link is cut and 200 again once restored, without a restart', async (ctx) => {
    if (!proxy) {
      ctx.skip('PGlite runs inside the API process: there is no database link to cut');
      return;
    }
    proxy.cut();
    const down = await waitForHealth(503, '503 with the database cut');
    expect(down.body.status).toBe('degraded');
    expect(down.body.checks.database.ok).toBe(false);
    expect(down.body.checks.database.error).toBeTruthy();
    expect(down.body.checks.nats.ok).toBe(true);
    // The API keeps answering (with the error body) while its database is away.
    const list = await api(app, '/api/v1/devices', { token: app.adminToken });
    expect(list.status).toBe(500);
    expect(list.body).toEqual({ code: 'INTERNAL', message: 'Internal error', details: [] });

    proxy.restore();
    const up = await waitForHealth(200, '200 with the database back');
    expect(up.body.checks.database).toEqual({ ok: true });
    expect((await api(app, '/api/v1/devices', { token: app.adminToken })).status).toBe(200);
  });

  it('is 503 while NATS is down and 200 again once it is back, without a restart', async () => {
    await nats.kill();
    const down = await waitForHealth(503, '503 with NATS down');
    expect(down.body.checks.nats.ok).toBe(false);
    expect(down.body.checks.database.ok).toBe(true);
    expect(app.logs.find((l) => l.code === 'NATS_DISCONNECTED')).toBeDefined();

    await nats.restart();
    const up = await waitForHealth(200, '200 with NATS back');
    expect(up.body.checks.nats).toEqual({ ok: true });
    // Its subscriptions came back with the connection.
    const nc = await natsClient(nats.url);
    try {
      const page = await waitFor(() => rpcCall(nc, rpc.devicesList, {}, app.adminToken, { timeout: 1000 }), {
        what: 'a NATS request answered after the restart',
      });
      expect(page.items).toEqual([]);
    } finally {
      await nc.close();
    }
  });
});
