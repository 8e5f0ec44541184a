import { readFileSync, statSync } from 'node:fs';
import { createTestDatabase, type NatsServerHandle, startNatsServer, type TestDatabase } from '@outpost/testing';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootstrapTokenService } from '../src/auth/bootstrap-token.service.js';
import { generateToken } from '../src/auth/tokens.js';
import {
  api,
  apiTokenWithRole,
  type DeviceBody,
  FakeAgent,
  natsClient,
  registerDevice,
  startTestApp,
  type TestApp,
  waitForStatus,
} from './helpers.js';

let nats: NatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let nc: NatsConnection;
let token: string;

interface Page {
  items: DeviceBody[];
  nextCursor: string | null;
}

interface ErrorResponse {
  code: string;
  message: string;
  details: { path: string; message: string }[];
}

beforeAll(async () => {
  [nats, database] = await Promise.all([startNatsServer(), createTestDatabase()]);
  app = await startTestApp({ natsUrl: nats.url, databaseUrl: database.url });
  token = app.adminToken;
  nc = await natsClient(nats.url);
  // 7 registered devices (offline) and 2 that said hello (online).
  for (const id of ['lab-01', 'lab-02', 'lab-03', 'plant_a-01', 'plant_a-02', 'plantxa-03', 'yard-01']) {
    const created = await api(app, '/api/v1/devices', { method: 'POST', token, body: { id, tags: { site: id } } });
    expect(created.status).toBe(201);
  }
  // Registered too (presence refuses unknown devices), then said hello.
  for (const id of ['lab-04', 'yard-02']) await registerDevice(app, id);
  for (const id of ['lab-04', 'yard-02']) new FakeAgent(nc, id, 60_000).hello();
  await Promise.all(['lab-04', 'yard-02'].map((id) => waitForStatus(app, token, id, 'online')));
});

afterAll(async () => {
  await nc?.close();
  await app?.close();
  await Promise.all([nats?.stop(), database?.drop()]);
});

describe('bootstrap admin token', () => {
  it('writes an opt_ token to the file, readable only by its owner', () => {
    expect(token).toMatch(/^opt_[A-Za-z0-9_-]{43}$/);
    expect(statSync(app.tokenFile).mode & 0o777).toBe(0o600);
    const written = app.logs.find((line) => line.msg === 'bootstrap admin token written');
    expect(written).toBeDefined();
    expect(JSON.stringify(app.logs.lines)).not.toContain(token);
  });

  it('leaves the file alone when an admin token exists', async () => {
    // What the next start (or another replica) does: the same bootstrap, against a database that has an admin.
    await app.running.app.get(BootstrapTokenService).onApplicationBootstrap();
    expect(readFileSync(app.tokenFile, 'utf8').trim()).toBe(token);
    expect(app.logs.find((line) => String(line.msg).includes('left alone'))).toBeDefined();
  });
});

describe('GET /api/v1/devices', () => {
  it('pages through every device in id order with an opaque cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=4&cursor=${cursor}` : '?limit=4';
      const { status, body } = await api(app, `/api/v1/devices${query}`, { token });
      expect(status).toBe(200);
      const page = body as Page;
      expect(page.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.items.map((device) => device.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([
      'lab-01',
      'lab-02',
      'lab-03',
      'lab-04',
      'plant_a-01',
      'plant_a-02',
      'plantxa-03',
      'yard-01',
      'yard-02',
    ]);
  });

  it('filters by status and by id prefix (where _ is not a wildcard)', async () => {
    const online = (await api(app, '/api/v1/devices?status=online', { token })).body as Page;
    expect(online.items.map((d) => d.id)).toEqual(['lab-04', 'yard-02']);
    expect(online.nextCursor).toBeNull();

    const plantA = (await api(app, '/api/v1/devices?idPrefix=plant_a', { token })).body as Page;
    expect(plantA.items.map((d) => d.id)).toEqual(['plant_a-01', 'plant_a-02']);

    const offlineLab = (await api(app, '/api/v1/devices?idPrefix=lab&status=offline&limit=2', { token })).body as Page;
    expect(offlineLab.items.map((d) => d.id)).toEqual(['lab-01', 'lab-02']);
    const rest = (
      await api(app, `/api/v1/devices?idPrefix=lab&status=offline&cursor=${offlineLab.nextCursor}`, { token })
    ).body as Page;
    expect(rest.items.map((d) => d.id)).toEqual(['lab-03']);
    expect(rest.nextCursor).toBeNull();
  });

  it('answers 400 VALIDATION_FAILED naming each bad query field', async () => {
    const { status, body } = await api(app, '/api/v1/devices?limit=5000&status=sleeping', { token });
    expect(status).toBe(400);
    const error = body as ErrorResponse;
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details.map((d) => d.path).sort()).toEqual(['limit', 'status']);
  });

  it('answers 400 naming cursor for a cursor it did not make', async () => {
    for (const cursor of ['not-a-cursor', 'eyJ4IjoxfQ', '%%%']) {
      const { status, body } = await api(app, `/api/v1/devices?cursor=${encodeURIComponent(cursor)}`, { token });
      expect(status).toBe(400);
      expect(body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'cursor' }] });
    }
  });
});

describe('GET /api/v1/devices/:id', () => {
  it('returns the device', async () => {
    const { status, body } = await api(app, '/api/v1/devices/lab-04', { token });
    expect(status).toBe(200);
    expect(body).toMatchObject({ id: 'lab-04', status: 'online', agentVersion: '0.1.0', tags: {} });
    expect(Date.parse((body as DeviceBody).lastSeen ?? '')).not.toBeNaN();
  });

  it('answers 404 NOT_FOUND with the error body', async () => {
    const { status, body } = await api(app, '/api/v1/devices/ghost', { token });
    expect(status).toBe(404);
    expect(body).toEqual({
      code: 'NOT_FOUND',
      message: 'Device ghost not found',
      details: [{ path: 'id', message: 'no such device' }],
    });
  });

  it('answers 400 naming id for an id that cannot be a device id', async () => {
    const { status, body } = await api(app, '/api/v1/devices/-bad', { token });
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'id' }] });
  });
});

describe('POST /api/v1/devices', () => {
  it('registers a device, offline and with its tags', async () => {
    const { status, body } = await api(app, '/api/v1/devices', {
      method: 'POST',
      token,
      body: { id: 'new-01', tags: { env: 'prod' } },
    });
    expect(status).toBe(201);
    expect(body).toMatchObject({ id: 'new-01', status: 'offline', lastSeen: null, tags: { env: 'prod' } });
    // The answer is the device plus its one-time enrolment token, which GET never shows again.
    const { enrollment, ...device } = body as { enrollment: { token: string; expiresAt: string } };
    expect(enrollment.token).toMatch(/^outpost-enroll\./);
    expect(Date.parse(enrollment.expiresAt)).toBeGreaterThan(Date.now());
    // GET shows a single device with its reported state: none before the device first reports.
    expect((await api(app, '/api/v1/devices/new-01', { token })).body).toEqual({ ...device, reported: null });
  });

  it('answers 409 CONFLICT when the id exists', async () => {
    const { status, body } = await api(app, '/api/v1/devices', { method: 'POST', token, body: { id: 'lab-01' } });
    expect(status).toBe(409);
    expect(body).toMatchObject({ code: 'CONFLICT', details: [{ path: 'id' }] });
  });

  it('answers 400 BAD_REQUEST for a body that is not JSON', async () => {
    const { status, body } = await api(app, '/api/v1/devices', { method: 'POST', token, rawBody: '{"id": "x",' });
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: 'BAD_REQUEST', message: 'Request body is not valid JSON' });
    expect((body as ErrorResponse).details).toHaveLength(1);
  });

  it('answers 400 VALIDATION_FAILED naming bad and unknown fields', async () => {
    const { status, body } = await api(app, '/api/v1/devices', {
      method: 'POST',
      token,
      body: { id: 'has.dot', tags: { site: 7 }, color: 'red' },
    });
    expect(status).toBe(400);
    const paths = (body as ErrorResponse).details.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['id', 'tags.site']));
    expect(JSON.stringify(body)).toContain('color');
  });
});

describe('bearer auth', () => {
  it('answers 401 UNAUTHORIZED without a token, with a wrong one, or a revoked one', async () => {
    const none = await api(app, '/api/v1/devices');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'UNAUTHORIZED', details: [{ path: 'authorization' }] });
    expect((await api(app, '/api/v1/devices', { token: generateToken() })).status).toBe(401);
    const basic = await fetch(`${app.url}/api/v1/devices`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(401);
  });

  it('answers 403 FORBIDDEN when the role is too low, and lets a viewer read', async () => {
    const viewer = await apiTokenWithRole(app, 'viewer', 'read-only');
    expect((await api(app, '/api/v1/devices', { token: viewer })).status).toBe(200);
    const { status, body } = await api(app, '/api/v1/devices', { method: 'POST', token: viewer, body: { id: 'v-1' } });
    expect(status).toBe(403);
    expect(body).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('keeps /healthz and the docs public', async () => {
    expect((await api(app, '/healthz')).status).toBe(200);
    expect((await api(app, '/api/docs/openapi.json')).status).toBe(200);
  });

  it('answers unknown routes with the error body', async () => {
    const { status, body } = await api(app, '/api/v1/nothing-here', { token });
    expect(status).toBe(404);
    expect(body).toMatchObject({ code: 'NOT_FOUND', details: [] });
  });
});

describe('OpenAPI', () => {
  it('documents the device routes with their schemas and the ErrorBody component', async () => {
    const { status, body } = await api(app, '/api/docs/openapi.json');
    expect(status).toBe(200);
    const doc = body as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { operationId: string; parameters?: { name: string; in: string }[] } & Record<string, unknown>>
      >;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/devices', '/api/v1/devices/{id}', '/healthz']),
    );
    expect(doc.paths['/api/v1/devices']?.get?.operationId).toBe('listDevices');
    expect(doc.paths['/api/v1/devices']?.post?.operationId).toBe('createDevice');
    expect(doc.paths['/api/v1/devices']?.get?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['limit', 'cursor', 'status', 'idPrefix']),
    );
    expect(doc.paths['/api/v1/devices/{id}']?.get?.parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path' }),
    ]);
    expect(JSON.stringify(doc.paths['/api/v1/devices/{id}']?.get)).toContain('#/components/schemas/ErrorBody');
    expect(doc.components.schemas).toHaveProperty('ErrorBody');
    expect(doc.components.schemas).toHaveProperty('Device');
    expect(doc.components.schemas).toHaveProperty('DevicePage');
    expect(doc.components.schemas).toHaveProperty('CreateDeviceRequest');
    // Every reference resolves to a component.
    for (const [, ref] of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
      expect(doc.components.schemas).toHaveProperty(ref ?? '');
    }
  });

  it('serves Swagger UI with its assets from this server', async () => {
    const page = await fetch(`${app.url}/api/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('swagger-ui');
    expect(html).not.toMatch(/https?:\/\/(cdn|unpkg)/);
    const css = await fetch(`${app.url}/api/docs/swagger-ui.css`);
    expect(css.status).toBe(200);
  });
});
