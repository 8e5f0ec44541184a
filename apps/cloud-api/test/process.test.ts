import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeMessage, rpc } from '@outpost/protocol';
import {
  createTestDatabase,
  getFreePort,
  type NatsServerHandle,
  spawnProcess,
  startNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { api, FakeAgent, natsClient, registerDevice, startTestApp } from './helpers.js';

/** The built entry point: turbo builds before testing, and these tests must not rebuild. */
const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

function env(vars: Record<string, string>): NodeJS.ProcessEnv {
  // Only what the test sets (plus PATH): the developer's own DATABASE_URL etc. must not leak in.
  return { PATH: process.env.PATH, ...vars };
}

async function runToExit(vars: Record<string, string>) {
  const proc = await spawnProcess(process.execPath, [MAIN], { env: env(vars) });
  const code = await proc.exited;
  return { code, output: proc.output() };
}

describe('configuration', () => {
  it('has working defaults', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 4000,
      natsUrl: 'nats://127.0.0.1:4222',
      logLevel: 'info',
      bootstrapTokenFile: null,
      presence: { flushIntervalMs: 1000, sweepIntervalMs: 5000 },
    });
    expect(config.database).toEqual({ kind: 'pglite', dir: `${process.cwd()}/.outpost/db` });
    expect(loadConfig({ DATABASE_URL: 'pglite:memory' }).database).toEqual({ kind: 'pglite-memory' });
    expect(loadConfig({ DATABASE_URL: 'pglite:/var/lib/outpost' }).database).toEqual({
      kind: 'pglite',
      dir: '/var/lib/outpost',
    });
    expect(loadConfig({ DATABASE_URL: 'postgresql://u@db:5432/outpost' }).database).toEqual({
      kind: 'postgres',
      url: 'postgresql://u@db:5432/outpost',
    });
  });

  it.each([
    ['PORT', 'http', /PORT must be a port number/],
    ['PORT', '70000', /PORT must be 0-65535/],
    ['DATABASE_URL', 'mysql://db/outpost', /DATABASE_URL must be postgres:/],
    ['DATABASE_URL', 'pglite:', /DATABASE_URL pglite: needs a directory/],
    ['NATS_URL', 'localhost:4222', /NATS_URL must be nats:\/\/host:port/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL must be one of/],
    ['PRESENCE_FLUSH_INTERVAL_MS', '1.5', /PRESENCE_FLUSH_INTERVAL_MS must be a whole number/],
    ['PRESENCE_SWEEP_INTERVAL_MS', '0', /PRESENCE_SWEEP_INTERVAL_MS must be at least 10/],
  ])('refuses %s=%s naming it', (variable, value, message) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(message);
  });

  it('makes the built app exit 1 with a log line naming the bad variable', async () => {
    const { code, output } = await runToExit({ PORT: 'http', LOG_LEVEL: 'loud' });
    expect(code).toBe(1);
    const lines = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: 'CONFIG_INVALID', variable: 'PORT', msg: expect.stringContaining('PORT') }),
        expect.objectContaining({ code: 'CONFIG_INVALID', variable: 'LOG_LEVEL' }),
      ]),
    );
  });
});

describe('the built app as a process', () => {
  let database: TestDatabase;
  let nats: NatsServerHandle | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await nats?.stop();
    await database?.drop();
  });

  it('starts without NATS, recovers when NATS comes up, and exits 0 on SIGTERM', async () => {
    const [natsPort, httpPort] = await Promise.all([getFreePort(), getFreePort()]);
    const proc = await spawnProcess(process.execPath, [MAIN], {
      env: env({
        PORT: String(httpPort),
        NATS_URL: `nats://127.0.0.1:${natsPort}`,
        DATABASE_URL: database.url,
      }),
      readyWhen: /cloud-api listening on http:\/\/127\.0\.0\.1:\d+/,
      readyTimeoutMs: 60_000,
    });
    try {
      await proc.waitForOutput(/"code":"NATS_UNAVAILABLE"/);
      const healthz = `http://127.0.0.1:${httpPort}/healthz`;
      expect((await fetch(healthz)).status).toBe(503);

      nats = await startNatsServer({ port: natsPort });
      await waitFor(async () => (await fetch(healthz)).status === 200, { what: '/healthz 200 once NATS is up' });

      expect(await proc.stop('SIGTERM', 20_000)).toBe(0);
      expect(proc.output()).toContain('cloud-api stopped');
    } finally {
      await proc.kill();
    }
  });

  it('writes buffered heartbeats to the database when it shuts down', async () => {
    const server = await startNatsServer();
    const tokenDir = mkdtempSync(join(tmpdir(), 'outpost-shutdown-'));
    const tokenFile = join(tokenDir, 'admin-token');
    const app = await startTestApp({
      natsUrl: server.url,
      databaseUrl: database.url,
      tokenFile,
      // Far longer than the test: only the shutdown flush can write this heartbeat.
      env: { PRESENCE_FLUSH_INTERVAL_MS: '60000' },
    });
    const nc = await natsClient(server.url);
    try {
      const ask = () =>
        nc.request(rpc.devicesList.subject, encodeMessage(rpc.devicesList.request, {}), { timeout: 1000 });
      await waitFor(ask, { what: 'the API to answer on NATS' });
      await registerDevice(app, 'last-words');
      new FakeAgent(nc, 'last-words', 60_000).heartbeat();
      // Answered after the heartbeat (same connection, in order), so the heartbeat has reached the buffer.
      await ask();
      await app.close();
      // A fresh instance on the same database (PGlite allows one process at a time) reads it back.
      const after = await startTestApp({ natsUrl: server.url, databaseUrl: database.url, tokenFile });
      try {
        const { body } = await api(after, '/api/v1/devices/last-words', { token: app.adminToken });
        expect(body).toMatchObject({ id: 'last-words', status: 'online' });
      } finally {
        await after.close();
      }
    } finally {
      await nc.close();
      await app.close();
      await server.stop();
      rmSync(tokenDir, { recursive: true, force: true });
    }
  });
});
