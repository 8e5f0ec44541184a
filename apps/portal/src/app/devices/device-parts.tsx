import type { Device, ErrorBody } from '@outpost/protocol';
import { formatAbsoluteTime, formatRelativeTime } from '@/lib/relative-time';
import styles from './devices.module.css';

/** Online / offline, as the devices list and the device page show it. */
export function StatusBadge({ status, testId }: { status: Device['status']; testId?: string }) {
  return (
    <span className={styles.badge} data-status={status} data-testid={testId}>
      <span className={styles.badgeDot} aria-hidden="true" />
      {status === 'online' ? 'Online' : 'Offline'}
    </span>
  );
}

/** A time as "12 s ago", exact on hover; `fallback` when there is none. */
export function RelativeTime({ value, now, fallback }: { value: string | null; now: Date; fallback: string }) {
  if (!value) return <span className={styles.muted}>{fallback}</span>;
  const time = new Date(value);
  return (
    <time dateTime={value} title={formatAbsoluteTime(time)} className={styles.lastSeen}>
      {formatRelativeTime(time, now)}
    </time>
  );
}

/** The path-and-message list of an error body (or a refused deployment's errors). */
export function ErrorDetails({ details }: { details: ErrorBody['details'] }) {
  if (details.length === 0) return null;
  return (
    <ul className={styles.errorDetails}>
      {details.map((detail) => (
        <li key={`${detail.path}:${detail.message}`}>
          {detail.path ? <code>{detail.path}</code> : null} {detail.message}
        </li>
      ))}
    </ul>
  );
}
