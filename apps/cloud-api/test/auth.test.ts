import { readFileSync, statSync } from 'node:fs';
import { type Identity, type LoginResponse, OutpostError, retryAfterSeconds, rpc } from '@outpost/protocol';
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
import { DATABASE, type Database } from '../src/database/database.js';
import { BootstrapAdminService } from '../src/users/bootstrap-admin.service.js';
import { api, login, natsClient, personWithRole, rpcCall, rpcRaw, startTestApp, type TestApp } from './helpers.js';

/*
 * People and pipelines against the real API, PostgreSQL and nats-server: login, lockout and rate limits, sessions
 * (expiry, idle timeout, logout), users, API tokens (expiry, revocation) and the bootstrap admin.
 */

let nats: NatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let nc: NatsConnection;

const MAX_FAILURES = 3;
const LOCKOUT_SECONDS = 3;
const ADDRESS_LIMIT = 40;

interface ErrorResponse {
  code: string;
  message: string;
  details: { path: string; message: string }[];
}

beforeAll(async () => {
  [nats, database] = await Promise.all([startNatsServer(), createTestDatabase()]);
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: {
      AUTH_LOGIN_MAX_FAILURES: String(MAX_FAILURES),
      AUTH_LOGIN_LOCKOUT_SECONDS: String(LOCKOUT_SECONDS),
      AUTH_LOGIN_ADDRESS_LIMIT: String(ADDRESS_LIMIT),
    },
  });
  nc = await natsClient(nats.url);
  await waitFor(() => rpcRaw(nc, rpc.authMe, {}, app.adminToken, { timeout: 1000 }), {
    what: 'the API to answer on NATS',
  });
});

afterAll(async () => {
  await nc?.close();
  await app?.close();
  await Promise.all([nats?.stop(), database?.drop()]);
});

const db = (): Database => app.running.app.get<symbol, Database>(DATABASE);

async function createUser(username: string, password: string, role = 'operator') {
  const created = await api(app, '/api/v1/users', {
    method: 'POST',
    token: app.adminToken,
    body: { username, password, role },
  });
  expect(created.status).toBe(201);
  return created.body as { id: string; username: string; role: string };
}

describe('bootstrap admin user', () => {
  it('writes a random password, readable only by its owner, that logs in as admin', async () => {
    expect(app.adminPassword).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(statSync(app.passwordFile).mode & 0o777).toBe(0o600);
    const { status, body } = await api(app, '/api/v1/auth/login', {
      method: 'POST',
      body: { username: 'admin', password: app.adminPassword },
    });
    expect(status).toBe(200);
    expect((body as LoginResponse).user).toMatchObject({ username: 'admin', role: 'admin', disabledAt: null });
    expect(app.logs.find((line) => String(line.msg).startsWith('bootstrap admin user created'))).toBeDefined();
  });

  it('leaves the file alone once an enabled admin exists', async () => {
    await app.running.app.get(BootstrapAdminService).onApplicationBootstrap();
    expect(readFileSync(app.passwordFile, 'utf8').trim()).toBe(app.adminPassword);
    expect(app.logs.find((line) => String(line.msg).includes('bootstrap password file left alone'))).toBeDefined();
  });
});

describe('login', () => {
  it('returns a session token, its expiry and the user; the token authorizes HTTP and NATS calls', async () => {
    const user = await createUser('Grace', 'a long enough password');
    const { status, body } = await api(app, '/api/v1/auth/login', {
      method: 'POST',
      body: { username: 'GRACE ', password: 'a long enough password' },
    });
    expect(status).toBe(200);
    const session = body as LoginResponse;
    expect(session.token).toMatch(/^ops_[A-Za-z0-9_-]{43}$/);
    expect(session.user).toEqual({ ...user, createdAt: expect.any(String), disabledAt: null });
    const expiresIn = Date.parse(session.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(11 * 3600_000);
    expect(expiresIn).toBeLessThanOrEqual(12 * 3600_000);

    const me = await api(app, '/api/v1/auth/me', { token: session.token });
    expect(me.body).toEqual({
      kind: 'user',
      id: user.id,
      name: 'grace',
      role: 'operator',
      expiresAt: session.expiresAt,
    } satisfies Identity);
    expect(await rpcCall(nc, rpc.authMe, {}, session.token)).toEqual(me.body);
  });

  it('logs in over NATS as the portal does', async () => {
    await createUser('nats-user', 'another long password');
    const session = await rpcCall(
      nc,
      rpc.authLogin,
      { username: 'nats-user', password: 'another long password' },
      null,
    );
    expect(session.user.username).toBe('nats-user');
    expect((await rpcCall(nc, rpc.authMe, {}, session.token)).name).toBe('nats-user');
  });

  it('answers a wrong password, an unknown user and a disabled account alike: 401 naming no reason', async () => {
    const user = await createUser('hedy', 'frequency hopping 1941');
    const disabled = await createUser('ada', 'analytical engine 1843');
    expect(
      (
        await api(app, `/api/v1/users/${disabled.id}`, {
          method: 'PATCH',
          token: app.adminToken,
          body: { disabled: true },
        })
      ).status,
    ).toBe(200);
    const answers = [];
    for (const [username, password] of [
      ['hedy', 'wrong password here'],
      ['nobody', 'frequency hopping 1941'],
      ['ada', 'analytical engine 1843'],
    ]) {
      answers.push(await api(app, '/api/v1/auth/login', { method: 'POST', body: { username, password } }));
    }
    for (const answer of answers) {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual(answers[0]?.body);
    }
    expect(answers[0]?.body).toMatchObject({ code: 'UNAUTHORIZED', message: 'Invalid username or password' });
    // Failures are audited with the reason, for admins only.
    const audit = await api(app, `/api/v1/audit?action=auth.login.failed&targetId=${user.id}`, {
      token: app.adminToken,
    });
    expect((audit.body as { items: { details: Record<string, unknown> }[] }).items[0]?.details).toMatchObject({
      username: 'hedy',
      reason: 'bad-password',
    });
  });

  it('names each bad field of a malformed login', async () => {
    const { status, body } = await api(app, '/api/v1/auth/login', { method: 'POST', body: { username: '' } });
    expect(status).toBe(400);
    expect((body as ErrorResponse).details.map((d) => d.path).sort()).toEqual(['password', 'username']);
  });

  it(`locks a username after ${MAX_FAILURES} failures: 429 with Retry-After, even with the right password`, async () => {
    await createUser('lin', 'correct battery staple');
    for (let i = 0; i < MAX_FAILURES; i++) {
      const failed = await api(app, '/api/v1/auth/login', {
        method: 'POST',
        body: { username: 'lin', password: `guess number ${i}` },
      });
      expect(failed.status).toBe(401);
    }
    const locked = await api(app, '/api/v1/auth/login', {
      method: 'POST',
      body: { username: 'lin', password: 'correct battery staple' },
    });
    expect(locked.status).toBe(429);
    const body = locked.body as ErrorResponse;
    expect(body.code).toBe('RATE_LIMITED');
    expect(body.message).toMatch(/^Too many failed logins for lin; try again in \d+ s$/);
    const retryAfter = Number(locked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(LOCKOUT_SECONDS);
    expect(retryAfterSeconds({ ...body, code: 'RATE_LIMITED' })).toBe(retryAfter);
    expect(body.details).toContainEqual({ path: 'username', message: `locked after ${MAX_FAILURES} failed attempts` });
    // Another username is not locked; the locked one opens again when its window ends.
    expect(
      (await api(app, '/api/v1/auth/login', { method: 'POST', body: { username: 'lin2', password: 'x' } })).status,
    ).toBe(401);
    await waitFor(
      async () =>
        (
          await api(app, '/api/v1/auth/login', {
            method: 'POST',
            body: { username: 'lin', password: 'correct battery staple' },
          })
        ).status === 200,
      { timeoutMs: 30_000, intervalMs: 500, what: 'the lockout to end' },
    );
  });

  it(`limits attempts per client address (${ADDRESS_LIMIT} per minute), over NATS with the portal's forwarded address`, async () => {
    const from = (address: string, i: number) =>
      rpcCall(nc, rpc.authLogin, { username: `spray-${i}`, password: 'x' }, null, { clientAddress: address }).then(
        () => null,
        (err: unknown) => (err instanceof OutpostError ? err : Promise.reject(err)),
      );
    for (let i = 0; i < ADDRESS_LIMIT; i++) expect((await from('203.0.113.9', i))?.code).toBe('UNAUTHORIZED');
    const refused = await from('203.0.113.9', ADDRESS_LIMIT);
    expect(refused?.code).toBe('RATE_LIMITED');
    expect(refused?.message).toMatch(/from this address/);
    expect(retryAfterSeconds(refused?.toBody() ?? { code: 'INTERNAL', message: '', details: [] })).toBeGreaterThan(0);
    // Another address is not affected.
    expect((await from('203.0.113.10', 0))?.code).toBe('UNAUTHORIZED');
  });
});

describe('sessions', () => {
  it('end on logout: the token stops working over HTTP and NATS', async () => {
    const person = await personWithRole(app, 'viewer');
    expect((await api(app, '/api/v1/auth/me', { token: person.token })).status).toBe(200);
    const out = await api(app, '/api/v1/auth/logout', { method: 'POST', token: person.token });
    expect(out.status).toBe(204);
    expect(out.body).toBe('');
    expect((await api(app, '/api/v1/auth/me', { token: person.token })).status).toBe(401);
    const overNats = await rpcCall(nc, rpc.authMe, {}, person.token).catch((err: unknown) => err);
    expect(overNats).toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('log out over NATS too, and an API token cannot log out (it is revoked instead)', async () => {
    const person = await personWithRole(app, 'viewer');
    expect(await rpcCall(nc, rpc.authLogout, {}, person.token)).toEqual({});
    expect((await api(app, '/api/v1/auth/me', { token: person.token })).status).toBe(401);
    const notASession = await api(app, '/api/v1/auth/logout', { method: 'POST', token: app.adminToken });
    expect(notASession.status).toBe(400);
    expect(notASession.body).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/revoke/) });
  });

  it('end after a quiet spell longer than the idle timeout', async () => {
    const person = await personWithRole(app, 'viewer');
    expect((await api(app, '/api/v1/auth/me', { token: person.token })).status).toBe(200);
    // Two hours and a minute without a call, as the database sees it.
    await db().execute(
      sql`update sessions set last_seen_at = now() - interval '2 hours 1 minute' where user_id = ${person.id}`,
    );
    expect((await api(app, '/api/v1/auth/me', { token: person.token })).status).toBe(401);
  });

  it('end when the user is disabled or gets a new password', async () => {
    const person = await personWithRole(app, 'operator');
    const other = await personWithRole(app, 'operator');
    const patch = (id: string, body: unknown) =>
      api(app, `/api/v1/users/${id}`, { method: 'PATCH', token: app.adminToken, body });
    expect((await patch(person.id, { disabled: true })).body).toMatchObject({ disabledAt: expect.any(String) });
    expect((await api(app, '/api/v1/auth/me', { token: person.token })).status).toBe(401);
    expect((await patch(other.id, { password: 'a brand new password' })).status).toBe(200);
    expect((await api(app, '/api/v1/auth/me', { token: other.token })).status).toBe(401);
    expect(await login(app, other.username, 'a brand new password')).toMatch(/^ops_/);
  });
});

describe('users', () => {
  it('are created by admins, unique by case-insensitive username, and listed a page at a time', async () => {
    const created = await api(app, '/api/v1/users', {
      method: 'POST',
      token: app.adminToken,
      body: { username: 'Margaret', password: 'apollo guidance 1969', role: 'viewer' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      username: 'margaret',
      role: 'viewer',
      createdAt: expect.any(String),
      disabledAt: null,
    });
    expect(JSON.stringify(created.body)).not.toMatch(/password|hash|scrypt/i);
    const again = await api(app, '/api/v1/users', {
      method: 'POST',
      token: app.adminToken,
      body: { username: 'MARGARET', password: 'apollo guidance 1969', role: 'viewer' },
    });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'CONFLICT', details: [{ path: 'username' }] });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const page = (await api(app, `/api/v1/users${query}`, { token: app.adminToken })).body as {
        items: { username: string }[];
        nextCursor: string | null;
      };
      seen.push(...page.items.map((u) => u.username));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(seen).toEqual(expect.arrayContaining(['admin', 'margaret', 'grace']));
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('refuse short passwords and odd usernames, naming each', async () => {
    const { status, body } = await api(app, '/api/v1/users', {
      method: 'POST',
      token: app.adminToken,
      body: { username: 'a b', password: 'short', role: 'viewer' },
    });
    expect(status).toBe(400);
    expect((body as ErrorResponse).details.map((d) => d.path).sort()).toEqual(['password', 'username']);
  });

  it('keep at least one enabled admin', async () => {
    const admins = (await api(app, '/api/v1/users?limit=200', { token: app.adminToken })).body as {
      items: { id: string; username: string; role: string }[];
    };
    const bootstrap = admins.items.find((u) => u.username === 'admin');
    const refused = await api(app, `/api/v1/users/${bootstrap?.id}`, {
      method: 'PATCH',
      token: app.adminToken,
      body: { role: 'viewer' },
    });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'CONFLICT', message: 'admin is the last enabled admin' });
    expect(
      (
        await api(app, '/api/v1/users/no-such-user', {
          method: 'PATCH',
          token: app.adminToken,
          body: { role: 'admin' },
        })
      ).status,
    ).toBe(404);
  });
});

describe('API tokens', () => {
  it('are shown once, listed without the secret, work until revoked, and stop at once when revoked', async () => {
    const created = await api(app, '/api/v1/tokens', {
      method: 'POST',
      token: app.adminToken,
      body: { name: 'ci-deploy', role: 'operator', expiresInDays: 30 },
    });
    expect(created.status).toBe(201);
    const token = created.body as { id: string; token: string; expiresAt: string; status: string };
    expect(token.token).toMatch(/^opt_[A-Za-z0-9_-]{43}$/);
    expect(token.status).toBe('active');
    const days = (Date.parse(token.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);

    const me = await api(app, '/api/v1/auth/me', { token: token.token });
    expect(me.body).toMatchObject({ kind: 'token', id: token.id, name: 'ci-deploy', role: 'operator' });
    expect(
      (await api(app, '/api/v1/devices', { method: 'POST', token: token.token, body: { id: 'by-ci' } })).status,
    ).toBe(201);

    const listed = (await api(app, '/api/v1/tokens?status=active', { token: app.adminToken })).body as {
      items: { id: string; name: string; lastUsedAt: string | null }[];
    };
    const entry = listed.items.find((t) => t.id === token.id);
    expect(entry).toMatchObject({ name: 'ci-deploy', lastUsedAt: expect.any(String) });
    expect(JSON.stringify(listed)).not.toContain(token.token);
    expect(JSON.stringify(listed)).not.toMatch(/"token"/);

    const revoked = await api(app, `/api/v1/tokens/${token.id}`, { method: 'DELETE', token: app.adminToken });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ id: token.id, status: 'revoked', revokedAt: expect.any(String) });
    expect((await api(app, '/api/v1/devices', { token: token.token })).status).toBe(401);
    expect((await api(app, '/api/v1/tokens/no-such-token', { method: 'DELETE', token: app.adminToken })).status).toBe(
      404,
    );
    const onlyRevoked = (await api(app, '/api/v1/tokens?status=revoked', { token: app.adminToken })).body as {
      items: { id: string }[];
    };
    expect(onlyRevoked.items.map((t) => t.id)).toEqual([token.id]);
  });

  it('stop working when they expire, and are listed as expired', async () => {
    const created = (
      await api(app, '/api/v1/tokens', {
        method: 'POST',
        token: app.adminToken,
        body: { name: 'short', role: 'viewer' },
      })
    ).body as { id: string; token: string };
    expect((await api(app, '/api/v1/devices', { token: created.token })).status).toBe(200);
    await db().execute(sql`update api_tokens set expires_at = now() - interval '1 second' where id = ${created.id}`);
    const refused = await api(app, '/api/v1/devices', { token: created.token });
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ code: 'UNAUTHORIZED', message: 'Unknown, expired or revoked token' });
    const expired = (await api(app, '/api/v1/tokens?status=expired', { token: app.adminToken })).body as {
      items: { id: string; status: string }[];
    };
    expect(expired.items).toEqual([expect.objectContaining({ id: created.id, status: 'expired' })]);
  });

  it('default to 90 days and refuse lifetimes over ten years', async () => {
    const created = (
      await api(app, '/api/v1/tokens', {
        method: 'POST',
        token: app.adminToken,
        body: { name: 'dflt', role: 'viewer' },
      })
    ).body as { expiresAt: string };
    expect(Math.round((Date.parse(created.expiresAt) - Date.now()) / 86_400_000)).toBe(90);
    const tooLong = await api(app, '/api/v1/tokens', {
      method: 'POST',
      token: app.adminToken,
      body: { name: 'forever', role: 'admin', expiresInDays: 36500 },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toMatchObject({ details: [{ path: 'expiresInDays' }] });
  });
});

describe('secrets', () => {
  it('never reach a log line: no password, session token or API token', () => {
    const logs = JSON.stringify(app.logs.lines);
    for (const secret of [app.adminPassword, app.adminToken, 'a long enough password', 'correct battery staple']) {
      expect(logs).not.toContain(secret);
    }
    expect(logs).not.toMatch(/ops_[A-Za-z0-9_-]{43}/);
    expect(logs).not.toMatch(/opt_[A-Za-z0-9_-]{43}/);
    expect(logs).not.toMatch(/scrypt\$/);
  });
});
