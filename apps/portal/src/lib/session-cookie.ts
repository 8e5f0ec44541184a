/**
 * The portal's session cookie: the person's cloud API session token, httpOnly so page scripts never see it. Shared by
 * the proxy (which only checks that it is there) and the server code that reads and writes it.
 */
export const SESSION_COOKIE = 'outpost_session';

/** What a session token may look like; anything else in the cookie is treated as no session. */
const TOKEN = /^[A-Za-z0-9\-._~+/]{1,1024}=*$/;

export function validSessionToken(value: string | undefined): string | null {
  return value !== undefined && TOKEN.test(value) ? value : null;
}

/** `localhost`, `*.localhost`, 127.0.0.0/8 and ::1, with or without a port. */
export function isLoopbackHost(host: string | null | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : (host.split(':')[0] ?? '');
  const lower = name.toLowerCase();
  return lower === 'localhost' || lower.endsWith('.localhost') || lower === '::1' || /^127(\.\d{1,3}){3}$/.test(lower);
}

/**
 * Secure (HTTPS only) in production, except on a loopback host, where a production build is run over plain HTTP
 * (`pnpm start`, the tests): a Secure cookie would never come back there. Behind TLS it is always Secure.
 */
export function secureCookie(
  host: string | null | undefined,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  return env.NODE_ENV === 'production' && !isLoopbackHost(host);
}

/** Where to go after signing in: a path on this site only, never another origin. */
export function safeNextPath(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) {
    return '/devices';
  }
  return value;
}

/** `/login?next=…` (and why the person is sent there). */
export function loginHref(next: string, reason?: 'expired' | 'signed-out'): string {
  const params = new URLSearchParams({ next: safeNextPath(next) });
  if (reason) params.set('reason', reason);
  return `/login?${params.toString()}`;
}
