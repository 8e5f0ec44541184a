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
import type { NatsConnection } from 'nats';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PresenceRepository } from '../src/presence/presence.repository.js';
import {
  api,
  type DeviceBody,
  FakeAgent,
  natsClient,
  type PresenceEvent,
  registerDevice,
  startTestApp,
  type TestApp,
  waitForStatus,
  watchPresence,
} from './helpers.js';

let nats: NatsServerHandle;
let database: TestDatabase;
let replicas: TestApp[] = [];
let nc: NatsConnection;
let events: PresenceEvent[];
let tokenDir: string | undefined;

const presenceEnv = { PRESENCE_FLUSH_INTERVAL_MS: '100', PRESENCE_SWEEP_INTERVAL_MS: '100' };
const token = () => replicas[0]?.adminToken ?? '';

beforeAll(async () => {
  [nats, database] = await Promise.all([startNatsServer(), createTestDatabase()]);
  if (database.kind === 'pglite') return; // see the skip below
  // Started together on an empty database: migrations and the bootstrap token must not race.
  tokenDir = mkdtempSync(join(tmpdir(), 'outpost-replicas-'));
  const tokenFile = join(tokenDir, 'admin-token');
  const [first, second] = await Promise.all(
    [0, 1].map(() => startTestApp({ natsUrl: nats.url, databaseUrl: database.url, env: presenceEnv, tokenFile })),
  );
  if (!first || !second) throw new Error('replicas did not start');
  replicas = [first, second];
  nc = await natsClient(nats.url);
  events = watchPresence(nc);
  await waitFor(() => replicas.every((r) => r.logs.find((l) => l.msg === 'connected to NATS')), {
    what: 'both replicas on NATS',
  });
});

afterAll(async () => {
  await nc?.close();
  await Promise.all(replicas.map((r) => r.close()));
  await Promise.all([nats?.stop(), database?.drop()]);
  if (tokenDir) rmSync(tokenDir, { recursive: true, force: true });
});

describe('two replicas on one database and NATS', () => {
  it('start together: one migration, one bootstrap admin token', async (ctx) => {
    if (database.kind === 'pglite') {
      ctx.skip('PGlite is one process’s embedded database: two replicas need PostgreSQL');
      return;
    }
    expect(replicas[0]?.adminToken).toBe(replicas[1]?.adminToken);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ count: string }>("select count(*) from api_tokens where role = 'admin'");
      expect(rows[0]?.count).toBe('1');
    } finally {
      await client.end();
    }
    for (const replica of replicas)
      expect((await api(replica, '/api/v1/devices', { token: token() })).status).toBe(200);
  });

  it('turns heartbeats split across replicas into one correct online device', async (ctx) => {
    if (database.kind === 'pglite') {
      ctx.skip('PGlite is one process’s embedded database: two replicas need PostgreSQL');
      return;
    }
    const first = replicas[0];
    if (!first) throw new Error('no replica');
    await registerDevice(first, 'shared-01');
    const agent = new FakeAgent(nc, 'shared-01', 200);
    agent.hello();
    const stopBeating = agent.keepBeating(20);
    try {
      // The queue group gives each replica a share: both write this device.
      await waitFor(
        () =>
          replicas.every((r) =>
            r.logs.find((l) => l.msg === 'presence flushed' && typeof l.devices === 'number' && l.devices > 0),
          ),
        { what: 'both replicas to flush heartbeats' },
      );
      const onEach = await Promise.all(replicas.map((r) => waitForStatus(r, token(), 'shared-01', 'online')));
      expect(onEach[0]?.id).toBe('shared-01');
      const list = (await api(replicas[1] ?? { url: '' }, '/api/v1/devices?idPrefix=shared', { token: token() }))
        .body as { items: DeviceBody[] };
      expect(list.items.map((d) => d.id)).toEqual(['shared-01']);
    } finally {
      stopBeating();
    }
    await nc.flush();
    expect(events.filter((e) => e.deviceId === 'shared-01' && e.status === 'online')).toHaveLength(1);

    // Silent: whichever replica holds the sweep lock takes it offline, once.
    await waitForStatus(replicas[0] ?? { url: '' }, token(), 'shared-01', 'offline');
    await waitFor(() => events.some((e) => e.deviceId === 'shared-01' && e.status === 'offline'), {
      what: 'offline event',
    });
    await nc.flush();
    expect(events.filter((e) => e.deviceId === 'shared-01' && e.status === 'offline')).toHaveLength(1);
  });

  it('sweeps only while holding the advisory lock', async (ctx) => {
    if (database.kind === 'pglite') {
      ctx.skip('PGlite is one process’s embedded database: two replicas need PostgreSQL');
      return;
    }
    const repository = replicas[0]?.running.app.get(PresenceRepository);
    if (!repository) throw new Error('no replica');
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      // Same key as the sweeper's: 0x4f50_5357_4545 ("OPSWEE").
      await holder.query('select pg_advisory_lock($1::bigint)', [0x4f50_5357_4545n.toString()]);
      expect(await repository.sweep(new Date(), 0)).toBeNull();
      await holder.query('select pg_advisory_unlock($1::bigint)', [0x4f50_5357_4545n.toString()]);
      expect(await repository.sweep(new Date(), 0)).toEqual(expect.any(Array));
    } finally {
      await holder.end();
    }
  });
});
