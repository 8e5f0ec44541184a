import { z } from 'zod';
import { OutpostError } from './errors.js';

/*
 * Every name that ends up inside a NATS subject is exactly one subject token: no `.` (a token separator), no `*` or `>`
 * (wildcards, which would widen a subscription or a permission), no whitespace or control characters (which the
 * protocol forbids). Each schema below allows letters, digits, `-` and `_`, starting with a letter or digit.
 */
const TOKEN = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const TOKEN_RULE = 'letters, digits, "-" or "_", starting with a letter or digit';

function tokenSchema(what: string, maxLength: number) {
  return z
    .string()
    .min(1, `${what} cannot be empty`)
    .max(maxLength, `${what} can be at most ${maxLength} characters`)
    .regex(TOKEN, `${what} must be ${TOKEN_RULE} (it is a NATS subject token)`);
}

/**
 * Device ids that would collide with a subject or inbox Outpost reserves: a device named `enroll` would get the inbox
 * prefix `_INBOX_enroll`, which is the enrolment inbox every enrolling agent shares; `portal` and `cloud-api` would
 * get the services' inboxes.
 */
export const RESERVED_DEVICE_IDS: ReadonlySet<string> = new Set(['enroll', 'portal', 'cloud-api']);

/**
 * A device id is one NATS subject token (it is embedded in subjects, inbox prefixes and permissions). Letters, digits,
 * `-` and `_`, starting with a letter or digit, at most 128.
 */
export const DeviceId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/,
    'must be 1-128 letters, digits, "-" or "_", starting with a letter or digit',
  )
  .refine((id) => !RESERVED_DEVICE_IDS.has(id), { error: (issue) => `"${String(issue.input)}" is a reserved name` })
  .meta({ id: 'DeviceId', example: 'dev-device-01' });
export type DeviceId = z.infer<typeof DeviceId>;

/** A module name, as in deployment manifests (same rule as `@outpost/manifest`): at most 64 characters. */
export const ModuleName = tokenSchema('module name', 64);

/** A module output or input name (`…outputs.<name>`, `…inputs.<name>`). */
export const EndpointName = tokenSchema('endpoint name', 64);

/** A direct method name (`…methods.<name>`). */
export const MethodName = tokenSchema('method name', 128);

/** A random token that makes a reply or stream subject unique (`…reply.<token>`, `…logs.chunk.<token>`). */
export const SubjectToken = tokenSchema('token', 64);

/** A new random SubjectToken (32 hex digits). Uses Web Crypto, so it works in Node and in browsers alike. */
export function newSubjectToken(): string {
  return globalThis.crypto.randomUUID().replaceAll('-', '');
}

/**
 * Returns `value` when it passes `schema`, else throws VALIDATION_FAILED naming `name`. Subject builders use it: a bad
 * token would silently widen or break a subject, so it must fail where the subject is made.
 */
export function checkToken(schema: z.ZodType<string>, value: string, name: string): string {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new OutpostError(
    'VALIDATION_FAILED',
    `Invalid ${name} ${JSON.stringify(value)}`,
    result.error.issues.map((issue) => ({ path: name, message: issue.message })),
  );
}
