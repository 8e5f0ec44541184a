import { randomBytes, randomUUID } from 'node:crypto';
import { type DevicePage, encodeMessage, ReportedStateV1, subjects } from '@outpost/protocol';
import { waitFor } from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceStreamEvents } from '@/lib/sse';
import { subscriptionsOf } from './support/nats-monitor';
import { startSimulatedDevice } from './support/simulated-device';
import { SseReader } from './support/sse-reader';
import { type PortalStack, registerDevice, signIn, stackUnavailableReason, startPortalStack } from './support/stack';

/*
 * The built portal (`next start`) against the real cloud API and a private nats-server. Devices are simulated by
 * publishing agent hello/heartbeat messages on NATS with the protocol codec, as the edge agent does.
 */

const HEARTBEAT_MS = 300;
const unavailable = stackUnavailableReason();
if (unavailable) console.warn(`skipping portal integration tests: ${unavailable}`);

const uniqueId = (name: string) => `${name}-${randomBytes(3).toString('hex')}`;

/** The `<tr>` of one module on a device page, or null. */
function moduleRow(html: string, name: string): string | null {
  return html.match(new RegExp(`<tr[^>]*data-module="${name}"[^>]*>.*?</tr>`, 's'))?.[0] ?? null;
}

/** The `<tr>` of one device in server-rendered HTML, or null. */
function deviceRow(html: string, deviceId: string): string | null {
  return html.match(new RegExp(`<tr[^>]*data-device-id="${deviceId}"[^>]*>.*?</tr>`, 's'))?.[0] ?? null;
}

describe.skipIf(unavailable)('portal against the cloud API', () => {
  let stack: PortalStack;
  /** The bootstrap admin's session, signed in through the login form. */
  let cookie: string;

  beforeAll(async () => {
    stack = await startPortalStack();
    cookie = await signIn(stack.portalUrl, 'admin', stack.adminPassword);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const getHtml = async (path: string, as = cookie) => {
    const response = await fetch(`${stack.portalUrl}${path}`, { headers: { cookie: as }, redirect: 'manual' });
    expect(response.status).toBe(200);
    return response.text();
  };

  const postLogin = (fields: Record<string, string>) =>
    fetch(`${stack.portalUrl}/api/auth/login`, {
      method: 'POST',
      body: new URLSearchParams(fields),
      redirect: 'manual',
    });

  const createUser = async (username: string, password: string, role: string) => {
    const created = await fetch(`${stack.apiUrl}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username, password, role }),
    });
    expect(created.status).toBe(201);
  };

  it('sends a visitor without a session to the login page, and answers its API routes 401', async () => {
    const page = await fetch(`${stack.portalUrl}/devices?status=online`, { redirect: 'manual' });
    expect(page.status).toBe(307);
    expect(new URL(page.headers.get('location') ?? '', stack.portalUrl).pathname).toBe('/login');
    expect(new URL(page.headers.get('location') ?? '', stack.portalUrl).searchParams.get('next')).toBe(
      '/devices?status=online',
    );
    const stream = await fetch(`${stack.portalUrl}/api/devices/stream`);
    expect(stream.status).toBe(401);
    expect(await stream.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    const login = await fetch(`${stack.portalUrl}/login`);
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('Sign in to Outpost');
  });

  it('signs in with a session cookie that is httpOnly and SameSite=Lax, and comes back to the page asked for', async () => {
    const response = await postLogin({
      username: 'admin',
      password: stack.adminPassword,
      next: '/devices?status=offline',
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/devices?status=offline');
    const setCookie = response.headers.getSetCookie().find((c) => c.startsWith('outpost_session=')) ?? '';
    expect(setCookie).toMatch(/^outpost_session=ops_[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/; HttpOnly/i);
    expect(setCookie).toMatch(/; SameSite=lax/i);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).toMatch(/; Expires=/);
    // Served over plain HTTP on 127.0.0.1: a Secure cookie would never come back.
    expect(setCookie).not.toMatch(/; Secure/i);
    // Only paths on this site are followed after signing in.
    const elsewhere = await postLogin({ username: 'admin', password: stack.adminPassword, next: '//evil.example/' });
    expect(elsewhere.headers.get('location')).toBe('/devices');
  });

  it('shows who is signed in, with their role, next to a sign-out button', async () => {
    const html = await getHtml('/devices');
    expect(html).toMatch(/data-testid="signed-in-user"/);
    expect(html).toMatch(/class="site-user__name">admin</);
    expect(html).toMatch(/data-role="admin"[^>]*>Admin</);
    expect(html).toContain('action="/api/auth/logout"');

    await createUser('vera', 'a viewer password 123', 'viewer');
    const viewer = await signIn(stack.portalUrl, 'vera', 'a viewer password 123');
    const viewerHtml = await getHtml('/devices', viewer);
    expect(viewerHtml).toMatch(/class="site-user__name">vera</);
    expect(viewerHtml).toMatch(/data-role="viewer"[^>]*>Viewer</);
  });

  it('refuses a wrong password without saying why, and shows it on the login page', async () => {
    const response = await postLogin({ username: 'admin', password: 'not the password', next: '/devices' });
    expect(response.status).toBe(303);
    const location = response.headers.get('location') ?? '';
    expect(location).toMatch(/^\/login\?error=invalid&next=%2Fdevices$/);
    expect(response.headers.getSetCookie()).toEqual([]);
    expect(await (await fetch(`${stack.portalUrl}${location}`)).text()).toContain('Invalid username or password.');
  });

  it('locks a username after repeated failures: 429 with Retry-After over JSON, the wait on the login page', async () => {
    await createUser('lock-me', 'the right password 42', 'viewer');
    for (let i = 0; i < 5; i++) {
      expect((await postLogin({ username: 'lock-me', password: `wrong ${i}` })).headers.get('location')).toMatch(
        /error=invalid/,
      );
    }
    const json = await fetch(`${stack.portalUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'lock-me', password: 'the right password 42' }),
    });
    expect(json.status).toBe(429);
    const retryAfter = Number(json.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(await json.json()).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringContaining('lock-me') });
    const form = await postLogin({ username: 'lock-me', password: 'the right password 42' });
    const location = form.headers.get('location') ?? '';
    expect(location).toMatch(/error=rate-limited/);
    expect(await (await fetch(`${stack.portalUrl}${location}`)).text()).toMatch(
      /Too many attempts\. Try again in \d+ s\./,
    );
  });

  it('signs out: the cookie is dropped and the session no longer works at the API', async () => {
    const session = await signIn(stack.portalUrl, 'admin', stack.adminPassword);
    const out = await fetch(`${stack.portalUrl}/api/auth/logout`, {
      method: 'POST',
      headers: { cookie: session },
      redirect: 'manual',
    });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toMatch(/^\/login\?.*reason=signed-out/);
    expect(out.headers.getSetCookie().find((c) => c.startsWith('outpost_session='))).toMatch(
      /Expires=Thu, 01 Jan 1970/,
    );
    // The old cookie, replayed, is sent to sign in again: the API ended the session.
    const replay = await fetch(`${stack.portalUrl}/devices`, { headers: { cookie: session }, redirect: 'manual' });
    expect(replay.status).toBe(307);
    expect(replay.headers.get('location')).toMatch(/\/login\?next=%2Fdevices&reason=expired/);
    const token = session.slice('outpost_session='.length);
    const me = await fetch(`${stack.apiUrl}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(401);
  });

  it('redirects / to the Devices page', async () => {
    const response = await fetch(`${stack.portalUrl}/`, { redirect: 'manual' });
    expect(response.status).toBe(307);
    expect(response.headers.get('location')).toBe('/devices');
  });

  it('server-renders a device that says hello and heartbeats as online', async () => {
    const id = uniqueId('press');
    await registerDevice(stack, id);
    const device = startSimulatedDevice(stack.devices, id, {
      heartbeatIntervalMs: HEARTBEAT_MS,
      agentVersion: '1.4.2',
    });
    try {
      const row = await waitFor(
        async () => {
          const found = deviceRow(await getHtml('/devices'), device.id);
          return found?.includes('data-status="online"') ? found : null;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: `${device.id} online on /devices` },
      );
      expect(row).toContain('>Online<');
      expect(row).toContain('1.4.2');
      // The status filter is applied by the API: the device is on the Online page and not on the Offline one.
      expect(deviceRow(await getHtml('/devices?status=online'), device.id)).not.toBeNull();
      expect(deviceRow(await getHtml('/devices?status=offline'), device.id)).toBeNull();
    } finally {
      device.stopHeartbeats();
    }
  });

  it('streams the device online, then offline once its heartbeats stop, and unsubscribes on hang-up', async () => {
    const deviceId = uniqueId('lathe');
    const hangUp = new AbortController();
    const response = await fetch(`${stack.portalUrl}/api/devices/stream?idPrefix=${deviceId}`, {
      signal: hangUp.signal,
      headers: { cookie },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const stream = new SseReader(response.body as ReadableStream<Uint8Array>);
    try {
      // On connect: the current page, in which the device does not exist yet.
      await stream.waitForPayload<DevicePage>(
        deviceStreamEvents.devices,
        (page) => page.items.length === 0,
        'the initial, empty page',
      );

      await registerDevice(stack, deviceId);
      const device = startSimulatedDevice(stack.devices, deviceId, { heartbeatIntervalMs: HEARTBEAT_MS });
      try {
        await stream.waitForPayload<DevicePage>(
          deviceStreamEvents.devices,
          (page) => page.items.some((d) => d.id === deviceId && d.status === 'online'),
          `${deviceId} online on the stream`,
        );
      } finally {
        device.stopHeartbeats();
      }
      const offline = await stream.waitForPayload<DevicePage>(
        deviceStreamEvents.devices,
        (page) => page.items.some((d) => d.id === deviceId && d.status === 'offline'),
        `${deviceId} offline on the stream`,
      );
      expect(offline.items[0]?.lastSeen).not.toBeNull();
      expect(deviceRow(await getHtml(`/devices?status=offline&idPrefix=${deviceId}`), deviceId)).toContain(
        'data-status="offline"',
      );

      const portalSubscriptions = () => subscriptionsOf(stack.monitorUrl, 'outpost-portal');
      expect(await portalSubscriptions()).toContain(subjects.events.devicePresence);
      hangUp.abort();
      await waitFor(async () => !(await portalSubscriptions()).includes(subjects.events.devicePresence), {
        timeoutMs: 30_000,
        what: 'the portal to drop the presence subscription of the closed stream',
      });
    } finally {
      hangUp.abort();
    }
  });

  it('pages through devices with the API cursor', async () => {
    const prefix = uniqueId('pager');
    for (const suffix of ['a', 'b', 'c']) await registerDevice(stack, `${prefix}-${suffix}`);

    const first = await getHtml(`/devices?idPrefix=${prefix}&limit=2`);
    expect(deviceRow(first, `${prefix}-a`)).not.toBeNull();
    expect(deviceRow(first, `${prefix}-b`)).not.toBeNull();
    expect(deviceRow(first, `${prefix}-c`)).toBeNull();
    const nextLink = first.match(/<a[^>]*rel="next"[^>]*>/)?.[0];
    const nextHref = nextLink?.match(/href="([^"]+)"/)?.[1]?.replaceAll('&amp;', '&');
    expect(nextHref).toBeDefined();

    const second = await getHtml(nextHref ?? '');
    expect(deviceRow(second, `${prefix}-c`)).not.toBeNull();
    expect(deviceRow(second, `${prefix}-a`)).toBeNull();
    expect(second).not.toMatch(/rel="next"/);
    expect(second).toContain('First page');
  });

  it('rejects a stream with an invalid filter, naming the field', async () => {
    const response = await fetch(`${stack.portalUrl}/api/devices/stream?status=asleep`, { headers: { cookie } });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { code: string; details: Array<{ path: string }> };
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.details.map((d) => d.path)).toEqual(['status']);
  });

  it('links each device row to its device page, which shows its modules from the state it reported over NATS', async () => {
    const id = uniqueId('mixer');
    await registerDevice(stack, id);
    const device = startSimulatedDevice(stack.devices, id, {
      heartbeatIntervalMs: HEARTBEAT_MS,
      agentVersion: '2.0.1',
    });
    try {
      const row = await waitFor(
        async () => {
          const found = deviceRow(await getHtml(`/devices?idPrefix=${id}`), id);
          return found?.includes('data-status="online"') ? found : null;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: `${id} online on /devices` },
      );
      expect(row).toContain(`href="/devices/${id}"`);

      // Before any report: the device and its presence, and the empty state instead of modules.
      const before = await getHtml(`/devices/${id}`);
      expect(before).toContain(`data-testid="device-id">${id}<`);
      expect(before).toMatch(/data-testid="device-status"[^>]*>.*?Online</s);
      expect(before).toContain('2.0.1');
      expect(before).toContain('No reported state yet');
      expect(before).not.toContain('data-module=');

      const startedAt = new Date(Date.now() - 90_000).toISOString();
      stack.devices.publish(
        subjects.device.reported(id),
        encodeMessage(ReportedStateV1, {
          bootId: randomUUID(),
          seq: 1,
          reportedAt: new Date().toISOString(),
          desired: {
            version: 7,
            code: 500,
            description: 'module sensor failed to start',
            source: 'cloud',
            deploymentId: 'dep-42',
            errors: [{ path: 'modules.sensor.image', message: 'image pull failed' }],
          },
          modules: {
            'temp-filter': {
              status: 'running',
              exitCode: null,
              restartCount: 2,
              lastStartedAt: startedAt,
              lastExitedAt: null,
              type: 'process',
              version: '1.3.0',
              lastRestartedAt: startedAt,
            },
            sensor: {
              status: 'failed',
              statusDescription: 'exited 3 times',
              exitCode: 3,
              restartCount: 5,
              lastStartedAt: null,
              lastExitedAt: new Date().toISOString(),
              type: 'container',
              version: null,
            },
          },
        }),
      );

      const html = await waitFor(
        async () => {
          const page = await getHtml(`/devices/${id}`);
          return page.includes('data-module="temp-filter"') ? page : null;
        },
        { timeoutMs: 30_000, intervalMs: 250, what: `${id}'s reported modules on its device page` },
      );
      expect(html).not.toContain('No reported state yet');
      const deployment = html.match(/<div[^>]*data-testid="deployment".*?<\/div>/s)?.[0] ?? '';
      expect(deployment).toContain('data-code="500"');
      expect(deployment).toContain('v<!-- -->7');
      expect(deployment).toContain('>cloud<');
      expect(deployment).toMatch(/data-ok="false"[^>]*>500</);
      expect(deployment).toContain('module sensor failed to start');
      expect(deployment).toContain('modules.sensor.image');

      const filter = moduleRow(html, 'temp-filter') ?? '';
      expect(filter).toContain('>process<');
      expect(filter).toMatch(/data-status="running"[^>]*>running</);
      expect(filter).toContain('>1.3.0<');
      expect(filter).toContain('<td>2</td>');
      expect(filter).toContain(`dateTime="${startedAt}"`);
      const sensor = moduleRow(html, 'sensor') ?? '';
      expect(sensor).toContain('>container<');
      expect(sensor).toMatch(/data-status="failed"[^>]*>failed</);
      expect(sensor).toContain('exited 3 times');
      expect(sensor).toContain('<td>5</td>');
      // Sorted by name.
      expect(html.indexOf('data-module="sensor"')).toBeLessThan(html.indexOf('data-module="temp-filter"'));
      // The person's session token never reaches the page.
      expect(html).not.toContain(cookie.slice('outpost_session='.length));
    } finally {
      device.stopHeartbeats();
    }
  });

  it('answers 404 for a device the cloud does not know, and sends a visitor without a session to sign in', async () => {
    for (const path of [`/devices/${uniqueId('ghost')}`, '/devices/not%20a%20device%20id']) {
      const response = await fetch(`${stack.portalUrl}${path}`, { headers: { cookie }, redirect: 'manual' });
      expect(response.status, path).toBe(404);
      expect(await response.text()).toContain('Device not found');
    }
    const id = uniqueId('anon');
    const anonymous = await fetch(`${stack.portalUrl}/devices/${id}`, { redirect: 'manual' });
    expect(anonymous.status).toBe(307);
    const location = new URL(anonymous.headers.get('location') ?? '', stack.portalUrl);
    expect(location.pathname).toBe('/login');
    expect(location.searchParams.get('next')).toBe(`/devices/${id}`);
  });

  // Last: it stops the API.
  it('shows a readable error instead of crashing when the cloud API is down', async () => {
    await stack.api.stop('SIGTERM', 20_000);
    const html = await getHtml('/devices');
    expect(html).toContain('Cloud API unavailable');
    expect(html).toContain('(UNAVAILABLE)');
  });
});
