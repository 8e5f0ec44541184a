import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ApiTokenRole } from '../database/schema.js';

/** Prefix of every Outpost API token, so a leaked one is recognisable (and greppable by secret scanners). */
export const TOKEN_PREFIX = 'opt_';

/** A new random token: `opt_` + 32 random bytes, base64url. */
export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** What is stored instead of the token: its sha256, hex. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function newTokenId(): string {
  return randomUUID();
}

/** admin > operator > viewer: a role may do everything the roles below it may. */
const ROLE_RANK: Record<ApiTokenRole, number> = { viewer: 0, operator: 1, admin: 2 };

export function roleAllows(role: ApiTokenRole, minRole: ApiTokenRole): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[minRole];
}

/** Who made an authenticated request (attached to the request by the bearer guard). */
export interface Principal {
  tokenId: string;
  name: string;
  role: ApiTokenRole;
}
