import { subjects } from '@outpost/protocol';
import {
  createTestDatabase,
  type NatsServerHandle,
  startNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import type { NatsConnection } from 'nats';
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
let app: TestApp;
let nc: NatsConnection;
let events: PresenceEvent[];

const eventsFor = (deviceId: string, status?: 'online' | 'offline') =>
  events.filter((e) => e.deviceId === deviceId && (status === undefined || e.status === status));

beforeAll(async () => {
  [nats, database] = await Promise.all([startNatsServer(), createTestDatabase()]);
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: { PRESENCE_FLUSH_INTERVAL_MS: '100', PRESENCE_SWEEP_INTERVAL_MS: '100' },
  });
  nc = await natsClient(nats.url);
  events = watchPresence(nc);
  await nc.flush();
  // Handlers subscribe once the API's NATS connection is up.
  await waitFor(() => app.logs.find((l) => l.msg === 'connected to NATS'), { what: 'the API to connect to NATS' });
  // Presence only records devices the registry knows (enrolment registers them); these tests register theirs first.
  for (const id of [
    'warmup',
    'hello-01',
    'batch-01',
    'batch-02',
    'batch-03',
    'silent-01',
    'bye-01',
    'reboot-01',
    'mal-01',
  ]) {
    await registerDevice(app, id);
  }
  await waitFor(
    async () => {
      new FakeAgent(nc, 'warmup', 60_000).hello();
      const { body } = await api(app, '/api/v1/devices/warmup', { token: app.adminToken });
      return (body as DeviceBody).status === 'online';
    },
    { what: 'the API to handle agent messages', intervalMs: 200 },
  );
});

afterAll(async () => {
  await nc?.close();
  await app?.close();
  await Promise.all([nats?.stop(), database?.drop()]);
});

describe('presence from agent messages', () => {
  it('shows a registered device online on its first hello and announces it', async () => {
    const agent = new FakeAgent(nc, 'hello-01', 60_000, 'boot-a', '1.2.3');
    const before = Date.now();
    agent.hello();
    const device = await waitForStatus(app, app.adminToken, 'hello-01', 'online');
    expect(device.agentVersion).toBe('1.2.3');
    expect(Date.parse(device.lastSeen ?? '')).toBeGreaterThanOrEqual(before - 1000);
    await waitFor(() => eventsFor('hello-01', 'online').length === 1, { what: 'online event' });
    expect(eventsFor('hello-01', 'online')[0]).toMatchObject({
      deviceId: 'hello-01',
      status: 'online',
      lastSeen: device.lastSeen,
    });
  });

  it('batches heartbeats: many heartbeats from many devices end as one correct row and one event per device', async () => {
    const agents = ['batch-01', 'batch-02', 'batch-03'].map((id) => new FakeAgent(nc, id, 60_000));
    for (let round = 0; round < 30; round += 1) for (const agent of agents) agent.heartbeat();
    const lastSent = Date.now();
    await nc.flush();
    for (const agent of agents) {
      const device = await waitForStatus(app, app.adminToken, agent.deviceId, 'online');
      expect(device.agentVersion).toBe('0.1.0');
      await waitFor(
        async () => {
          const body = (await api(app, `/api/v1/devices/${agent.deviceId}`, { token: app.adminToken }))
            .body as DeviceBody;
          // The newest heartbeat (sent last) is the one recorded.
          return Date.parse(body.lastSeen ?? '') >= lastSent - 50;
        },
        { what: `${agent.deviceId} last seen after the last heartbeat` },
      );
    }
    await waitFor(() => agents.every((a) => eventsFor(a.deviceId, 'online').length === 1), { what: 'online events' });
    // 90 heartbeats were written in a handful of flushes, not one write each.
    const flushes = app.logs.lines.filter(
      (l) => l.msg === 'presence flushed' && typeof l.devices === 'number' && l.devices > 0,
    );
    expect(flushes.length).toBeLessThan(90);
    expect(Math.max(...flushes.map((l) => Number(l.devices)))).toBeGreaterThan(1);
  });

  it('marks a device offline after it misses 3 heartbeat intervals, and announces it', async () => {
    const agent = new FakeAgent(nc, 'silent-01', 200);
    agent.hello();
    const stopBeating = agent.keepBeating(100);
    try {
      await waitForStatus(app, app.adminToken, 'silent-01', 'online');
      const flushesSoFar = app.logs.lines.filter((l) => l.msg === 'presence flushed').length;
      // Steady heartbeats keep it online across many flushes and sweeps (about 2 s).
      await waitFor(() => app.logs.lines.filter((l) => l.msg === 'presence flushed').length > flushesSoFar + 20, {
        what: 'several flushes while beating',
      });
      expect(eventsFor('silent-01', 'offline')).toEqual([]);
    } finally {
      stopBeating();
    }
    const stoppedAt = Date.now();
    const device = await waitForStatus(app, app.adminToken, 'silent-01', 'offline');
    expect(Date.parse(device.lastSeen ?? '')).toBeLessThanOrEqual(stoppedAt + 100);
    await waitFor(() => eventsFor('silent-01', 'offline').length === 1, { what: 'offline event' });
    expect(eventsFor('silent-01', 'offline')[0]?.lastSeen).toBe(device.lastSeen);

    // It comes back with its next heartbeat.
    agent.heartbeat();
    await waitForStatus(app, app.adminToken, 'silent-01', 'online');
    await waitFor(() => eventsFor('silent-01', 'online').length === 2, { what: 'second online event' });
  });

  it('marks a device offline at once on goodbye', async () => {
    // A 10-minute interval: the sweeper would not touch it for half an hour, so only the goodbye can.
    const agent = new FakeAgent(nc, 'bye-01', 600_000);
    agent.hello();
    await waitForStatus(app, app.adminToken, 'bye-01', 'online');
    agent.goodbye();
    await waitForStatus(app, app.adminToken, 'bye-01', 'offline', 10_000);
    await waitFor(() => eventsFor('bye-01', 'offline').length === 1, { what: 'offline event' });
  });

  it('ignores a goodbye from an older agent process once a newer one said hello', async () => {
    const oldBoot = new FakeAgent(nc, 'reboot-01', 600_000, 'boot-old', '1.0.0');
    const newBoot = new FakeAgent(nc, 'reboot-01', 600_000, 'boot-new', '2.0.0');
    oldBoot.hello();
    await waitForStatus(app, app.adminToken, 'reboot-01', 'online');
    newBoot.hello();
    await waitFor(
      async () =>
        ((await api(app, '/api/v1/devices/reboot-01', { token: app.adminToken })).body as DeviceBody).agentVersion ===
        '2.0.0',
      { what: 'the new boot to be recorded' },
    );
    // The old process's goodbye, arriving late, is refused.
    const refused = await app.running.app.get(PresenceRepository).markOffline('reboot-01', 'boot-old', new Date());
    expect(refused).toBeNull();
    expect(((await api(app, '/api/v1/devices/reboot-01', { token: app.adminToken })).body as DeviceBody).status).toBe(
      'online',
    );
    newBoot.goodbye();
    await waitForStatus(app, app.adminToken, 'reboot-01', 'offline', 10_000);
    await waitFor(() => eventsFor('reboot-01', 'offline').length > 0, { what: 'offline event' });
    await nc.flush();
    expect(eventsFor('reboot-01', 'offline')).toHaveLength(1);
  });

  it('drops malformed messages with a log naming subject and code, and keeps handling good ones', async () => {
    const encoder = new TextEncoder();
    const heartbeatSubject = subjects.device.heartbeat('mal-01');
    nc.publish(heartbeatSubject, encoder.encode('{not json'));
    nc.publish(heartbeatSubject, encoder.encode(JSON.stringify({ type: 'agent.heartbeat', v: 99, data: {} })));
    nc.publish(heartbeatSubject, encoder.encode(JSON.stringify({ type: 'agent.heartbeat', v: 1, data: { seq: -1 } })));
    nc.publish(
      subjects.device.hello('mal-01'),
      encoder.encode(JSON.stringify({ type: 'agent.goodbye', v: 1, data: {} })),
    );
    nc.publish(subjects.device.goodbye('mal-01'), new Uint8Array([0xff, 0xfe]));
    // Matches the fleet wildcard, but "-bad" is no device id.
    nc.publish('outpost.dev.-bad.agent.heartbeat', encoder.encode('{}'));
    new FakeAgent(nc, 'mal-01', 60_000).heartbeat();

    await waitForStatus(app, app.adminToken, 'mal-01', 'online');
    const dropped = (subject: string, code: string) =>
      waitFor(() => app.logs.find((l) => l.subject === subject && l.code === code && l.level === 40), {
        what: `a ${code} log for ${subject}`,
      });
    await dropped(heartbeatSubject, 'BAD_MESSAGE'); // not JSON
    await dropped(heartbeatSubject, 'UNSUPPORTED_VERSION'); // v99
    await dropped(heartbeatSubject, 'VALIDATION_FAILED'); // bad payload
    await dropped(subjects.device.hello('mal-01'), 'BAD_MESSAGE'); // wrong message type
    await dropped(subjects.device.goodbye('mal-01'), 'BAD_MESSAGE'); // not UTF-8
    await dropped('outpost.dev.-bad.agent.heartbeat', 'BAD_MESSAGE');
    const invalid = app.logs.find((l) => l.code === 'VALIDATION_FAILED' && l.subject === heartbeatSubject);
    expect(JSON.stringify(invalid?.details)).toContain('data.seq');
    // The malformed goodbye did not take the device offline.
    expect(((await api(app, '/api/v1/devices/mal-01', { token: app.adminToken })).body as DeviceBody).status).toBe(
      'online',
    );
  });
});
