import { HEADER, type MessageInput, OutpostError, type Role, rpc } from '@outpost/protocol';
import {
  createTestDatabase,
  type NatsServerHandle,
  startNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { headers, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPublicRoute, minRoleOf, type RouteDef } from '../src/api/route.js';
import { generateToken } from '../src/auth/tokens.js';
import { protocolRequestRoutes } from '../src/nats/protocol-patterns.js';
import { routes } from '../src/openapi/routes.js';
import {
  api,
  apiTokenWithRole,
  login,
  natsClient,
  personWithRole,
  rpcCall,
  rpcRaw,
  startTestApp,
  type TestApp,
} from './helpers.js';

/*
 * Deny by default, against the running API: these tests walk the route table and the rpc table, so a route or rpc
 * added later is covered without touching this file. Every closed route refuses a caller without credentials (401)
 * and a viewer on every mutation (403), over HTTP and over NATS alike: the portal's NATS connection is no way around
 * roles.
 */

let nats: NatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let nc: NatsConnection;
const sessions: Partial<Record<Role, { token: string; username: string; password: string }>> = {};

const table = Object.values(routes) as RouteDef[];
const closed = table.filter((route) => !isPublicRoute(route));
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
const ROLES: Role[] = ['viewer', 'operator', 'admin'];

/** Any value for the path's parameters: the guard answers before anything looks them up. */
const pathOf = (route: RouteDef) => route.path.replace(/\{[^}]+\}/g, 'no-such-thing');

function callRoute(route: RouteDef, token: string | null) {
  return api(app, pathOf(route), {
    method: route.method.toUpperCase(),
    token,
    body: route.method === 'get' ? undefined : {},
  });
}

beforeAll(async () => {
  [nats, database] = await Promise.all([startNatsServer(), createTestDatabase()]);
  // Every test here logs in from 127.0.0.1: keep the per-address limit out of the way (auth.test.ts checks it).
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: { AUTH_LOGIN_ADDRESS_LIMIT: '10000' },
  });
  nc = await natsClient(nats.url);
  for (const role of ROLES) {
    const person = await personWithRole(app, role);
    sessions[role] = { token: person.token, username: person.username, password: `password for ${person.username}` };
  }
  await waitFor(() => rpcRaw(nc, rpc.devicesList, {}, app.adminToken, { timeout: 1000 }), {
    what: 'the API to answer on NATS',
  });
});

afterAll(async () => {
  await nc?.close();
  await app?.close();
  await Promise.all([nats?.stop(), database?.drop()]);
});

const session = (role: Role) => {
  const found = sessions[role];
  if (!found) throw new Error(`no ${role} session`);
  return found;
};

describe('HTTP: every closed route', () => {
  it.each(closed.map((route) => [`${route.method.toUpperCase()} ${route.path}`, route] as const))(
    '%s answers 401 without credentials or with an unknown token',
    async (_, route) => {
      const none = await callRoute(route, null);
      expect(none.status).toBe(401);
      expect(none.body).toMatchObject({ code: 'UNAUTHORIZED', details: [{ path: 'authorization' }] });
      const unknown = await callRoute(route, generateToken());
      expect(unknown.status).toBe(401);
      expect((await callRoute(route, 'ops_not-a-session')).status).toBe(401);
    },
  );

  const mutations = closed.filter((route) => route.method !== 'get');
  const beyondViewer = mutations.filter((route) => minRoleOf(route) !== 'viewer');

  it('leaves only logging out open to a viewer among the mutations', () => {
    expect(mutations.filter((route) => minRoleOf(route) === 'viewer').map((route) => route.operationId)).toEqual([
      'logout',
    ]);
  });

  it.each(beyondViewer.map((route) => [`${route.method.toUpperCase()} ${route.path}`, route] as const))(
    '%s answers 403 to a viewer, signed in or with an API token',
    async (_, route) => {
      const person = await callRoute(route, session('viewer').token);
      expect(person.status).toBe(403);
      expect(person.body).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('viewer') });
      const pipeline = await callRoute(route, await apiTokenWithRole(app, 'viewer'));
      expect(pipeline.status).toBe(403);
    },
  );

  it.each(
    closed
      .filter((route) => minRoleOf(route) === 'admin')
      .map((route) => [`${route.method.toUpperCase()} ${route.path}`, route] as const),
  )('%s answers 403 to an operator', async (_, route) => {
    expect((await callRoute(route, session('operator').token)).status).toBe(403);
  });

  it.each(closed.map((route) => [`${route.method.toUpperCase()} ${route.path}`, route] as const))(
    '%s lets in a caller with exactly its minimum role',
    async (_, route) => {
      const role = minRoleOf(route) ?? 'viewer';
      // A fresh session: one of these routes is logout.
      const { username, password } = session(role);
      const { status } = await callRoute(route, await login(app, username, password));
      expect([401, 403]).not.toContain(status);
      for (const higher of ROLES.filter((r) => RANK[r] > RANK[role])) {
        const again = await callRoute(route, await login(app, session(higher).username, session(higher).password));
        expect([401, 403]).not.toContain(again.status);
      }
    },
  );
});

/** A valid request for every rpc; a new rpc without one here fails to compile. */
const samples: { [K in keyof typeof rpc]: MessageInput<(typeof rpc)[K]['request']> } = {
  authLogin: { username: 'nobody-at-all', password: 'wrong' },
  authLogout: {},
  authMe: {},
  devicesList: {},
  devicesGet: { id: 'no-such-device' },
  devicesCreate: { id: 'made-over-nats' },
};

type RpcName = keyof typeof rpc;
const rpcNames = Object.keys(rpc) as RpcName[];
const routeOf = (name: RpcName): RouteDef => {
  const route = protocolRequestRoutes.get(rpc[name].subject);
  if (!route) throw new Error(`rpc.${name} has no route`);
  return route;
};

function errorOf(promise: Promise<unknown>): Promise<OutpostError | null> {
  return promise.then(
    () => null,
    (err: unknown) => {
      if (err instanceof OutpostError) return err;
      throw err;
    },
  );
}

function callRpc(name: RpcName, token: string | null) {
  // The generic call loses the per-name pairing of request and rpc; samples is keyed so they match.
  const def = rpc[name];
  return rpcCall(nc, def, samples[name] as MessageInput<typeof def.request>, token);
}

describe('NATS: every rpc the portal calls', () => {
  const closedRpcs = rpcNames.filter((name) => !isPublicRoute(routeOf(name)));

  it('are all closed but login', () => {
    expect(rpcNames.filter((name) => isPublicRoute(routeOf(name)))).toEqual(['authLogin']);
  });

  it.each(closedRpcs)('rpc.%s answers UNAUTHORIZED without a person token, or with an unknown one', async (name) => {
    const none = await errorOf(callRpc(name, null));
    expect(none?.code).toBe('UNAUTHORIZED');
    expect(none?.details).toEqual([{ path: `headers.${HEADER.authorization}`, message: 'missing' }]);
    expect((await errorOf(callRpc(name, generateToken())))?.code).toBe('UNAUTHORIZED');
  });

  it('refuses an Outpost-Authorization that is not a bearer token', async () => {
    const h = headers();
    h.set(HEADER.authorization, `Basic ${session('admin').token}`);
    const request = new TextEncoder().encode('{"type":"api.devices.list","v":"1.0","data":{}}');
    const reply = await nc.request(rpc.devicesList.subject, request, { headers: h, timeout: 5_000 });
    const body = JSON.parse(new TextDecoder().decode(reply.data)) as { ok: boolean; error: { code: string } };
    expect(body).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
  });

  const mutatingRpcs = closedRpcs.filter(
    (name) => routeOf(name).method !== 'get' && minRoleOf(routeOf(name)) !== 'viewer',
  );

  it('include mutations beyond a viewer (so the next test checks something)', () => {
    expect(mutatingRpcs).toContain('devicesCreate');
  });

  it.each(mutatingRpcs)('rpc.%s answers FORBIDDEN to a viewer', async (name) => {
    const refused = await errorOf(callRpc(name, session('viewer').token));
    expect(refused?.code).toBe('FORBIDDEN');
    expect((await errorOf(callRpc(name, await apiTokenWithRole(app, 'viewer'))))?.code).toBe('FORBIDDEN');
  });

  it.each(closedRpcs)('rpc.%s lets in a person with exactly its minimum role', async (name) => {
    const role = minRoleOf(routeOf(name)) ?? 'viewer';
    const { username, password } = session(role);
    const error = await errorOf(callRpc(name, await login(app, username, password)));
    expect(['UNAUTHORIZED', 'FORBIDDEN']).not.toContain(error?.code);
  });
});
