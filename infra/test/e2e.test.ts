import {
  createTestDatabase,
  type DeviceCreds,
  type SecureNatsServerHandle,
  startSecureNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followDeviceStream, signInToPortal, startAgent, startCloudApi, startPortal } from './stack.js';

/**
 * The Foundation slice end to end, with real processes only: nats-server (operator/JWT mode, TLS, each process with
 * a credential of its own), the built cloud API, the built portal and the built agent. The device must appear online through REST and through the portal's live stream, go offline when
 * the agent is killed (no goodbye: presence must come from missed heartbeats), and come back when it restarts.
 */
describe('end to end: agent → NATS → cloud API → portal', () => {
  const deviceId = 'e2e-device-01';
  const heartbeatIntervalMs = 300;
  let nats: SecureNatsServerHandle;
  let device: DeviceCreds;
  let db: TestDatabase;
  let api: Awaited<ReturnType<typeof startCloudApi>>;
  let portal: Awaited<ReturnType<typeof startPortal>>;
  let stream: ReturnType<typeof followDeviceStream>;
  /** The bootstrap admin's portal session. */
  let cookie: string;

  beforeAll(async () => {
    nats = await startSecureNatsServer();
    device = await nats.mintDeviceCreds(deviceId);
    db = await createTestDatabase();
    api = await startCloudApi({
      natsUrl: nats.url,
      databaseUrl: db.url,
      env: { NATS_CREDS: nats.serviceCreds.cloudApi, NATS_CA: nats.caFile, OUTPOST_IDENTITY_DIR: nats.identity.dir },
    });
    portal = await startPortal({
      natsUrl: nats.url,
      env: { NATS_CREDS: nats.serviceCreds.portal, NATS_CA: nats.caFile },
    });
    cookie = await signInToPortal(portal.url, 'admin', api.adminPassword);
    stream = followDeviceStream(`${portal.url}/api/devices/stream`, cookie);
  });

  afterAll(async () => {
    await stream?.close();
    await portal?.proc.stop();
    await api?.proc.stop();
    await nats?.stop();
    await db?.drop();
  });

  const restStatus = async () => {
    const res = await api.get(`/api/v1/devices/${deviceId}`);
    return res.status === 200 ? (res.body as { status: string }).status : `http ${res.status}`;
  };

  it('shows the device online, offline after a crash, and online again after a restart', async () => {
    // Registered first, as an operator does: presence is recorded for devices the registry knows.
    const registered = await fetch(`${api.url}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: deviceId }),
    });
    expect(registered.status).toBe(201);
    const agentCreds = { credsFile: device.credsFile, caFile: nats.caFile };
    const first = await startAgent({ deviceId, natsUrl: nats.url, heartbeatIntervalMs, ...agentCreds });

    await waitFor(async () => (await restStatus()) === 'online', { timeoutMs: 60_000, what: 'REST to report online' });
    await waitFor(() => stream.statusOf(deviceId) === 'online', {
      timeoutMs: 60_000,
      what: 'the portal live stream to report online',
    });
    const page = await (await fetch(`${portal.url}/devices`, { headers: { cookie } })).text();
    expect(page).toContain(deviceId);

    await first.proc.kill(); // SIGKILL: no goodbye, the cloud must notice the missed heartbeats
    await waitFor(async () => (await restStatus()) === 'offline', {
      timeoutMs: 60_000,
      what: 'REST to report offline after the agent was killed',
    });
    await waitFor(() => stream.statusOf(deviceId) === 'offline', {
      timeoutMs: 60_000,
      what: 'the portal live stream to report offline',
    });

    const second = await startAgent({
      deviceId,
      natsUrl: nats.url,
      heartbeatIntervalMs,
      dir: first.dir,
      ...agentCreds,
    });
    await waitFor(async () => (await restStatus()) === 'online', { timeoutMs: 60_000, what: 'REST online again' });
    await waitFor(() => stream.statusOf(deviceId) === 'online', {
      timeoutMs: 60_000,
      what: 'the live stream online again',
    });

    const list = await api.get('/api/v1/devices?limit=10');
    expect(list.status).toBe(200);
    expect((list.body as { items: Array<{ id: string }> }).items.map((d) => d.id)).toContain(deviceId);
    expect(await second.proc.stop('SIGTERM')).toBe(0);
  });
});
