import { type Device, DeviceId, type DeviceReportedState, type ErrorBody, rpc, toErrorBody } from '@outpost/protocol';
import type { Metadata } from 'next';
import Link from 'next/link';
import { notFound } from 'next/navigation';
import { personClient, redirectIfSignedOut } from '@/server/session';
import { ErrorDetails, RelativeTime, StatusBadge } from '../device-parts';
import styles from '../devices.module.css';
import { ErrorState } from '../error-state';

// Every request asks the cloud API for the device's current state; nothing here may be prerendered at build time.
export const dynamic = 'force-dynamic';

type Params = Promise<{ id: string }>;

/** The device id from the path segment; null when it is not one (bad escapes, characters no device id has). */
function deviceIdOf(segment: string): string | null {
  let id: string;
  try {
    id = decodeURIComponent(segment);
  } catch {
    return null;
  }
  return DeviceId.safeParse(id).success ? id : null;
}

export async function generateMetadata({ params }: { params: Params }): Promise<Metadata> {
  const id = deviceIdOf((await params).id);
  return { title: id ? `Device ${id}` : 'Device not found' };
}

/** One device: its presence and what it reported it runs (the API's device read, DeviceV1 1.1). */
export default async function DevicePage({ params }: { params: Params }) {
  // An id the API could never know (bad characters, too long) is simply not a device.
  const id = deviceIdOf((await params).id);
  if (id === null) notFound();
  const here = `/devices/${encodeURIComponent(id)}`;
  const api = await personClient(here);

  let device: Device | null = null;
  let error: ErrorBody | null = null;
  try {
    device = await api.call(rpc.devicesGet, { id });
  } catch (err) {
    redirectIfSignedOut(err, here);
    error = toErrorBody(err);
    if (error.code === 'NOT_FOUND') notFound();
    if (error.code === 'INTERNAL') console.error('device page: reading the device failed', err);
  }
  const now = new Date();

  return (
    <>
      <div className={styles.heading}>
        <p className={styles.breadcrumb}>
          <Link href="/devices">← Devices</Link>
        </p>
        <h1 className={`${styles.title} ${styles.deviceTitle}`} data-testid="device-id">
          {id}
        </h1>
        <p className={styles.subtitle}>What the device runs, as it last reported to the cloud.</p>
      </div>
      {error ? <ErrorState error={error} /> : null}
      {device ? <DeviceDetails device={device} now={now} /> : null}
    </>
  );
}

function DeviceDetails({ device, now }: { device: Device; now: Date }) {
  const reported = device.reported ?? null;
  return (
    <section className={styles.panel} aria-label="Device">
      <dl className={styles.facts}>
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={device.status} testId="device-status" />
          </dd>
        </div>
        <div>
          <dt>Last seen</dt>
          <dd>
            <RelativeTime value={device.lastSeen} now={now} fallback="Never" />
          </dd>
        </div>
        <div>
          <dt>Agent version</dt>
          <dd>
            {device.agentVersion ? (
              <code className={styles.version}>{device.agentVersion}</code>
            ) : (
              <span className={styles.muted}>—</span>
            )}
          </dd>
        </div>
        {reported ? (
          <div>
            <dt>Reported</dt>
            <dd>
              <RelativeTime value={reported.receivedAt} now={now} fallback="—" />
            </dd>
          </div>
        ) : null}
      </dl>
      {reported ? (
        <>
          <Deployment desired={reported.desired} />
          <Modules modules={reported.modules} now={now} />
        </>
      ) : (
        <div className={styles.empty} data-testid="no-reported-state">
          <p className={styles.emptyTitle}>No reported state yet</p>
          <p className={styles.emptyHint}>The device's modules appear here once its agent reports what it runs.</p>
        </div>
      )}
    </section>
  );
}

function Deployment({ desired }: { desired: DeviceReportedState['desired'] }) {
  const ok = desired.code === 200;
  return (
    <div className={styles.deployment} data-testid="deployment" data-code={desired.code} data-ok={ok}>
      <span className={styles.deploymentLabel}>Deployment</span>
      {desired.version === null ? (
        <span className={styles.muted}>none applied</span>
      ) : (
        <code className={styles.version}>v{desired.version}</code>
      )}
      {desired.source ? <span className={styles.tag}>{desired.source}</span> : null}
      <span className={styles.deploymentCode} data-ok={ok}>
        {desired.code}
      </span>
      <span>{desired.description}</span>
      <ErrorDetails details={desired.errors} />
    </div>
  );
}

function Modules({ modules, now }: { modules: DeviceReportedState['modules']; now: Date }) {
  const entries = Object.entries(modules).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) {
    return (
      <div className={styles.empty}>
        <p className={styles.emptyTitle}>No modules</p>
        <p className={styles.emptyHint}>The device reported that it runs no modules.</p>
      </div>
    );
  }
  return (
    <div className={styles.tableWrap}>
      <table className={styles.table}>
        <thead>
          <tr>
            <th scope="col">Module</th>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Version</th>
            <th scope="col">Restarts</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {entries.map(([name, module]) => (
            <tr key={name} data-module={name} data-status={module.status}>
              <th scope="row" className={styles.deviceId}>
                {name}
              </th>
              <td>{module.type ?? <span className={styles.muted}>—</span>}</td>
              <td>
                <span className={styles.moduleStatus} data-status={module.status}>
                  {module.status}
                </span>
                {module.statusDescription ? <span className={styles.muted}> {module.statusDescription}</span> : null}
                {module.exitCode !== null && module.status !== 'running' ? (
                  <span className={styles.muted}> (exit {module.exitCode})</span>
                ) : null}
              </td>
              <td>
                {module.version ? (
                  <code className={styles.version}>{module.version}</code>
                ) : (
                  <span className={styles.muted}>—</span>
                )}
              </td>
              <td>{module.restartCount}</td>
              <td>
                <RelativeTime value={module.lastStartedAt} now={now} fallback="—" />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
