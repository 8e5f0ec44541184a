import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase,
  type NatsServerHandle,
  startNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitService } from '../src/rate-limit/rate-limit.service.js';
import { api, startTestApp, type TestApp } from './helpers.js';

/*
 * RateLimitService: fixed-window counters in PostgreSQL, so every replica counts into the same window. The second
 * replica needs a PostgreSQL server (PGlite is one process); without one those cases are skipped.
 */

let nats: NatsServerHandle;
let database: TestDatabase;
let replicas: TestApp[] = [];
let secrets: string;

beforeAll(async () => {
  [nats, database] = await Promise.all([startNatsServer(), createTestDatabase()]);
  secrets = mkdtempSync(join(tmpdir(), 'outpost-rate-limit-'));
  const shared = { tokenFile: join(secrets, 'admin-token'), passwordFile: join(secrets, 'admin-password') };
  const env = { AUTH_LOGIN_MAX_FAILURES: '2', AUTH_LOGIN_LOCKOUT_SECONDS: '600' };
  const count = database.kind === 'postgres' ? 2 : 1;
  replicas = await Promise.all(
    Array.from({ length: count }, () => startTestApp({ natsUrl: nats.url, databaseUrl: database.url, env, ...shared })),
  );
});

afterAll(async () => {
  await Promise.all(replicas.map((replica) => replica.close()));
  await Promise.all([nats?.stop(), database?.drop()]);
  rmSync(secrets, { recursive: true, force: true });
});

const limiter = (replica = 0): RateLimitService => {
  const app = replicas[replica];
  if (!app) throw new Error(`no replica ${replica}`);
  return app.running.app.get(RateLimitService);
};

describe('RateLimitService', () => {
  it('allows `limit` attempts per window, then refuses with the seconds left', async () => {
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limiter().consume('test:burst', 3, 60));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
    const refused = results[3];
    expect(refused?.retryAfterSeconds).toBeGreaterThanOrEqual(59);
    expect(refused?.retryAfterSeconds).toBeLessThanOrEqual(60);
    const error = limiter().refusal(refused ?? results[0]!, 'Slow down');
    expect(error.toBody()).toMatchObject({
      code: 'RATE_LIMITED',
      message: expect.stringMatching(/^Slow down; try again in (59|60) s$/),
      details: [{ path: 'retryAfterSeconds', message: expect.stringMatching(/^(59|60)$/) }],
    });
  });

  it('starts counting again when the window has ended', async () => {
    for (let i = 0; i < 2; i++) expect((await limiter().consume('test:window', 2, 1)).allowed).toBe(true);
    expect((await limiter().consume('test:window', 2, 1)).allowed).toBe(false);
    const reopened = await waitFor(
      async () => {
        const result = await limiter().peek('test:window', 2, 1);
        return result.count === 0 ? result : null;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the 1 s window to end' },
    );
    expect(reopened.allowed).toBe(true);
    expect((await limiter().consume('test:window', 2, 1)).count).toBe(1);
  });

  it('peeks without counting, and forgets a key on reset', async () => {
    await limiter().consume('test:peek', 2, 60);
    expect(await limiter().peek('test:peek', 2, 60)).toMatchObject({ allowed: true, count: 1 });
    expect(await limiter().peek('test:peek', 2, 60)).toMatchObject({ allowed: true, count: 1 });
    await limiter().consume('test:peek', 2, 60);
    expect(await limiter().peek('test:peek', 2, 60)).toMatchObject({ allowed: false, count: 2 });
    await limiter().reset('test:peek');
    expect(await limiter().peek('test:peek', 2, 60)).toMatchObject({ allowed: true, count: 0 });
  });

  it('counts concurrent attempts exactly', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => limiter().consume('test:concurrent', 5, 60)));
    expect(results.filter((r) => r.allowed)).toHaveLength(5);
    expect(results.map((r) => r.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('refuses nonsense arguments', async () => {
    await expect(limiter().consume('', 1, 1)).rejects.toThrow(/key/);
    await expect(limiter().consume('k', 0, 1)).rejects.toThrow(/positive integer/);
    await expect(limiter().consume('k', 1, 0)).rejects.toThrow(/window/);
  });
});

describe('across replicas', () => {
  it('shares one window between replicas', async (context) => {
    if (replicas.length < 2) context.skip('needs PostgreSQL (PGlite is one process)');
    expect((await limiter(0).consume('test:shared', 2, 60)).allowed).toBe(true);
    expect((await limiter(1).consume('test:shared', 2, 60)).allowed).toBe(true);
    expect((await limiter(0).consume('test:shared', 2, 60)).allowed).toBe(false);
    expect((await limiter(1).peek('test:shared', 2, 60)).count).toBe(3);
  });

  it('locks a username for every replica after failures spread across them', async (context) => {
    if (replicas.length < 2) context.skip('needs PostgreSQL (PGlite is one process)');
    const [first, second] = replicas as [TestApp, TestApp];
    const attempt = (replica: TestApp, password: string) =>
      api(replica, '/api/v1/auth/login', { method: 'POST', body: { username: 'admin', password } });
    expect((await attempt(first, 'wrong one')).status).toBe(401);
    expect((await attempt(second, 'wrong two')).status).toBe(401);
    const locked = await attempt(first, first.adminPassword);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(500);
    expect((await attempt(second, second.adminPassword)).status).toBe(429);
  });
});
