import { z } from 'zod';
import { DeviceId } from './ids.js';

/**
 * What `outpost-agent enroll --token` is given (docs/adr/0009-enrolment.md): one string that carries
 *  - the secret the cloud checks (stored there only as its sha256),
 *  - the device id (one-time tokens) or `group: true` (group tokens; the agent names the device),
 *  - the CA certificate the agent must see the server present before it sends anything (absent for plain NATS),
 *  - the enrolment NATS credential (absent for plain NATS): may only request `outpost.enroll` and read
 *    `_INBOX_enroll.>`, and expires with the token.
 * The string is `outpost-enroll.` + base64url(JSON). It is a secret: never log it.
 */
export const ENROLLMENT_TOKEN_PREFIX = 'outpost-enroll.';

export const EnrollmentTokenBundle = z.strictObject({
  v: z.literal(1),
  secret: z.string().min(16).max(512),
  deviceId: DeviceId.optional(),
  group: z.literal(true).optional(),
  caPem: z.string().min(1).max(65_536).optional(),
  creds: z.strictObject({ jwt: z.string().min(1).max(16_384), seed: z.string().regex(/^SU[A-Z2-7]{56}$/) }).optional(),
});
export type EnrollmentTokenBundle = z.infer<typeof EnrollmentTokenBundle>;

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): string {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
}

export function encodeEnrollmentToken(bundle: EnrollmentTokenBundle): string {
  return `${ENROLLMENT_TOKEN_PREFIX}${toBase64Url(JSON.stringify(EnrollmentTokenBundle.parse(bundle)))}`;
}

/** The bundle in a token string; throws a TypeError saying what is wrong (never quoting the token). */
export function decodeEnrollmentToken(token: string): EnrollmentTokenBundle {
  const text = token.trim();
  if (!text.startsWith(ENROLLMENT_TOKEN_PREFIX)) {
    throw new TypeError(`not an Outpost enrolment token (it should start with "${ENROLLMENT_TOKEN_PREFIX}")`);
  }
  let json: unknown;
  try {
    json = JSON.parse(fromBase64Url(text.slice(ENROLLMENT_TOKEN_PREFIX.length)));
  } catch {
    throw new TypeError('the enrolment token is damaged (not base64url JSON): copy it again in full');
  }
  const parsed = EnrollmentTokenBundle.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TypeError(`the enrolment token is damaged (${issue?.path.join('.') || 'token'}: ${issue?.message})`);
  }
  if (parsed.data.group !== true && parsed.data.deviceId === undefined) {
    throw new TypeError('the enrolment token is damaged (names no device and is no group token)');
  }
  return parsed.data;
}
