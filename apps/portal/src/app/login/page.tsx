import type { Metadata } from 'next';
import { isLoginProblem, loginProblemText } from '@/lib/login-problem';
import { safeNextPath } from '@/lib/session-cookie';
import styles from './login.module.css';

export const dynamic = 'force-dynamic';

export const metadata: Metadata = { title: 'Sign in' };

type SearchParams = Record<string, string | string[] | undefined>;

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

const REASONS: Record<string, string> = {
  expired: 'Your session has ended. Sign in again.',
  'signed-out': 'You are signed out.',
};

/**
 * The login form. It posts to `/api/auth/login` as a plain HTML form (it works without JavaScript), which sets the
 * session cookie and comes back to `next`, or returns here naming the problem.
 */
export default async function LoginPage({ searchParams }: { searchParams: Promise<SearchParams> }) {
  const params = await searchParams;
  const next = safeNextPath(first(params.next));
  const error = first(params.error);
  const problem = isLoginProblem(error) ? loginProblemText(error, first(params.retryAfter)) : null;
  const reason = REASONS[first(params.reason) ?? ''];

  return (
    <div className={styles.wrap}>
      <form className={styles.card} method="post" action="/api/auth/login">
        <h1 className={styles.title}>Sign in to Outpost</h1>
        {problem ? (
          <p className={styles.problem} role="alert">
            {problem}
          </p>
        ) : reason ? (
          <p className={styles.note} role="status">
            {reason}
          </p>
        ) : null}
        <input type="hidden" name="next" value={next} />
        <label className={styles.field}>
          <span>Username</span>
          <input name="username" autoComplete="username" required maxLength={128} />
        </label>
        <label className={styles.field}>
          <span>Password</span>
          <input name="password" type="password" autoComplete="current-password" required maxLength={1024} />
        </label>
        <button type="submit" className={styles.submit}>
          Sign in
        </button>
      </form>
    </div>
  );
}
