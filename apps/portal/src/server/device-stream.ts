import 'server-only';
import {
  DevicePresenceChangedV1,
  type ListDevicesQuery,
  subjects,
  toErrorBody,
  tryDecodeMessage,
} from '@outpost/protocol';
import type { Subscription } from 'nats';
import { deviceStreamEvents, encodeSseComment, encodeSseEvent, encodeSseRetry } from '@/lib/sse';
import type { PersonApiClient } from '@/server/api-client';

export interface DeviceStreamOptions {
  query: ListDevicesQuery;
  /** The signed-in person's client: the stream's queries carry their session token. */
  api: Pick<PersonApiClient, 'listDevices' | 'connection'>;
  /** Aborted when the browser goes away (the request's signal). */
  signal: AbortSignal;
  /** Re-query period: keeps "last seen" fresh between presence events, and recovers after an outage. */
  refreshIntervalMs?: number;
  /** Comment period, so idle proxies and browsers keep the connection open. */
  keepAliveIntervalMs?: number;
  /** Reconnect delay the browser is told to use after a drop. */
  reconnectDelayMs?: number;
}

/**
 * The devices page as a Server-Sent Events stream: the current page on connect, then a fresh page whenever a device
 * presence event arrives on NATS and on every refresh tick, but only when it differs from what was last sent. A
 * failing API call sends an `api-error` event instead; the next success replaces it.
 */
export function createDeviceStream(options: DeviceStreamOptions): ReadableStream<Uint8Array> {
  const { query, api, signal } = options;
  const refreshIntervalMs = options.refreshIntervalMs ?? 2_000;
  const keepAliveIntervalMs = options.keepAliveIntervalMs ?? 15_000;
  const encoder = new TextEncoder();

  let closed = false;
  let lastEvent: string | null = null;
  let subscription: Subscription | null = null;
  let refreshing = false;
  let refreshAgain = false;
  const timers: ReturnType<typeof setInterval>[] = [];
  let close = () => {};

  return new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        if (!closed) controller.enqueue(encoder.encode(text));
      };
      const sendIfChanged = (text: string) => {
        if (text === lastEvent) return;
        lastEvent = text;
        send(text);
      };

      const subscribeToPresence = async () => {
        if (subscription || closed) return;
        try {
          const nc = await api.connection();
          if (closed || subscription) return;
          subscription = nc.subscribe(subjects.events.devicePresence, {
            callback: (err, msg) => {
              // Not a presence event this build understands: the periodic refresh still catches the change.
              if (err || !tryDecodeMessage(DevicePresenceChangedV1, msg.data, msg.headers).ok) return;
              void refresh();
            },
          });
        } catch {
          // NATS is unreachable: the query below reports it, and the next tick tries to subscribe again.
        }
      };

      const refreshOnce = async () => {
        await subscribeToPresence();
        try {
          const page = await api.listDevices(query);
          sendIfChanged(encodeSseEvent({ event: deviceStreamEvents.devices, data: page }));
        } catch (err) {
          sendIfChanged(encodeSseEvent({ event: deviceStreamEvents.apiError, data: toErrorBody(err) }));
        }
      };

      // Bursts of presence events (a sweep can flip many devices) collapse into one query plus at most one more.
      const refresh = async () => {
        if (refreshing) {
          refreshAgain = true;
          return;
        }
        refreshing = true;
        try {
          do {
            refreshAgain = false;
            await refreshOnce();
          } while (refreshAgain && !closed);
        } finally {
          refreshing = false;
        }
      };

      close = () => {
        if (closed) return;
        closed = true;
        for (const timer of timers) clearInterval(timer);
        subscription?.unsubscribe();
        signal.removeEventListener('abort', close);
        try {
          controller.close();
        } catch {
          // Already closed or errored by the consumer cancelling: nothing left to flush.
        }
      };
      if (signal.aborted) {
        close();
        return;
      }
      signal.addEventListener('abort', close);

      send(encodeSseRetry(options.reconnectDelayMs ?? 2_000));
      void refresh();
      timers.push(setInterval(() => void refresh(), refreshIntervalMs));
      timers.push(setInterval(() => send(encodeSseComment('keep-alive')), keepAliveIntervalMs));
    },
    cancel() {
      close();
    },
  });
}
