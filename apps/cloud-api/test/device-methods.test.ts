import { OutpostError } from '@outpost/protocol';
import {
  createTestDatabase,
  type SecureNatsServerHandle,
  startSecureNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import type { NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  connectAsDevice,
  FakeAgent,
  personWithRole,
  registerDevice,
  secureNatsEnv,
  startTestApp,
  type TestApp,
  waitForStatus,
} from './helpers.js';

/**
 * The API relays module logs and restarts to the device's agent (its getModuleLogs / restartModule methods), against
 * NATS in operator mode: the agent answers with its own credential, on the reply subject inside its device space.
 */

let nats: SecureNatsServerHandle;
let database: TestDatabase;
let app: TestApp;
let operator: string;
let viewer: string;
const connections: NatsConnection[] = [];
const stops: (() => void)[] = [];

/** A device connected with its own credential and saying hello, so presence has it online. */
async function onlineAgent(deviceId: string): Promise<FakeAgent> {
  await registerDevice(app, deviceId);
  const nc = await connectAsDevice(nats, deviceId);
  connections.push(nc);
  const agent = new FakeAgent(nc, deviceId, 500);
  agent.hello();
  stops.push(agent.keepBeating(500));
  await waitForStatus(app, app.adminToken, deviceId, 'online');
  return agent;
}

const LINES = [
  { at: '2026-11-30T08:00:00.000Z', stream: 'stdout', text: 'starting' },
  { at: '2026-11-30T08:00:01.000Z', stream: 'stderr', text: 'sensor warming up' },
  { at: '2026-11-30T08:00:02.000Z', stream: 'stdout', text: 'reading 21.5' },
] as const;

/** What the agent does: known modules answer, unknown ones are NOT_FOUND error replies. */
function agentMethods(restarts: string[]) {
  const known = (payload: unknown): string => {
    const module = (payload as { module: string }).module;
    if (module !== 'sensor') {
      throw new OutpostError('NOT_FOUND', `module ${module} is not deployed`, [{ path: 'module', message: 'unknown' }]);
    }
    return module;
  };
  return {
    getModuleLogs: (payload: unknown) => {
      const module = known(payload);
      const tail = (payload as { tail?: number }).tail;
      return { module, lines: tail === undefined ? [...LINES] : LINES.slice(-tail) };
    },
    restartModule: (payload: unknown) => {
      restarts.push(known(payload));
      return null;
    },
  };
}

beforeAll(async () => {
  [nats, database] = await Promise.all([startSecureNatsServer(), createTestDatabase()]);
  app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env: {
      ...secureNatsEnv(nats),
      PRESENCE_FLUSH_INTERVAL_MS: '100',
      PRESENCE_SWEEP_INTERVAL_MS: '200',
      // A stuck agent costs the test this long, not the default 15 s.
      OUTPOST_DEVICE_METHOD_TIMEOUT_MS: '1500',
    },
  });
  await waitFor(async () => (await api(app, '/healthz')).status === 200, { what: 'the API to reach NATS over TLS' });
  operator = (await personWithRole(app, 'operator')).token;
  viewer = (await personWithRole(app, 'viewer')).token;
});

afterAll(async () => {
  for (const stop of stops) stop();
  await Promise.allSettled(connections.map((nc) => nc.close()));
  await app?.close();
  await nats?.stop();
  await database?.drop();
});

describe('module logs and restarts through the API', () => {
  it('relays getModuleLogs with tail and since, and restartModule (audited), to the device’s agent', async () => {
    const agent = await onlineAgent('relay-01');
    const restarts: string[] = [];
    agent.serveMethods(agentMethods(restarts));

    const logs = await api(app, '/api/v1/devices/relay-01/modules/sensor/logs', { token: operator });
    expect(logs.status, JSON.stringify(logs.body)).toBe(200);
    expect(logs.body).toEqual({ module: 'sensor', lines: LINES });

    const since = '2026-11-30T08:00:01.000Z';
    const tailed = await api(app, `/api/v1/devices/relay-01/modules/sensor/logs?tail=1&since=${since}`, {
      token: operator,
    });
    expect(tailed.body).toEqual({ module: 'sensor', lines: [LINES[2]] });
    expect(agent.methodCalls.at(-1)).toMatchObject({
      method: 'getModuleLogs',
      payload: { module: 'sensor', tail: 1, since },
    });
    // The reply went to a subject inside the device's own space (what crosses a leaf node on nats 2.9).
    expect(agent.methodCalls.at(-1)?.reply).toMatch(/^outpost\.dev\.relay-01\.reply\./);

    const restarted = await api(app, '/api/v1/devices/relay-01/modules/sensor/restart', {
      method: 'POST',
      token: operator,
    });
    expect(restarted.status, JSON.stringify(restarted.body)).toBe(200);
    expect(restarted.body).toEqual({ deviceId: 'relay-01', module: 'sensor', restarted: true });
    expect(restarts).toEqual(['sensor']);
    const audit = await api(app, '/api/v1/audit?action=module.restart&targetId=relay-01', { token: app.adminToken });
    expect((audit.body as { items: unknown[] }).items).toHaveLength(1);
  });

  it('maps the agent’s NOT_FOUND for an unknown module to 404 with its message', async () => {
    const agent = await onlineAgent('relay-02');
    agent.serveMethods(agentMethods([]));
    const logs = await api(app, '/api/v1/devices/relay-02/modules/ghost/logs', { token: operator });
    expect(logs.status).toBe(404);
    expect(logs.body).toMatchObject({ code: 'NOT_FOUND', message: 'module ghost is not deployed' });
    const restart = await api(app, '/api/v1/devices/relay-02/modules/ghost/restart', {
      method: 'POST',
      token: operator,
    });
    expect(restart.status).toBe(404);
  });

  it('answers 504 DEVICE_TIMEOUT when the agent does not answer, 503 DEVICE_OFFLINE when it is offline', async () => {
    const stuck = await onlineAgent('relay-03');
    stuck.serveMethods({ getModuleLogs: () => FakeAgent.NO_ANSWER, restartModule: () => FakeAgent.NO_ANSWER });
    const timedOut = await api(app, '/api/v1/devices/relay-03/modules/sensor/logs', { token: operator });
    expect(timedOut.status).toBe(504);
    expect(timedOut.body).toMatchObject({ code: 'DEVICE_TIMEOUT' });
    const restart = await api(app, '/api/v1/devices/relay-03/modules/sensor/restart', {
      method: 'POST',
      token: operator,
    });
    expect(restart.status).toBe(504);
    // Nothing happened, so nothing is audited.
    const audit = await api(app, '/api/v1/audit?action=module.restart&targetId=relay-03', { token: app.adminToken });
    expect((audit.body as { items: unknown[] }).items).toHaveLength(0);

    await registerDevice(app, 'relay-04'); // registered, never connected
    const offline = await api(app, '/api/v1/devices/relay-04/modules/sensor/logs', { token: operator });
    expect(offline.status).toBe(503);
    expect(offline.body).toMatchObject({ code: 'DEVICE_OFFLINE' });
    expect((await api(app, '/api/v1/devices/nobody/modules/sensor/logs', { token: operator })).status).toBe(404);
  });

  it('refuses viewers, and bad module names or tails with 400', async () => {
    const agent = await onlineAgent('relay-05');
    agent.serveMethods(agentMethods([]));
    expect((await api(app, '/api/v1/devices/relay-05/modules/sensor/logs', { token: viewer })).status).toBe(403);
    const restart = await api(app, '/api/v1/devices/relay-05/modules/sensor/restart', {
      method: 'POST',
      token: viewer,
    });
    expect(restart.status).toBe(403);
    const badTail = await api(app, '/api/v1/devices/relay-05/modules/sensor/logs?tail=0', { token: operator });
    expect(badTail.status).toBe(400);
    expect(badTail.body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'tail' }] });
    const badModule = await api(app, '/api/v1/devices/relay-05/modules/a.b/logs', { token: operator });
    expect(badModule.status).toBe(400);
    expect(badModule.body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'module' }] });
    expect(agent.methodCalls).toHaveLength(0);
  });
});
