'use client';

import { type Device, DevicePage, ErrorBody, type ListDevicesQuery } from '@outpost/protocol';
import Form from 'next/form';
import Link from 'next/link';
import { useEffect, useState } from 'react';
import type { z } from 'zod';
import { deviceQueryString, devicesHref, STATUS_FILTERS } from '@/lib/device-query';
import { loginHref } from '@/lib/session-cookie';
import { deviceStreamEvents } from '@/lib/sse';
import { RelativeTime, StatusBadge } from './device-parts';
import styles from './devices.module.css';
import { ErrorState } from './error-state';

type StreamState = 'connecting' | 'live' | 'reconnecting' | 'closed';
/** What the indicator shows: the stream's state, except that a connected stream relaying API errors is not "Live". */
type IndicatorState = StreamState | 'stalled';

const INDICATOR_LABELS: Record<IndicatorState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  stalled: 'Waiting for the cloud API…',
  reconnecting: 'Reconnecting…',
  closed: 'Updates stopped — reload the page',
};

export interface DevicesLiveProps {
  query: ListDevicesQuery;
  /** The page the server rendered with, or null when the API failed. */
  initialPage: DevicePage | null;
  initialError: ErrorBody | null;
  /** The server's clock at render time: the first render must compute "x ago" exactly as the server did. */
  renderedAt: string;
}

/** The devices table, kept current by the `/api/devices/stream` Server-Sent Events stream. */
export function DevicesLive({ query, initialPage, initialError, renderedAt }: DevicesLiveProps) {
  const [page, setPage] = useState<DevicePage | null>(initialPage);
  const [error, setError] = useState<ErrorBody | null>(initialError);
  const [stream, setStream] = useState<StreamState>('connecting');
  const [now, setNow] = useState(() => new Date(renderedAt));

  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), 1_000);
    return () => clearInterval(timer);
  }, []);

  const search = deviceQueryString(query);
  useEffect(() => {
    const source = new EventSource(`/api/devices/stream${search ? `?${search}` : ''}`);
    source.onopen = () => setStream('live');
    // EventSource retries by itself; CLOSED means it gave up (the server refused the stream).
    source.onerror = () => setStream(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    source.addEventListener(deviceStreamEvents.devices, (event) => {
      const devicePage = parseEventData(DevicePage, event);
      if (!devicePage) return;
      setPage(devicePage);
      setError(null);
    });
    source.addEventListener(deviceStreamEvents.apiError, (event) => {
      const errorBody = parseEventData(ErrorBody, event);
      if (!errorBody) return;
      if (errorBody.code === 'UNAUTHORIZED') {
        // The session ended (expired, signed out elsewhere): sign in again and come back to this view.
        source.close();
        window.location.assign(loginHref(`/devices${search ? `?${search}` : ''}`, 'expired'));
        return;
      }
      setError(errorBody);
    });
    return () => source.close();
  }, [search]);

  const indicator: IndicatorState = stream === 'live' && error ? 'stalled' : stream;

  return (
    <section className={styles.panel} aria-label="Devices">
      <div className={styles.toolbar}>
        <nav className={styles.statusFilter} aria-label="Filter by status">
          {STATUS_FILTERS.map(({ label, status }) => (
            <Link
              key={label}
              href={devicesHref({ status, idPrefix: query.idPrefix, limit: query.limit })}
              className={styles.statusFilterItem}
              aria-current={query.status === status ? 'page' : undefined}
            >
              {label}
            </Link>
          ))}
        </nav>
        <Form action="/devices" className={styles.search}>
          {query.status ? <input type="hidden" name="status" value={query.status} /> : null}
          <input
            type="search"
            name="idPrefix"
            defaultValue={query.idPrefix ?? ''}
            placeholder="Device ID starts with…"
            aria-label="Device ID prefix"
            className={styles.searchInput}
          />
          <button type="submit" className={styles.button}>
            Filter
          </button>
        </Form>
        <span className={styles.streamState} data-state={indicator} role="status" aria-live="polite">
          <span className={styles.streamDot} aria-hidden="true" />
          {INDICATOR_LABELS[indicator]}
        </span>
      </div>

      {error ? <ErrorState error={error} stale={page !== null} /> : null}

      {page ? <DeviceTable devices={page.items} now={now} filtered={Boolean(query.status || query.idPrefix)} /> : null}

      {page ? (
        <div className={styles.pager}>
          <span className={styles.pagerInfo}>
            {page.items.length === 1 ? '1 device' : `${page.items.length} devices`} on this page
          </span>
          <div className={styles.pagerLinks}>
            {query.cursor ? (
              <Link className={styles.button} href={devicesHref({ ...query, cursor: undefined })}>
                First page
              </Link>
            ) : null}
            {page.nextCursor ? (
              <Link className={styles.button} href={devicesHref({ ...query, cursor: page.nextCursor })} rel="next">
                Next page →
              </Link>
            ) : null}
          </div>
        </div>
      ) : null}
    </section>
  );
}

/** An event's JSON payload checked against its schema; null (and ignored) when a newer server sends something else. */
function parseEventData<S extends z.ZodType>(schema: S, event: MessageEvent<string>): z.output<S> | null {
  try {
    const parsed = schema.safeParse(JSON.parse(event.data));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function DeviceTable({ devices, now, filtered }: { devices: Device[]; now: Date; filtered: boolean }) {
  if (devices.length === 0) {
    return (
      <div className={styles.empty}>
        <p className={styles.emptyTitle}>{filtered ? 'No devices match this filter' : 'No devices yet'}</p>
        <p className={styles.emptyHint}>
          {filtered
            ? 'Try another status or ID prefix.'
            : 'A device appears here as soon as its agent connects and says hello.'}
        </p>
      </div>
    );
  }
  return (
    <div className={styles.tableWrap}>
      <table className={styles.table}>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Status</th>
            <th scope="col">Last seen</th>
            <th scope="col">Agent version</th>
            <th scope="col">Tags</th>
          </tr>
        </thead>
        <tbody>
          {devices.map((device) => (
            <tr key={device.id} data-device-id={device.id} data-status={device.status}>
              <th scope="row" className={styles.deviceId}>
                <Link href={`/devices/${encodeURIComponent(device.id)}`} className={styles.deviceLink}>
                  {device.id}
                </Link>
              </th>
              <td>
                <StatusBadge status={device.status} />
              </td>
              <td>
                <RelativeTime value={device.lastSeen} now={now} fallback="Never" />
              </td>
              <td>
                {device.agentVersion ? (
                  <code className={styles.version}>{device.agentVersion}</code>
                ) : (
                  <span className={styles.muted}>—</span>
                )}
              </td>
              <td>
                <Tags tags={device.tags} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Tags({ tags }: { tags: Device['tags'] }) {
  const entries = Object.entries(tags).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <span className={styles.muted}>—</span>;
  return (
    <span className={styles.tags}>
      {entries.map(([key, value]) => (
        <span key={key} className={styles.tag}>
          {key}={value}
        </span>
      ))}
    </span>
  );
}
