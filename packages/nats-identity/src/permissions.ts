import { permissionsFor, subjects } from '@outpost/protocol';
import { IdentityError } from './errors.js';

/**
 * What a user JWT allows. NATS reads an empty allow-list as "everything", so an empty list here is written into the JWT
 * as an explicit deny of `>` (see `toJwtPermissions`): it means "nothing", as it does in `permissionsFor`.
 */
export interface UserPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  /**
   * Lets the holder answer requests it received, once each, within `ttlSecs`, on whatever reply subject they carry
   * (NATS `allow_responses`). Only services that reply to devices and the portal need it.
   */
  readonly responses?: { readonly max: number; readonly ttlSecs: number };
}

/** The inbox prefixes of Outpost's two service users (connection option `inboxPrefix`). */
export const SERVICE_INBOX_PREFIXES = {
  cloudApi: subjects.cloudApi.inboxPrefix,
  portal: subjects.portal.inboxPrefix,
} as const;

/** How long the cloud API may take to answer a request it received (a reply after this is refused by the server). */
export const CLOUD_API_RESPONSE_TTL_SECS = 300;

const unique = (values: readonly string[]): string[] => [...new Set(values)];

/**
 * A device's credential: the agent's rows of the subject map for this device (all under `outpost.dev.<deviceId>.`)
 * and its own reply inbox `_INBOX_<deviceId>.>`. Never `_INBOX.>`, never another device's subjects.
 */
export function deviceUserPermissions(deviceId: string): UserPermissions {
  const fromMap = permissionsFor({ role: 'agent', deviceId });
  const inbox = `${subjects.device.inboxPrefix(deviceId)}.>`;
  return checkPermissions({
    publish: unique(fromMap.publish),
    subscribe: unique([...fromMap.subscribe, inbox]),
  });
}

/** The enrolment credential: request `outpost.enroll`, read `_INBOX_enroll.>` (connection option `inboxPrefix`). */
export function enrollingUserPermissions(): UserPermissions {
  return checkPermissions(permissionsFor({ role: 'enrolling-agent' }));
}

/**
 * The cloud API's service user. It owns Outpost's namespace (`outpost.>`: every device's subjects, the API and event
 * subjects), answers requests from devices, enrolling agents and the portal on their own inboxes (allow_responses),
 * uses JetStream, and reads replies only on its own inbox `_INBOX_cloud-api.>`. It is no system-account user: account
 * updates (revocations) use the separate system user.
 */
export function cloudApiUserPermissions(): UserPermissions {
  return checkPermissions({
    publish: ['outpost.>', `${subjects.enroll.inboxPrefix}.>`, '$JS.API.>', '$JS.ACK.>', '$JS.FC.>', '$KV.>', '$O.>'],
    subscribe: ['outpost.>', `${SERVICE_INBOX_PREFIXES.cloudApi}.>`],
    responses: { max: 1, ttlSecs: CLOUD_API_RESPONSE_TTL_SECS },
  });
}

/**
 * The portal's service user: requests to the cloud API (`outpost.api.>`), events (`outpost.events.>`), replies on its
 * own inbox `_INBOX_portal.>`, plus whatever the subject map grants the portal. People's roles are checked by the
 * cloud API on each request, so this credential is no way around them.
 */
export function portalUserPermissions(): UserPermissions {
  const fromMap = permissionsFor({ role: 'portal' });
  return checkPermissions({
    publish: unique(['outpost.api.>', ...fromMap.publish]),
    subscribe: unique(['outpost.events.>', `${SERVICE_INBOX_PREFIXES.portal}.>`, ...fromMap.subscribe]),
  });
}

const INBOX_ROOT = '_INBOX';

/**
 * True when a subscription on `pattern` could receive a message on some `_INBOX.…` subject: `>`, `*.>`, `_INBOX.>`,
 * `_INBOX.*`… Such a credential would see replies meant for others.
 */
export function patternCoversInbox(pattern: string): boolean {
  const tokens = pattern.split('.');
  const first = tokens[0];
  if (first === '>') return true;
  if (first !== '*' && first !== INBOX_ROOT) return false;
  // `_INBOX` alone, or `_INBOX.<anything>`: with a second token it covers some inbox subject whatever that token is.
  return tokens.length >= 2 || first === INBOX_ROOT;
}

const SUBJECT_TOKEN = /^[^\s.*>]+$/;

function checkPattern(pattern: string, where: string): void {
  const tokens = pattern.split('.');
  const valid =
    pattern.length > 0 &&
    tokens.every(
      (token, index) => token === '*' || (token === '>' && index === tokens.length - 1) || SUBJECT_TOKEN.test(token),
    );
  if (!valid) throw new IdentityError('PERMISSIONS_INVALID', `${where}: "${pattern}" is not a valid subject pattern`);
}

/**
 * Checks a set of permissions before it is signed: valid patterns and no subscription that could read `_INBOX.>`.
 * Returns it unchanged.
 */
export function checkPermissions(permissions: UserPermissions): UserPermissions {
  for (const [list, patterns] of [
    ['publish', permissions.publish],
    ['subscribe', permissions.subscribe],
  ] as const) {
    for (const pattern of patterns) checkPattern(pattern, list);
  }
  for (const pattern of permissions.subscribe) {
    if (patternCoversInbox(pattern)) {
      throw new IdentityError(
        'PERMISSIONS_INVALID',
        `subscribe: "${pattern}" would read other clients' replies under _INBOX.; use an inbox prefix of its own`,
      );
    }
  }
  const responses = permissions.responses;
  if (responses && (!Number.isInteger(responses.max) || responses.max < 1 || !Number.isInteger(responses.ttlSecs))) {
    throw new IdentityError(
      'PERMISSIONS_INVALID',
      'responses: max must be a whole number ≥ 1 and ttlSecs whole seconds',
    );
  }
  return permissions;
}

/** The JWT form of one list: an allow-list, or a deny of everything when the list is empty (never an empty allow). */
function toJwtPermission(patterns: readonly string[]): { allow?: string[]; deny?: string[] } {
  return patterns.length === 0 ? { deny: ['>'] } : { allow: [...patterns] };
}

/** The `pub`/`sub`/`resp` claims of a user JWT for these permissions (checked first). */
export function toJwtPermissions(permissions: UserPermissions): {
  pub: { allow?: string[]; deny?: string[] };
  sub: { allow?: string[]; deny?: string[] };
  resp?: { max: number; ttl: number };
} {
  checkPermissions(permissions);
  const responses = permissions.responses;
  return {
    pub: toJwtPermission(permissions.publish),
    sub: toJwtPermission(permissions.subscribe),
    // The JWT's ttl is a Go duration in nanoseconds.
    ...(responses ? { resp: { max: responses.max, ttl: responses.ttlSecs * 1_000_000_000 } } : {}),
  };
}
