/**
 * "Last seen" texts. Pure and deterministic (no locale, no time zone) so the server-rendered HTML and the browser's
 * first render agree and React hydrates without a mismatch.
 */

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** How long ago `then` was, relative to `now`, in a short English form: "just now", "12 s ago", "3 min ago", "5 h ago". */
export function formatRelativeTime(then: Date, now: Date): string {
  const seconds = Math.floor((now.getTime() - then.getTime()) / 1000);
  // Server and browser clocks drift a little, so a time slightly in the future also reads as "just now".
  if (seconds < 5) return 'just now';
  if (seconds < MINUTE) return `${seconds} s ago`;
  if (seconds < HOUR) return `${Math.floor(seconds / MINUTE)} min ago`;
  if (seconds < DAY) return `${Math.floor(seconds / HOUR)} h ago`;
  const days = Math.floor(seconds / DAY);
  return days === 1 ? '1 day ago' : `${days} days ago`;
}

/** An absolute timestamp for tooltips: "2025-03-01 14:05:09 UTC". UTC, so it reads the same on server and client. */
export function formatAbsoluteTime(time: Date): string {
  return `${time.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
