import { rpc } from '@outpost/protocol';
import { cookies } from 'next/headers';
import { NextResponse } from 'next/server';
import { loginHref, SESSION_COOKIE, validSessionToken } from '@/lib/session-cookie';
import { apiClient } from '@/server/api-client';
import { sameOrigin } from '@/server/client-address';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** `POST /api/auth/logout`: ends the session in the cloud API, drops the cookie, and goes to the login page. */
export async function POST(request: Request): Promise<Response> {
  if (!sameOrigin(request))
    return NextResponse.json({ code: 'FORBIDDEN', message: 'Refused', details: [] }, { status: 403 });
  const token = validSessionToken((await cookies()).get(SESSION_COOKIE)?.value);
  if (token) {
    try {
      await apiClient.forPerson(token).call(rpc.authLogout, {});
    } catch (err) {
      // An ended session cannot be ended again; anything else is worth a line, but the cookie goes either way.
      if (!(err instanceof Error && 'code' in err && err.code === 'UNAUTHORIZED')) {
        console.error('logout: the cloud API call failed', err);
      }
    }
  }
  const response = new NextResponse(null, { status: 303, headers: { location: loginHref('/devices', 'signed-out') } });
  response.cookies.delete(SESSION_COOKIE);
  return response;
}
