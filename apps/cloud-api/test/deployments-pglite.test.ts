import { type NatsServerHandle, startNatsServer } from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, registerDevice, startTestApp, type TestApp } from './helpers.js';

/**
 * `pnpm dev` runs the API on embedded PGlite: one connection, so anything that queries outside an open transaction
 * waits for that transaction forever. Deployments lock the device row while they take a version; this checks the
 * whole path (sign, store, read back) on PGlite and that the database still answers afterwards.
 */
let nats: NatsServerHandle;
let app: TestApp;

beforeAll(async () => {
  nats = await startNatsServer();
  app = await startTestApp({ natsUrl: nats.url, databaseUrl: 'pglite:memory' });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await nats?.stop();
});

describe('deployments on PGlite', () => {
  it('stores, versions and signs deployments, and the database answers afterwards', async () => {
    await registerDevice(app, 'pglite-device');
    const manifest = { schemaVersion: '1.0', modules: {} };
    for (const expected of [1, 2]) {
      const put = await api(app, '/api/v1/devices/pglite-device/deployment', {
        method: 'PUT',
        token: app.adminToken,
        body: { manifest },
      });
      expect(put.status).toBe(200);
      expect(put.body).toMatchObject({ deviceId: 'pglite-device', version: expected });
    }
    const got = await api(app, '/api/v1/devices/pglite-device/deployment', { token: app.adminToken });
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ desired: { version: 2 } });
    const health = await fetch(`${app.url}/healthz`);
    expect(await health.json()).toMatchObject({ checks: { database: { ok: true } } });
  });
});
