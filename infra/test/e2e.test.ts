import { rmSync } from 'node:fs';
import {
  createTestDatabase,
  type DeviceCreds,
  type SecureNatsServerHandle,
  startSecureNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  enrollDevice,
  followDeviceStream,
  pidsWithMarker,
  signInToPortal,
  startAgent,
  startCloudApi,
  startPortal,
} from './stack.js';

/**
 * The Foundation slice end to end, with real processes only: nats-server (operator/JWT mode, TLS, each process with
 * a credential of its own), the built cloud API, the built portal and the built agent. The device must appear online through REST and through the portal's live stream, go offline when
 * the agent is killed (no goodbye: presence must come from missed heartbeats), and come back when it restarts.
 * A second, enrolled device gets a deployment through the API and runs it; its module's logs and a restart are relayed
 * through the API, and an invalid deployment leaves it running as it was.
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
  /** Module processes outlive their agent by design: whatever a test leaves is ended by marker. */
  const markers: string[] = [];
  /** Enrolled device dirs hold a device's NKey seed: removed at the end. */
  const deviceDirs: string[] = [];

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
    for (const pid of markers.flatMap(pidsWithMarker)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const dir of deviceDirs) rmSync(dir, { recursive: true, force: true });
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

  it('deploys a process module to an enrolled device, shows it running, relays its logs and a restart', async () => {
    const id = 'e2e-device-02';
    const marker = `outpost-e2e-${process.pid}-${Date.now()}`;
    markers.push(marker);
    const deviceApi = (method: string, path: string, body?: unknown) =>
      fetch(`${api.url}/api/v1/devices/${id}${path}`, {
        method,
        headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    type ModuleReport = { status: string; version?: string | null; lastRestartedAt?: string | null };
    type Reported = { desired: { version: number | null; code: number }; modules: Record<string, ModuleReport> };
    const reported = async (): Promise<Reported | null> => {
      const res = await api.get(`/api/v1/devices/${id}`);
      return res.status === 200 ? ((res.body as { reported?: Reported | null }).reported ?? null) : null;
    };

    // Enrolled as a real device: the agent trusts the API's deployment-signing key from trusted-keys.json.
    const device = await enrollDevice({ apiUrl: api.url, adminToken: api.token, natsUrl: nats.url, deviceId: id });
    deviceDirs.push(device.dir);
    const agent = await startAgent({
      deviceId: id,
      natsUrl: nats.url,
      heartbeatIntervalMs,
      dir: device.dir,
      credsFile: device.credsFile,
      caFile: device.caFile,
      config: {
        modulesDir: device.modulesDir,
        // Run as root, the agent drops modules to an unprivileged user, as on a device.
        ...(process.getuid?.() === 0 ? { moduleUser: 'nobody' } : {}),
      },
    });

    const script = "let n = 0; setInterval(() => console.log('e2e tick ' + ++n), 200);";
    const manifest = {
      schemaVersion: '1.0',
      modules: {
        ticker: {
          type: 'process',
          version: '1.2.3',
          restartPolicy: 'always',
          process: { command: process.execPath, args: ['-e', script, marker] },
        },
      },
    };
    const put = await deviceApi('PUT', '/deployment', { manifest });
    expect(put.status, await put.clone().text()).toBe(200);
    expect(await put.json()).toMatchObject({ version: 1 });

    const running = await waitFor(
      async () => {
        const state = await reported();
        const ticker = state?.modules.ticker;
        return state?.desired.version === 1 && state.desired.code === 200 && ticker?.status === 'running'
          ? { state, ticker }
          : undefined;
      },
      { timeoutMs: 60_000, what: 'GET /devices/:id to show version 1 applied and ticker running' },
    ).catch((err) => {
      throw new Error(`${(err as Error).message}\n${agent.proc.output().slice(-4000)}`);
    });
    expect(running.ticker.version).toBe('1.2.3');
    expect(running.ticker.lastRestartedAt ?? null).toBeNull();
    const [pid] = await waitFor(() => (pidsWithMarker(marker).length === 1 ? pidsWithMarker(marker) : undefined), {
      timeoutMs: 30_000,
      what: 'one ticker process',
    });

    // Logs through the API: the device answers getModuleLogs, the API relays the lines.
    const lines = await waitFor(
      async () => {
        const res = await deviceApi('GET', '/modules/ticker/logs?tail=5');
        if (res.status !== 200) return undefined;
        const body = (await res.json()) as { module: string; lines: Array<{ text: string; stream: string }> };
        return body.lines.some((line) => line.text.includes('e2e tick')) ? body.lines : undefined;
      },
      { timeoutMs: 30_000, what: 'the ticker lines through GET …/modules/ticker/logs' },
    );
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(5);
    expect(lines.every((line) => /^e2e tick \d+$/.test(line.text) && line.stream === 'stdout')).toBe(true);

    const unknown = await deviceApi('GET', '/modules/nope/logs');
    expect(unknown.status).toBe(404);

    // Restart through the API: a new process, running again, and the reported state says when.
    const restart = await deviceApi('POST', '/modules/ticker/restart');
    expect(restart.status, await restart.clone().text()).toBeLessThan(300);
    expect(restart.status).toBeGreaterThanOrEqual(200);
    expect(await restart.json()).toMatchObject({ deviceId: id, module: 'ticker', restarted: true });
    const newPid = await waitFor(
      () => {
        const pids = pidsWithMarker(marker);
        return pids.length === 1 && pids[0] !== pid ? pids[0] : undefined;
      },
      { timeoutMs: 30_000, what: 'the ticker restarted as a new process' },
    );
    await waitFor(
      async () => {
        const ticker = (await reported())?.modules.ticker;
        return ticker?.status === 'running' && typeof ticker.lastRestartedAt === 'string';
      },
      { timeoutMs: 30_000, what: 'the reported state to show the ticker running with lastRestartedAt' },
    );

    // An invalid manifest: 400 naming every bad path, nothing stored, the device keeps running version 1.
    const invalid = await deviceApi('PUT', '/deployment', {
      manifest: {
        schemaVersion: '1.0',
        modules: {
          ticker: { type: 'process', process: {}, restartPolicy: 'sometimes' },
        },
      },
    });
    expect(invalid.status).toBe(400);
    const error = (await invalid.json()) as { code: string; details: Array<{ path: string }> };
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details.map((d) => d.path)).toEqual(
      expect.arrayContaining(['manifest.modules.ticker.process.command', 'manifest.modules.ticker.restartPolicy']),
    );
    const deployment = (await (await deviceApi('GET', '/deployment')).json()) as { desired: { version: number } };
    expect(deployment.desired.version).toBe(1);
    const after = await reported();
    expect(after?.desired).toMatchObject({ version: 1, code: 200 });
    expect(after?.modules.ticker?.status).toBe('running');
    expect(pidsWithMarker(marker)).toEqual([newPid]);

    // Clean up through the API too: an empty deployment removes the module.
    const empty = await deviceApi('PUT', '/deployment', { manifest: { schemaVersion: '1.0', modules: {} } });
    expect(empty.status).toBe(200);
    await waitFor(() => pidsWithMarker(marker).length === 0, {
      timeoutMs: 30_000,
      what: 'the ticker process gone after the empty deployment',
    });
    await waitFor(
      async () => {
        const state = await reported();
        return state?.desired.version === 2 && Object.keys(state.modules).length === 0;
      },
      { timeoutMs: 30_000, what: 'version 2 reported with no modules' },
    );
    expect(await agent.proc.stop('SIGTERM')).toBe(0);
  });
});
