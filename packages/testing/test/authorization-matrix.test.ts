import { subjectMap, subjects } from '@outpost/protocol';
import { type NatsConnection, type Subscription } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeviceCreds, type SecureNatsServerHandle, startSecureNatsServer, waitFor } from '../src/index.js';
import { connectObserver, connectWithCreds } from './secure-helpers.js';

/*
 * The authorization matrix: 20 devices with minted credentials. Each one tries to publish to and subscribe on every
 * other device's subjects, other devices' inboxes, `_INBOX.>` and the cloud's internal subjects. Every attempt must be
 * refused by the server (nats.js reports a PERMISSIONS_VIOLATION status for each; a publish does not throw) and no
 * attempt may reach anyone: a test-only observer allowed to read the whole account sees none of them. Each device's
 * own subjects keep working in both directions.
 */

const DEVICES = 20;
const ATTACK = 'attack';

interface Device {
  readonly id: string;
  readonly creds: DeviceCreds;
  readonly nc: NatsConnection;
  /** `publish:<subject>` / `subscription:<subject>` for each violation the server reported. */
  readonly violations: Set<string>;
  /** Messages that reached the device's own subscriptions. */
  readonly received: string[];
}

/** Concrete subjects in `deviceId`'s space: one per device-scoped row of the subject map. */
function deviceSubjects(deviceId: string): string[] {
  const sample = { deviceId, module: 'm1', method: 'reboot', token: 'tok1', streamId: 'stream1' };
  return Object.values(subjectMap)
    .filter((row) => row.params.includes('deviceId'))
    .map((row) => {
      const params = Object.fromEntries(row.params.map((name) => [name, sample[name as keyof typeof sample]]));
      return (row.build as (p: Record<string, string>) => string)(params).replace(/\.>$/, '.x1');
    });
}

/** Subjects no device may publish to, whoever it is. */
const CLOUD_PUBLISH_TARGETS = [
  '_INBOX.abc.def',
  subjects.api.devicesList,
  subjects.api.devicesGet,
  subjects.events.devicePresence,
  'outpost.api.v1.anything',
  'outpost.events.v1.anything',
  '$JS.API.STREAM.CREATE.STOLEN',
  // Devices may read the artifacts object store by direct gets only, never change it, never create a consumer on it
  // (nats-server does not check a push consumer's deliver subject), never use another JetStream call.
  '$JS.API.CONSUMER.CREATE.OBJ_outpost-artifacts',
  '$JS.API.CONSUMER.DURABLE.CREATE.OBJ_outpost-artifacts.stolen',
  '$JS.API.STREAM.INFO.OBJ_outpost-artifacts',
  '$JS.API.STREAM.MSG.GET.OBJ_outpost-artifacts',
  '$JS.API.INFO',
  '$JS.API.STREAM.DELETE.OBJ_outpost-artifacts',
  '$JS.API.STREAM.PURGE.OBJ_outpost-artifacts',
  '$O.outpost-artifacts.C.stolen',
  '$SYS.REQ.SERVER.PING',
  `${subjects.portal.inboxPrefix}.x1`,
  `${subjects.cloudApi.inboxPrefix}.x1`,
  subjects.enroll.request,
];

/** Subscriptions no device may hold. */
const CLOUD_SUBSCRIBE_TARGETS = [
  '_INBOX.>',
  '_INBOX.*',
  '>',
  'outpost.>',
  'outpost.api.>',
  'outpost.events.>',
  '$JS.API.>',
  '$SYS.>',
  subjects.fleet.hello,
  subjects.fleet.heartbeat,
  `${subjects.portal.inboxPrefix}.>`,
  `${subjects.cloudApi.inboxPrefix}.>`,
  `${subjects.enroll.inboxPrefix}.>`,
];

describe('authorization matrix: 20 device credentials', () => {
  let server: SecureNatsServerHandle;
  let api: NatsConnection;
  let observer: NatsConnection;
  const observed: string[] = [];
  const devices: Device[] = [];

  beforeAll(async () => {
    server = await startSecureNatsServer();
    api = await connectWithCreds(
      server,
      { file: server.serviceCreds.cloudApi },
      { inboxPrefix: subjects.cloudApi.inboxPrefix },
    );
    observer = await connectObserver(server);
    observer.subscribe('>', {
      callback: (_err, msg) => {
        if (msg.string() === ATTACK) observed.push(msg.subject);
      },
    });
    await observer.flush();

    for (let i = 1; i <= DEVICES; i++) {
      const id = `matrix-${String(i).padStart(2, '0')}`;
      const creds = await server.mintDeviceCreds(id, { expiresInSecs: 3600 });
      const violations = new Set<string>();
      const received: string[] = [];
      const nc = await connectWithCreds(
        server,
        { file: creds.credsFile },
        { inboxPrefix: subjects.device.inboxPrefix(id) },
      );
      void (async () => {
        for await (const status of nc.status()) {
          if (status.type !== 'error') continue;
          const context = (status as { permissionContext?: { operation: string; subject: string } }).permissionContext;
          if (status.data === 'PERMISSIONS_VIOLATION' && context)
            violations.add(`${context.operation}:${context.subject}`);
        }
      })();
      // The device's own cloud → device subjects and inbox: anything arriving here is recorded.
      for (const subject of [
        subjects.device.desiredChanged(id),
        subjects.device.methods(id),
        subjects.device.logsRequest(id),
      ]) {
        nc.subscribe(subject, { callback: (_err, msg) => received.push(`${msg.subject}:${msg.string()}`) });
      }
      nc.subscribe(`${subjects.device.inboxPrefix(id)}.>`, {
        callback: (_err, msg) => received.push(`${msg.subject}:${msg.string()}`),
      });
      await nc.flush();
      devices.push({ id, creds, nc, violations, received });
    }
  });

  afterAll(async () => {
    for (const device of devices) if (!device.nc.isClosed()) await device.nc.close();
    if (api && !api.isClosed()) await api.close();
    if (observer && !observer.isClosed()) await observer.close();
    await server?.stop();
  });

  it('lets each device use its own subjects in both directions, with no violation', async () => {
    const hellos = new Set<string>();
    api.subscribe(subjects.fleet.hello, {
      queue: 'outpost-cloud-api',
      callback: (_err, msg) => hellos.add(msg.subject),
    });
    api.subscribe(subjects.fleet.desiredGet, {
      queue: 'outpost-cloud-api',
      callback: (_err, msg) => msg.respond(new TextEncoder().encode(`desired for ${msg.subject}`)),
    });
    await api.flush();

    for (const device of devices) {
      const { id, nc } = device;
      nc.publish(subjects.device.hello(id), 'hello');
      // Device → cloud request; the answer comes back on the device's own inbox (cloud API's allow_responses).
      const desired = await nc.request(subjects.device.desiredGet(id), 'get', { timeout: 10_000 });
      expect(desired.string()).toBe(`desired for ${subjects.device.desiredGet(id)}`);

      // Cloud → device request with the reply inside the device's space (as across a leaf node).
      const methods = nc.subscribe(subjects.device.method(id, 'm1', 'ping'), {
        max: 1,
        callback: (_err, msg) => msg.respond(new TextEncoder().encode('pong')),
      });
      await nc.flush();
      const pong = await api.request(subjects.device.method(id, 'm1', 'ping'), 'ping', {
        timeout: 10_000,
        noMux: true,
        reply: subjects.device.reply(id),
      });
      expect(pong.string()).toBe('pong');
      methods.unsubscribe();

      api.publish(subjects.device.desiredChanged(id), 'changed');
    }
    await api.flush();
    await waitFor(() => hellos.size === DEVICES, { timeoutMs: 30_000, what: 'a hello from every device' });
    for (const device of devices) {
      await waitFor(() => device.received.includes(`${subjects.device.desiredChanged(device.id)}:changed`), {
        what: `${device.id} to receive its desired.changed`,
      });
      expect([...device.violations]).toEqual([]);
    }
  });

  it('refuses every publish and subscription outside a device’s own space, and delivers none of them', async () => {
    const expected = new Map<string, Set<string>>();
    const deniedSubs: Subscription[] = [];
    for (const attacker of devices) {
      const want = new Set<string>();
      const publishTo = (subject: string) => {
        attacker.nc.publish(subject, ATTACK);
        want.add(`publish:${subject}`);
      };
      const subscribeTo = (subject: string) => {
        deniedSubs.push(attacker.nc.subscribe(subject, { callback: () => {} }));
        want.add(`subscription:${subject}`);
      };
      for (const victim of devices) {
        if (victim.id === attacker.id) continue;
        for (const subject of deviceSubjects(victim.id)) publishTo(subject);
        publishTo(`${subjects.device.inboxPrefix(victim.id)}.x1`);
        subscribeTo(subjects.device.all(victim.id));
        subscribeTo(`${subjects.device.inboxPrefix(victim.id)}.>`);
        subscribeTo(subjects.device.desiredChanged(victim.id));
        subscribeTo(subjects.device.hello(victim.id));
      }
      for (const subject of CLOUD_PUBLISH_TARGETS) publishTo(subject);
      for (const subject of CLOUD_SUBSCRIBE_TARGETS) subscribeTo(subject);
      expected.set(attacker.id, want);
    }
    expect(expected.get(devices[0]?.id ?? '')?.size).toBeGreaterThan(19 * 10);

    for (const attacker of devices) {
      await attacker.nc.flush();
      const want = expected.get(attacker.id) ?? new Set<string>();
      await waitFor(() => [...want].every((entry) => attacker.violations.has(entry)), {
        timeoutMs: 60_000,
        what: `${attacker.id}: a permissions violation for each of its ${want.size} attempts (missing: ${[...want]
          .filter((entry) => !attacker.violations.has(entry))
          .slice(0, 5)
          .join(', ')})`,
      });
      // Nothing but the attempts was reported: the device's own traffic stayed clean.
      expect([...attacker.violations].filter((entry) => !want.has(entry))).toEqual([]);
    }

    // Every attacking message was published before the flushes above; one more round trip on the observer and the
    // devices makes sure anything the server had routed has arrived.
    await observer.flush();
    for (const device of devices) await device.nc.flush();
    expect(observed).toEqual([]);
    for (const device of devices) expect(device.received.filter((entry) => entry.endsWith(`:${ATTACK}`))).toEqual([]);

    // The JetStream API refused the attempts too: no stream was created.
    const jsm = await api.jetstreamManager();
    const streams = await jsm.streams.names().next();
    expect(streams).not.toContain('STOLEN');
    // Denied subscriptions were closed by the client as the server refused them.
    await waitFor(() => deniedSubs.every((sub) => sub.isClosed()), { what: 'every denied subscription to close' });
    // And every device is still connected: violations are refused, not fatal.
    for (const device of devices) expect(device.nc.isClosed()).toBe(false);
  });
});
