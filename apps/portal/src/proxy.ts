import { type NextRequest, NextResponse } from 'next/server';
import { loginHref, SESSION_COOKIE, validSessionToken } from '@/lib/session-cookie';

/** What anyone may open without a session: the login page and the form it posts to. */
const OPEN_PATHS = new Set(['/login', '/api/auth/login']);

/**
 * No session cookie, no portal: pages redirect to /login (coming back afterwards), API routes answer 401. Whether the
 * session is still valid is the cloud API's call, made on every NATS request; this only turns away the obvious.
 */
export function proxy(request: NextRequest): NextResponse {
  const { pathname, search } = request.nextUrl;
  if (OPEN_PATHS.has(pathname)) return NextResponse.next();
  if (validSessionToken(request.cookies.get(SESSION_COOKIE)?.value)) return NextResponse.next();
  if (pathname.startsWith('/api/')) {
    return NextResponse.json(
      { code: 'UNAUTHORIZED', message: 'Sign in first', details: [{ path: 'cookie', message: 'no session' }] },
      { status: 401 },
    );
  }
  return NextResponse.redirect(new URL(loginHref(`${pathname}${search}`), request.url));
}

export const config = {
  // Everything but Next's own assets and the icon.
  matcher: ['/((?!_next/static|_next/image|icon.svg|favicon.ico).*)'],
};
