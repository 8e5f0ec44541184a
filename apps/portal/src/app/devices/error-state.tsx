import type { ErrorBody, ErrorCode } from '@outpost/protocol';
import { ErrorDetails } from './device-parts';
import styles from './devices.module.css';

const TITLES: Partial<Record<ErrorCode, string>> = {
  UNAVAILABLE: 'Cloud API unavailable',
  TIMEOUT: 'Cloud API did not answer in time',
  VALIDATION_FAILED: 'Invalid devices filter',
  UNAUTHORIZED: 'Not signed in',
  FORBIDDEN: 'Not allowed',
};

/** What went wrong loading devices, in words first and with the error code for whoever debugs it. */
export function ErrorState({ error, stale = false }: { error: ErrorBody; stale?: boolean }) {
  const title = TITLES[error.code] ?? 'Could not load devices';
  return (
    <div className={styles.errorState} role="alert">
      <svg className={styles.errorIcon} viewBox="0 0 20 20" aria-hidden="true">
        <path
          fill="currentColor"
          d="M10 1.5a8.5 8.5 0 1 1 0 17 8.5 8.5 0 0 1 0-17Zm0 4a1 1 0 0 0-1 1v4.5a1 1 0 1 0 2 0V6.5a1 1 0 0 0-1-1Zm0 9.75a1.1 1.1 0 1 0 0-2.2 1.1 1.1 0 0 0 0 2.2Z"
        />
      </svg>
      <div>
        <p className={styles.errorTitle}>
          {title} <span className={styles.errorCode}>{`(${error.code})`}</span>
        </p>
        <p className={styles.errorMessage}>
          {error.message}
          {stale ? ' — showing the last devices received.' : ''}
        </p>
        <ErrorDetails details={error.details} />
      </div>
    </div>
  );
}
