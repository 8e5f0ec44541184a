import 'server-only';
import { type Identity, OutpostError, rpc } from '@outpost/protocol';
import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import { loginHref, SESSION_COOKIE, validSessionToken } from '@/lib/session-cookie';
import { apiClient, type PersonApiClient } from '@/server/api-client';

/** The signed-in person's session token from the cookie, or null. */
export async function sessionToken(): Promise<string | null> {
  return validSessionToken((await cookies()).get(SESSION_COOKIE)?.value);
}

/**
 * The API client for the signed-in person; without a session, a redirect to the login page that comes back to
 * `returnTo`.
 */
export async function personClient(returnTo: string): Promise<PersonApiClient> {
  const token = await sessionToken();
  if (!token) redirect(loginHref(returnTo));
  return apiClient.forPerson(token);
}

/** Sends a person whose session the API no longer accepts to the login page. */
export function redirectIfSignedOut(err: unknown, returnTo: string): void {
  if (err instanceof OutpostError && err.code === 'UNAUTHORIZED') redirect(loginHref(returnTo, 'expired'));
}

/** Who is signed in, as the API sees it; null without a (valid) session or while the API cannot say. */
export async function currentIdentity(): Promise<Identity | null> {
  const token = await sessionToken();
  if (!token) return null;
  try {
    return await apiClient.forPerson(token).call(rpc.authMe, {});
  } catch {
    return null;
  }
}
