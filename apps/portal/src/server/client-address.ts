import 'server-only';

/**
 * The browser's address for the API's per-address login limit: the last X-Forwarded-For hop, which Next.js fills with
 * the socket address when no proxy set the header, and a reverse proxy appends to. A client talking to the portal
 * directly can put its own value there; run the portal behind a proxy that sets X-Forwarded-For (the per-username
 * lockout does not depend on it).
 */
export function clientAddressOf(request: Request): string | undefined {
  const forwarded = request.headers.get('x-forwarded-for');
  const last = forwarded?.split(',').at(-1)?.trim();
  return last && /^[\x21-\x7e]{1,256}$/.test(last) ? last : undefined;
}

/** True unless a browser says the request comes from another site (CSRF defence for the sign-in forms). */
export function sameOrigin(request: Request): boolean {
  const origin = request.headers.get('origin');
  if (origin === null || origin === 'null') return origin === null;
  try {
    return new URL(origin).host === request.headers.get('host');
  } catch {
    return false;
  }
}
