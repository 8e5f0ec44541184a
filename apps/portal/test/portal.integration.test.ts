import { randomBytes } from 'node:crypto';
import { type DevicePage, subjects } from '@outpost/protocol';
import { waitFor } from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceStreamEvents } from '@/lib/sse';
import { subscriptionsOf } from './support/nats-monitor';
import { startSimulatedDevice } from './support/simulated-device';
import { SseReader } from './support/sse-reader';
import { type PortalStack, stackUnavailableReason, startPortalStack } from './support/stack';

/*
 * The built portal (`next start`) against the real cloud API and a private nats-server. Devices are simulated by
 * publishing agent hello/heartbeat messages on NATS with the protocol codec, as the edge agent does.
 */

const HEARTBEAT_MS = 300;
const unavailable = stackUnavailableReason();
if (unavailable) console.warn(`skipping portal integration tests: ${unavailable}`);

const uniqueId = (name: string) => `${name}-${randomBytes(3).toString('hex')}`;

/** The `<tr>` of one device in server-rendered HTML, or null. */
function deviceRow(html: string, deviceId: string): string | null {
  return html.match(new RegExp(`<tr[^>]*data-device-id="${deviceId}"[^>]*>.*?</tr>`, 's'))?.[0] ?? null;
}

describe.skipIf(unavailable)('portal against the cloud API', () => {
  let stack: PortalStack;

  beforeAll(async () => {
    stack = await startPortalStack();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  const getHtml = async (path: string) => {
    const response = await fetch(`${stack.portalUrl}${path}`);
    expect(response.status).toBe(200);
    return response.text();
  };

  it('redirects / to the Devices page', async () => {
    const response = await fetch(`${stack.portalUrl}/`, { redirect: 'manual' });
    expect(response.status).toBe(307);
    expect(response.headers.get('location')).toBe('/devices');
  });

  it('server-renders a device that says hello and heartbeats as online', async () => {
    const device = startSimulatedDevice(stack.devices, uniqueId('press'), {
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
    for (const suffix of ['a', 'b', 'c']) {
      const created = await fetch(`${stack.apiUrl}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: `${prefix}-${suffix}` }),
      });
      expect(created.status).toBe(201);
    }

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
    const response = await fetch(`${stack.portalUrl}/api/devices/stream?status=asleep`);
    expect(response.status).toBe(400);
    const body = (await response.json()) as { code: string; details: Array<{ path: string }> };
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.details.map((d) => d.path)).toEqual(['status']);
  });

  // Last: it stops the API.
  it('shows a readable error instead of crashing when the cloud API is down', async () => {
    await stack.api.stop('SIGTERM', 20_000);
    const html = await getHtml('/devices');
    expect(html).toContain('Cloud API unavailable');
    expect(html).toContain('(UNAVAILABLE)');
  });
});
