import { type AuditPage, type AuditRecord, rpc } from '@outpost/protocol';
import {
  createTestDatabase,
  type NatsServerHandle,
  startNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { sql } from 'drizzle-orm';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteDef } from '../src/api/route.js';
import { DATABASE, type Database } from '../src/database/database.js';
import { routes } from '../src/openapi/routes.js';
import {
  api,
  apiTokenWithRole,
  FakeAgent,
  login,
  natsClient,
  personWithRole,
  registerDevice,
  rpcCall,
  rpcRaw,
  startTestApp,
  type TestApp,
  waitForStatus,
} from './helpers.js';

/*
 * Every mutation writes an audit record (who, what, when, target) once it succeeded; admins read the log at
 * GET /api/v1/audit, newest first, with cursor pagination and filters. The mutations are walked from the route table:
 * a mutation added without a sample here fails.
 */

let nats: NatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let nc: NatsConnection;
let operator: { token: string; id: string; username: string };

beforeAll(async () => {
  // JetStream: uploadArtifact stores into the artifacts object store.
  [nats, database] = await Promise.all([startNatsServer({ jetstream: true }), createTestDatabase()]);
  app = await startTestApp({ natsUrl: nats.url, databaseUrl: database.url });
  nc = await natsClient(nats.url);
  operator = await personWithRole(app, 'operator');
  await waitFor(() => rpcRaw(nc, rpc.devicesList, {}, app.adminToken, { timeout: 1000 }), {
    what: 'the API to answer on NATS',
  });
});

afterAll(async () => {
  await nc?.close();
  await app?.close();
  await Promise.all([nats?.stop(), database?.drop()]);
});

async function auditPage(query = ''): Promise<AuditPage> {
  const { status, body } = await api(app, `/api/v1/audit${query}`, { token: app.adminToken });
  expect(status).toBe(200);
  return body as AuditPage;
}

async function newestId(): Promise<number> {
  return Number((await auditPage('?limit=1')).items[0]?.id ?? 0);
}

interface Performed {
  status: number;
  /** Who the record must name. */
  actor: { kind: string; name: string };
  /** The target id the record must name (undefined: any). */
  targetId?: string | null;
}

let serial = 0;
const unique = (name: string) => `${name}-${++serial}`;

/** How to perform each mutation of the route table successfully, as someone allowed to. */
const samples: Record<string, () => Promise<Performed>> = {
  async createDevice() {
    const id = unique('audited');
    const { status } = await api(app, '/api/v1/devices', {
      method: 'POST',
      token: operator.token,
      body: { id, tags: { site: 'plant-7' } },
    });
    return { status, actor: { kind: 'user', name: operator.username }, targetId: id };
  },
  async revokeDevice() {
    const id = unique('revoked');
    await api(app, '/api/v1/devices', { method: 'POST', token: operator.token, body: { id } });
    const { status } = await api(app, `/api/v1/devices/${id}/revoke`, { method: 'POST', token: operator.token });
    return { status, actor: { kind: 'user', name: operator.username }, targetId: id };
  },
  async createEnrollmentGroup() {
    const { status, body } = await api(app, '/api/v1/enrollment-groups', {
      method: 'POST',
      token: operator.token,
      body: { name: unique('line'), tags: { line: 'L3' }, expiresInSeconds: 3600 },
    });
    return { status, actor: { kind: 'user', name: operator.username }, targetId: (body as { id: string }).id };
  },
  async login() {
    const { status } = await api(app, '/api/v1/auth/login', {
      method: 'POST',
      body: { username: operator.username, password: `password for ${operator.username}` },
    });
    return { status, actor: { kind: 'user', name: operator.username } };
  },
  async logout() {
    const token = await login(app, operator.username, `password for ${operator.username}`);
    const { status } = await api(app, '/api/v1/auth/logout', { method: 'POST', token });
    return { status, actor: { kind: 'user', name: operator.username } };
  },
  async createUser() {
    const username = unique('new-user');
    const { status, body } = await api(app, '/api/v1/users', {
      method: 'POST',
      token: app.adminToken,
      body: { username, password: 'a fine long password', role: 'viewer' },
    });
    return { status, actor: { kind: 'token', name: 'bootstrap admin' }, targetId: (body as { id: string }).id };
  },
  async updateUser() {
    const person = await personWithRole(app, 'viewer');
    const { status } = await api(app, `/api/v1/users/${person.id}`, {
      method: 'PATCH',
      token: app.adminToken,
      body: { role: 'operator' },
    });
    return { status, actor: { kind: 'token', name: 'bootstrap admin' }, targetId: person.id };
  },
  async createApiToken() {
    const { status, body } = await api(app, '/api/v1/tokens', {
      method: 'POST',
      token: app.adminToken,
      body: { name: unique('pipeline'), role: 'viewer' },
    });
    return { status, actor: { kind: 'token', name: 'bootstrap admin' }, targetId: (body as { id: string }).id };
  },
  async revokeApiToken() {
    const created = await api(app, '/api/v1/tokens', {
      method: 'POST',
      token: app.adminToken,
      body: { name: unique('doomed'), role: 'viewer' },
    });
    const id = (created.body as { id: string }).id;
    const { status } = await api(app, `/api/v1/tokens/${id}`, { method: 'DELETE', token: app.adminToken });
    return { status, actor: { kind: 'token', name: 'bootstrap admin' }, targetId: id };
  },
  async rotateSigningKey() {
    const { status } = await api(app, '/api/v1/signing-keys/rotate', { method: 'POST', token: app.adminToken });
    return { status, actor: { kind: 'token', name: 'bootstrap admin' } };
  },
  async putDeviceDeployment() {
    const id = unique('deployed');
    await registerDevice(app, id);
    const { status } = await api(app, `/api/v1/devices/${id}/deployment`, {
      method: 'PUT',
      token: operator.token,
      body: { manifest: { schemaVersion: '1.0', modules: { sensor: { type: 'process', process: { command: 'x' } } } } },
    });
    return { status, actor: { kind: 'user', name: operator.username }, targetId: id };
  },
  async uploadArtifact() {
    const response = await fetch(`${app.url}/api/v1/artifacts?name=${unique('tool')}.bin`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator.token}`, 'content-type': 'application/octet-stream' },
      body: new TextEncoder().encode('#!/bin/sh\necho hi\n'),
    });
    const body = (await response.json()) as { object: string };
    return { status: response.status, actor: { kind: 'user', name: operator.username }, targetId: body.object };
  },
  async restartModule() {
    const id = unique('restarted');
    await registerDevice(app, id);
    const agent = new FakeAgent(nc, id);
    agent.serveMethods({ restartModule: () => null });
    agent.hello();
    await waitForStatus(app, app.adminToken, id, 'online');
    const { status } = await api(app, `/api/v1/devices/${id}/modules/sensor/restart`, {
      method: 'POST',
      token: operator.token,
    });
    return { status, actor: { kind: 'user', name: operator.username }, targetId: id };
  },
  async removeSigningKey() {
    // Rotating retires the active key, which may then be removed.
    const rotated = await api(app, '/api/v1/signing-keys/rotate', { method: 'POST', token: app.adminToken });
    const retired = (rotated.body as { retired: { keyId: string } | null }).retired;
    const keyId = retired?.keyId ?? 'none-retired';
    const { status } = await api(app, `/api/v1/signing-keys/${keyId}`, { method: 'DELETE', token: app.adminToken });
    return { status, actor: { kind: 'token', name: 'bootstrap admin' }, targetId: keyId };
  },
};

const mutations = (Object.values(routes) as RouteDef[]).filter((route) => route.method !== 'get');

describe('every mutation in the route table', () => {
  it.each(mutations.map((route) => [route.operationId, route] as const))(
    '%s writes one audit record naming who, what, when and the target',
    async (operationId, route) => {
      const perform = samples[operationId];
      expect(perform, `add a sample for ${operationId} to test/audit.test.ts`).toBeDefined();
      if (!perform || !route.audit) return;
      const before = await newestId();
      const started = Date.now();
      const performed = await perform();
      expect(performed.status).toBeGreaterThanOrEqual(200);
      expect(performed.status).toBeLessThan(300);
      const records = (await auditPage(`?action=${route.audit.action}&limit=20`)).items.filter(
        (record) => Number(record.id) > before,
      );
      expect(records).toHaveLength(1);
      const [record] = records as [AuditRecord];
      expect(record.actor).toMatchObject(performed.actor);
      expect(record.target.type).toBe(route.audit.targetType);
      if (performed.targetId !== undefined) expect(record.target.id).toBe(performed.targetId);
      const at = Date.parse(record.at);
      expect(at).toBeGreaterThanOrEqual(started - 5_000);
      expect(at).toBeLessThanOrEqual(Date.now() + 5_000);
      expect(JSON.stringify(record.details)).not.toMatch(/password"|opt_|ops_|scrypt|outpost-enroll\./);
    },
  );
});

describe('audit records', () => {
  it('are written for mutations over NATS too, naming the person the portal forwarded', async () => {
    await rpcCall(nc, rpc.devicesCreate, { id: 'from-portal', tags: { via: 'nats' } }, operator.token);
    const [record] = (await auditPage('?targetId=from-portal')).items;
    expect(record).toMatchObject({
      actor: { kind: 'user', id: operator.id, name: operator.username },
      action: 'device.create',
      target: { type: 'device', id: 'from-portal' },
      details: { tags: { via: 'nats' } },
    });
  });

  it('name an API token as the actor when a pipeline acts', async () => {
    const token = await apiTokenWithRole(app, 'operator', 'ci-pipeline');
    await api(app, '/api/v1/devices', { method: 'POST', token, body: { id: 'from-ci' } });
    const [record] = (await auditPage('?targetId=from-ci')).items;
    expect(record?.actor).toMatchObject({ kind: 'token', name: 'ci-pipeline' });
  });

  it('are not written when the mutation fails', async () => {
    const before = await newestId();
    const conflict = await api(app, '/api/v1/devices', {
      method: 'POST',
      token: operator.token,
      body: { id: 'from-ci' },
    });
    expect(conflict.status).toBe(409);
    const refused = await api(app, '/api/v1/users', {
      method: 'POST',
      token: operator.token,
      body: { username: 'sneaky', password: 'a fine long password', role: 'admin' },
    });
    expect(refused.status).toBe(403);
    expect(await newestId()).toBe(before);
  });

  it('fail the call, naming the unrecorded change in the log, when the record cannot be written', async () => {
    const db = app.running.app.get<symbol, Database>(DATABASE);
    // This test's own database: the audit table goes away for one call.
    await db.execute(sql`alter table audit_log rename to audit_log_away`);
    let response: Awaited<ReturnType<typeof api>>;
    try {
      response = await api(app, '/api/v1/devices', {
        method: 'POST',
        token: operator.token,
        body: { id: 'unaudited' },
      });
    } finally {
      await db.execute(sql`alter table audit_log_away rename to audit_log`);
    }
    expect(response.status).toBe(500);
    expect(response.body).toMatchObject({ code: 'INTERNAL' });
    expect(
      app.logs.find((line) => line.code === 'AUDIT_WRITE_FAILED' && line.action === 'device.create'),
    ).toMatchObject({ target: { type: 'device', id: 'unaudited' }, actor: { kind: 'user', id: operator.id } });
  });

  it('record what the bootstrap did, as Outpost itself', async () => {
    const page = await auditPage('?actor=outpost');
    expect(page.items.map((record) => record.action).sort()).toEqual(['token.create', 'user.create']);
    expect(page.items.every((record) => record.actor.kind === 'system')).toBe(true);
  });

  it('keep secrets out of the details of a new user', async () => {
    const created = await api(app, '/api/v1/users', {
      method: 'POST',
      token: app.adminToken,
      body: { username: 'kept-secret', password: 'never in the audit log', role: 'viewer' },
    });
    const [record] = (await auditPage(`?targetId=${(created.body as { id: string }).id}`)).items;
    expect(record?.details).toEqual({ username: 'kept-secret', role: 'viewer' });
    expect(JSON.stringify(record)).not.toContain('never in the audit log');
  });
});

describe('GET /api/v1/audit', () => {
  it('pages through the whole log newest first with an opaque cursor', async () => {
    const everything = await auditPage('?limit=200');
    expect(everything.nextCursor).toBeNull();
    const ids = everything.items.map((record) => Number(record.id));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(ids.length).toBeGreaterThan(10);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: AuditPage = await auditPage(cursor ? `?limit=3&cursor=${cursor}` : '?limit=3');
      expect(page.items.length).toBeLessThanOrEqual(3);
      seen.push(...page.items.map((record) => record.id));
      cursor = page.nextCursor;
    } while (cursor);
    // Records written while paging would only be newer than the first page; the rest must match exactly.
    expect(seen.slice(-everything.items.length)).toEqual(everything.items.map((record) => record.id));
  });

  it('filters by actor (id or name), action and target id, together with paging', async () => {
    for (const id of ['filter-a', 'filter-b', 'filter-c']) {
      expect((await api(app, '/api/v1/devices', { method: 'POST', token: operator.token, body: { id } })).status).toBe(
        201,
      );
    }
    const byName = await auditPage(`?actor=${operator.username}&action=device.create&limit=2`);
    expect(byName.items.map((record) => record.target.id)).toEqual(['filter-c', 'filter-b']);
    const rest = await auditPage(
      `?actor=${operator.username}&action=device.create&limit=2&cursor=${byName.nextCursor}`,
    );
    expect(rest.items[0]?.target.id).toBe('filter-a');
    const byId = await auditPage(`?actor=${operator.id}&action=device.create&limit=200`);
    expect(byId.items.map((record) => record.target.id)).toEqual(
      expect.arrayContaining(['filter-a', 'filter-b', 'filter-c']),
    );
    expect(byId.items.every((record) => record.actor.id === operator.id)).toBe(true);
    const byTarget = await auditPage('?targetId=filter-b');
    expect(byTarget.items).toHaveLength(1);
    expect((await auditPage('?action=no.such.action')).items).toEqual([]);
  });

  it('is for admins only and names a bad cursor or limit', async () => {
    expect((await api(app, '/api/v1/audit', { token: operator.token })).status).toBe(403);
    expect((await api(app, '/api/v1/audit', { token: await apiTokenWithRole(app, 'admin') })).status).toBe(200);
    const bad = await api(app, '/api/v1/audit?cursor=garbage&limit=0', { token: app.adminToken });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'limit' }] });
    const cursor = await api(app, '/api/v1/audit?cursor=eyJhZnRlciI6Inh5eiJ9', { token: app.adminToken });
    expect(cursor.status).toBe(400);
    expect(cursor.body).toMatchObject({ details: [{ path: 'cursor' }] });
  });
});
