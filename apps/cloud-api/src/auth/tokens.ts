import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AuditActor, Role } from '@outpost/protocol';

/** Prefix of every Outpost API token, so a leaked one is recognisable (and greppable by secret scanners). */
export const TOKEN_PREFIX = 'opt_';
/** Prefix of every session token (a person signed in). */
export const SESSION_TOKEN_PREFIX = 'ops_';

/** A new random token: the prefix + 32 random bytes, base64url. */
export function generateToken(prefix: string = TOKEN_PREFIX): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/**
 * What is stored instead of a token: its sha256, hex. The tokens are 256 random bits, so a fast hash is enough (no
 * dictionary to try); passwords, which people choose, get scrypt instead (users/password.ts).
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newTokenId(): string {
  return randomUUID();
}

/** admin > operator > viewer: a role may do everything the roles below it may. */
const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(role: Role, minRole: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[minRole];
}

/** Who made an authenticated call, HTTP or NATS: a person (session) or a pipeline (API token). */
export interface Principal {
  readonly kind: 'user' | 'token';
  /** The user id or the API token id. */
  readonly id: string;
  /** The username or the token name. */
  readonly name: string;
  readonly role: Role;
  /** When the session or token ends. */
  readonly expiresAt: Date;
  /** The session a person's call came with. */
  readonly sessionId?: string;
}

/** The audit log's view of a principal. */
export function actorOf(principal: Principal): AuditActor {
  return { kind: principal.kind, id: principal.id, name: principal.name };
}

/** What Outpost itself does (bootstrap, maintenance) is recorded under this actor. */
export const SYSTEM_ACTOR: AuditActor = { kind: 'system', id: 'outpost', name: 'Outpost' };
