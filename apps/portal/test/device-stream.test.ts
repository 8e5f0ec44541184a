import {
  type Device,
  type DevicePage,
  DevicePresenceChangedV1,
  type ErrorBody,
  encodeMessage,
  encodeReply,
  rpc,
  subjects,
} from '@outpost/protocol';
import type { NatsServerHandle } from '@outpost/testing';
import { waitFor } from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deviceStreamEvents } from '@/lib/sse';
import { createApiClient } from '@/server/api-client';
import { createDeviceStream } from '@/server/device-stream';
import { lazyNatsConnection } from '@/server/nats';
import { startMonitoredNatsServer, subscriptionsOf } from './support/nats-monitor';
import { SseReader } from './support/sse-reader';

/*
 * The live devices stream against a real nats-server. A responder written here plays the cloud API's devices.list
 * with the protocol codec, and the test publishes presence events the way the API does.
 */

const STREAM_CONNECTION = 'portal-device-stream-test';

let server: NatsServerHandle;
let monitorUrl: string;
let responder: NatsConnection;
let streamConnection: NatsConnection;

/** What the responder answers with; tests change it to simulate the fleet changing. */
let currentPage: DevicePage;
let listRequests = 0;

function device(id: string, status: Device['status'], lastSeen: string | null): Device {
  return { id, status, lastSeen, agentVersion: '1.0.0', tags: {}, createdAt: '2025-03-01T00:00:00.000Z' };
}

beforeAll(async () => {
  ({ server, monitorUrl } = await startMonitoredNatsServer());
  responder = await connect({ servers: server.url, name: 'test-cloud-api' });
  responder.subscribe(rpc.devicesList.subject, {
    callback: (_err, msg) => {
      listRequests += 1;
      msg.respond(encodeReply(rpc.devicesList.response, currentPage));
    },
  });
  await responder.flush();
  streamConnection = await connect({ servers: server.url, name: STREAM_CONNECTION });
});

afterAll(async () => {
  await streamConnection?.close();
  await responder?.close();
  await server?.stop();
});

/** How many presence-event subscriptions the streams' NATS connection holds, as the server sees it. */
async function presenceSubscriptions(): Promise<number> {
  const subs = await subscriptionsOf(monitorUrl, STREAM_CONNECTION);
  return subs.filter((subject) => subject === subjects.events.devicePresence).length;
}

const hangUps: AbortController[] = [];
afterEach(() => {
  for (const controller of hangUps.splice(0)) controller.abort();
});

function openStream(options: { refreshIntervalMs: number; keepAliveIntervalMs?: number }) {
  const hangUp = new AbortController();
  hangUps.push(hangUp);
  const api = createApiClient(async () => streamConnection, { timeoutMs: 2_000 }).forPerson('ops_stream-test');
  const stream = createDeviceStream({ query: { limit: 50 }, api, signal: hangUp.signal, ...options });
  return { reader: new SseReader(stream), hangUp };
}

describe('devices stream', () => {
  it('sends the current page on connect and the new page as soon as a presence event arrives', async () => {
    currentPage = { items: [device('press-1', 'offline', null)], nextCursor: null };
    // A refresh period far longer than the test: only the presence event can explain a second page.
    const { reader } = openStream({ refreshIntervalMs: 600_000 });
    await reader.waitForPayload<DevicePage>(
      deviceStreamEvents.devices,
      (page) => page.items[0]?.status === 'offline',
      'the first page',
    );
    await waitFor(() => presenceSubscriptions().then((count) => count === 1), {
      what: 'the stream to subscribe to presence events',
    });

    const lastSeen = new Date().toISOString();
    currentPage = { items: [device('press-1', 'online', lastSeen)], nextCursor: null };
    responder.publish(
      subjects.events.devicePresence,
      encodeMessage(DevicePresenceChangedV1, { deviceId: 'press-1', status: 'online', lastSeen, at: lastSeen }),
    );
    await reader.waitForPayload<DevicePage>(
      deviceStreamEvents.devices,
      (page) => page.items[0]?.status === 'online',
      'the page after the presence event',
    );
  });

  it('re-queries on its refresh period but sends a page only when it changed', async () => {
    currentPage = { items: [device('lathe-1', 'online', '2025-03-01T10:00:00.000Z')], nextCursor: null };
    const requestsBefore = listRequests;
    const { reader } = openStream({ refreshIntervalMs: 100 });
    await waitFor(() => listRequests - requestsBefore >= 4, { what: 'several refresh queries' });
    expect(reader.payloads(deviceStreamEvents.devices)).toHaveLength(1);

    currentPage = { items: [device('lathe-1', 'online', '2025-03-01T10:00:05.000Z')], nextCursor: null };
    await reader.waitForPayload<DevicePage>(
      deviceStreamEvents.devices,
      (page) => page.items[0]?.lastSeen === '2025-03-01T10:00:05.000Z',
      'the page with the fresher lastSeen',
    );
    expect(reader.payloads(deviceStreamEvents.devices)).toHaveLength(2);
  });

  it('sends keep-alive comments while nothing changes', async () => {
    currentPage = { items: [], nextCursor: null };
    const { reader } = openStream({ refreshIntervalMs: 600_000, keepAliveIntervalMs: 100 });
    await waitFor(() => reader.comments.filter((c) => c === 'keep-alive').length >= 2, { what: 'keep-alives' });
  });

  it('drops its NATS subscription and ends the stream when the client hangs up', async () => {
    currentPage = { items: [], nextCursor: null };
    const { reader, hangUp } = openStream({ refreshIntervalMs: 100 });
    await waitFor(() => presenceSubscriptions().then((count) => count === 1), {
      what: 'the presence subscription',
    });
    hangUp.abort();
    await reader.finished();
    await waitFor(() => presenceSubscriptions().then((count) => count === 0), {
      what: 'the presence subscription to be removed',
    });
  });

  it('reports the API being down as an api-error event, then recovers', async () => {
    const { server: lonely } = await startMonitoredNatsServer();
    try {
      const hangUp = new AbortController();
      hangUps.push(hangUp);
      const api = createApiClient(lazyNatsConnection([lonely.url], 'portal-lonely-test'), {
        timeoutMs: 2_000,
      }).forPerson('ops_stream-test');
      const reader = new SseReader(
        createDeviceStream({ query: { limit: 50 }, api, signal: hangUp.signal, refreshIntervalMs: 100 }),
      );
      const error = await reader.waitForPayload<ErrorBody>(deviceStreamEvents.apiError, () => true, 'an api-error');
      expect(error.code).toBe('UNAVAILABLE');

      const lateApi = await connect({ servers: lonely.url });
      lateApi.subscribe(rpc.devicesList.subject, {
        callback: (_e, msg) =>
          msg.respond(
            encodeReply(rpc.devicesList.response, { items: [device('mill-9', 'online', null)], nextCursor: null }),
          ),
      });
      await reader.waitForPayload<DevicePage>(
        deviceStreamEvents.devices,
        (page) => page.items[0]?.id === 'mill-9',
        'the page once the API answers',
      );
      hangUp.abort();
      await lateApi.close();
      await (await api.connection()).close();
    } finally {
      await lonely.stop();
    }
  });
});
