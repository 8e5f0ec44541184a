import type { DevicePage, ErrorBody } from '@outpost/protocol';
import { toErrorBody } from '@outpost/protocol';
import type { Metadata } from 'next';
import type { ReactNode } from 'react';
import { deviceQueryString, parseDeviceQuery } from '@/lib/device-query';
import { personClient, redirectIfSignedOut } from '@/server/session';
import styles from './devices.module.css';
import { DevicesLive } from './devices-live';
import { ErrorState } from './error-state';

// Every request asks the cloud API for the current fleet; nothing here may be prerendered at build time.
export const dynamic = 'force-dynamic';

export const metadata: Metadata = { title: 'Devices' };

export default async function DevicesPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const parsed = parseDeviceQuery(await searchParams);
  const search = parsed.ok ? deviceQueryString(parsed.query) : '';
  const here = `/devices${search ? `?${search}` : ''}`;
  const api = await personClient(here);

  let content: ReactNode;
  if (!parsed.ok) {
    content = <ErrorState error={parsed.error} />;
  } else {
    let page: DevicePage | null = null;
    let error: ErrorBody | null = null;
    try {
      page = await api.listDevices(parsed.query);
    } catch (err) {
      // The API no longer accepts the session (expired, signed out elsewhere, user disabled): sign in again.
      redirectIfSignedOut(err, here);
      error = toErrorBody(err);
      if (error.code === 'INTERNAL') console.error('devices page: listing devices failed', err);
    }
    // Keyed by the filter: a new filter or page starts a fresh live stream with the server's data.
    content = (
      <DevicesLive
        key={JSON.stringify(parsed.query)}
        query={parsed.query}
        initialPage={page}
        initialError={error}
        renderedAt={new Date().toISOString()}
      />
    );
  }

  return (
    <>
      <div className={styles.heading}>
        <h1 className={styles.title}>Devices</h1>
        <p className={styles.subtitle}>
          Every device registered with the cloud, with its presence as the cloud sees it.
        </p>
      </div>
      {content}
    </>
  );
}
