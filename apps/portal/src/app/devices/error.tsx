'use client';

import styles from './devices.module.css';

/** Last-resort boundary: API failures render their own error state, so this only catches bugs in the page itself. */
export default function DevicesError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <div className={styles.errorState} role="alert">
      <div>
        <p className={styles.errorTitle}>The Devices page failed to render</p>
        <p className={styles.errorMessage}>
          {error.digest ? `Reference ${error.digest} in the portal's server log.` : error.message}
        </p>
        <button type="button" className={styles.button} onClick={reset}>
          Try again
        </button>
      </div>
    </div>
  );
}
