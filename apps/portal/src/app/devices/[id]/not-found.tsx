import Link from 'next/link';
import styles from '../devices.module.css';

/** `/devices/<id>` for a device the cloud does not know (or an id no device could have). */
export default function DeviceNotFound() {
  return (
    <section className={styles.panel} aria-label="Device not found">
      <div className={styles.empty}>
        <p className={styles.emptyTitle}>Device not found</p>
        <p className={styles.emptyHint}>
          No device with this ID is registered. <Link href="/devices">Back to devices</Link>
        </p>
      </div>
    </section>
  );
}
