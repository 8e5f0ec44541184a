import {
  type ErrorBody,
  httpStatusFor,
  LoginRequest,
  type LoginResponse,
  retryAfterSeconds,
  rpc,
  toErrorBody,
} from '@outpost/protocol';
import { NextResponse } from 'next/server';
import { type LoginProblem, loginProblemOf } from '@/lib/login-problem';
import { SESSION_COOKIE, safeNextPath, secureCookie } from '@/lib/session-cookie';
import { apiClient } from '@/server/api-client';
import { clientAddressOf, sameOrigin } from '@/server/client-address';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/**
 * `POST /api/auth/login`: the login form (urlencoded; answered with a 303 to `next`, or back to /login naming the
 * problem) or JSON `{ username, password }` (answered `{ user, expiresAt }` or the error body). Either way the session
 * token is set as an httpOnly, SameSite=Lax cookie and never shown to page scripts.
 */
export async function POST(request: Request): Promise<Response> {
  const json = (request.headers.get('content-type') ?? '').includes('application/json');
  const fail = (body: ErrorBody, next: string): Response => {
    const retryAfter = retryAfterSeconds(body);
    if (json) {
      return NextResponse.json(body, {
        status: httpStatusFor(body.code),
        headers: retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {},
      });
    }
    const problem: LoginProblem = loginProblemOf(body.code);
    const params = new URLSearchParams({ error: problem, next });
    if (retryAfter !== undefined) params.set('retryAfter', String(retryAfter));
    return new NextResponse(null, { status: 303, headers: { location: `/login?${params.toString()}` } });
  };

  if (!sameOrigin(request)) {
    return fail({ code: 'FORBIDDEN', message: 'Sign-in from another site is refused', details: [] }, '/devices');
  }
  let input: Record<string, unknown>;
  try {
    const read: unknown = json ? await request.json() : Object.fromEntries(await request.formData());
    input = typeof read === 'object' && read !== null ? (read as Record<string, unknown>) : {};
  } catch {
    return fail({ code: 'BAD_REQUEST', message: 'Send a username and a password', details: [] }, '/devices');
  }
  const next = safeNextPath(input.next);
  const credentials = LoginRequest.safeParse({ username: input.username, password: input.password });
  if (!credentials.success) {
    return fail(
      {
        code: 'VALIDATION_FAILED',
        message: 'Invalid login',
        details: credentials.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
      },
      next,
    );
  }

  let session: LoginResponse;
  try {
    const clientAddress = clientAddressOf(request);
    session = await apiClient.call(rpc.authLogin, credentials.data, {
      token: null,
      ...(clientAddress !== undefined ? { clientAddress } : {}),
    });
  } catch (err) {
    const body = toErrorBody(err);
    if (body.code === 'INTERNAL') console.error('login: the cloud API call failed', err);
    return fail(body, next);
  }

  const response = json
    ? NextResponse.json({ user: session.user, expiresAt: session.expiresAt })
    : new NextResponse(null, { status: 303, headers: { location: next } });
  response.cookies.set(SESSION_COOKIE, session.token, {
    httpOnly: true,
    sameSite: 'lax',
    secure: secureCookie(request.headers.get('host'), process.env),
    path: '/',
    expires: new Date(session.expiresAt),
  });
  return response;
}
