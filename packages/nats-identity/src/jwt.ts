import { type ClaimsData, type ConnectionType, decode, encodeUser, type User } from '@nats-io/jwt';
import { createUser, fromPublic, fromSeed, type KeyPair } from '@nats-io/nkeys';
import { formatCredsArmour, parseCredsArmour } from './creds.js';
import { IdentityError } from './errors.js';
import { toJwtPermissions, type UserPermissions } from './permissions.js';

const encoder = new TextEncoder();

/** Whole seconds since the epoch: every JWT time is in whole seconds. */
export function nowSecs(): number {
  return Math.floor(Date.now() / 1000);
}

/** A fresh user NKey, as a device makes its own: the public key is shared, the seed never leaves the device. */
export function createUserKey(): { publicKey: string; seed: string } {
  const kp = createUser();
  return { publicKey: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

/** A key pair from its seed (a string starting with `S`), with a clear error that never echoes the seed. */
export function keyPairFromSeed(seed: string | Uint8Array, what: string, expectedPrefix?: 'SO' | 'SA' | 'SU'): KeyPair {
  const text = typeof seed === 'string' ? seed.trim() : new TextDecoder().decode(seed).trim();
  if (expectedPrefix && !text.startsWith(expectedPrefix)) {
    throw new IdentityError(
      'KEY_INVALID',
      `${what} is not an NKey seed of the right kind (expected ${expectedPrefix}…)`,
    );
  }
  try {
    return fromSeed(encoder.encode(text));
  } catch (err) {
    throw new IdentityError('KEY_INVALID', `${what} is not a valid NKey seed`, { cause: err });
  }
}

/** True when `publicKey` is a well-formed user public key (`U…`, checksum valid). */
export function isUserPublicKey(publicKey: string): boolean {
  if (typeof publicKey !== 'string' || !publicKey.startsWith('U')) return false;
  try {
    fromPublic(publicKey);
    return true;
  } catch {
    return false;
  }
}

/** Who signs user JWTs: the account's public key and one of its signing keys (never the account's identity key). */
export interface AccountIssuer {
  readonly accountPublicKey: string;
  readonly signingKey: KeyPair;
}

export interface MintUserOptions {
  readonly issuer: AccountIssuer;
  /** The user's public NKey (`U…`); the holder keeps the seed. */
  readonly publicKey: string;
  /** Shown in the server's monitoring, e.g. the device id. */
  readonly name: string;
  readonly permissions: UserPermissions;
  /** Lifetime; the JWT carries `exp` = now + this, in whole seconds. */
  readonly expiresInSecs: number;
  /** Default: plain clients (`STANDARD`) only. Device credentials add `LEAFNODE` for the device hub's leaf. */
  readonly allowedConnectionTypes?: readonly ConnectionType[];
  /** Tags shown by the server and kept in the JWT (no secrets). */
  readonly tags?: readonly string[];
}

/** Longest lifetime a user JWT may have: a year. A credential that never expires cannot be phased out. */
export const MAX_USER_JWT_LIFETIME_SECS = 366 * 24 * 3600;

/**
 * A user JWT signed by the account signing key, with pub/sub allow-lists (never empty, never `_INBOX.>` for
 * subscriptions) and an expiry.
 */
export async function mintUserJwt(options: MintUserOptions): Promise<string> {
  const { issuer, publicKey, name, expiresInSecs } = options;
  if (!isUserPublicKey(publicKey)) {
    throw new IdentityError('KEY_INVALID', `publicKey must be a user NKey public key (U…), got "${publicKey}"`);
  }
  if (!Number.isInteger(expiresInSecs) || expiresInSecs < 1 || expiresInSecs > MAX_USER_JWT_LIFETIME_SECS) {
    throw new IdentityError(
      'PERMISSIONS_INVALID',
      `expiresInSecs must be a whole number of seconds from 1 to ${MAX_USER_JWT_LIFETIME_SECS}`,
    );
  }
  if (name.trim() === '') throw new IdentityError('PERMISSIONS_INVALID', 'name must not be empty');
  const claims: Partial<User> = {
    ...toJwtPermissions(options.permissions),
    allowed_connection_types: [...(options.allowedConnectionTypes ?? ['STANDARD'])],
    ...(options.tags && options.tags.length > 0 ? { tags: [...options.tags] } : {}),
  };
  return encodeUser(name, fromPublic(publicKey), issuer.accountPublicKey, claims, {
    signer: issuer.signingKey,
    exp: nowSecs() + expiresInSecs,
  });
}

/** A JWT's claims after its signature was checked (throws KEY_INVALID when it does not verify). */
export function decodeJwt<T = unknown>(jwt: string): ClaimsData<T> {
  try {
    return decode<T>(jwt.trim());
  } catch (err) {
    throw new IdentityError('KEY_INVALID', `not a valid NATS JWT: ${(err as Error).message}`, { cause: err });
  }
}

/** A user JWT's claims (signature checked). */
export function decodeUserJwt(jwt: string): ClaimsData<User> {
  return decodeJwt<User>(jwt);
}

/** The creds file nats clients and leaf nodes read: the user JWT and the user's seed (checked), in the standard armour. */
export function formatCredsFile(jwt: string, seed: string | Uint8Array): string {
  const seedText = typeof seed === 'string' ? seed.trim() : new TextDecoder().decode(seed).trim();
  keyPairFromSeed(seedText, 'the creds seed', 'SU');
  return formatCredsArmour(jwt, seedText);
}

/**
 * The JWT and seed of a creds file, the JWT's signature checked and its subject the seed's key (throws IDENTITY_INVALID
 * naming `what` when it is not one).
 */
export function parseCredsFile(text: string, what = 'creds file'): { jwt: string; seed: string; publicKey: string } {
  const { jwt, seed } = parseCredsArmour(text);
  if (!jwt || !seed) throw new IdentityError('IDENTITY_INVALID', `${what} holds no JWT and seed`);
  const kp = keyPairFromSeed(seed, `${what} seed`, 'SU');
  const claims = decodeJwt(jwt);
  if (claims.sub !== kp.getPublicKey()) {
    throw new IdentityError('IDENTITY_INVALID', `${what}: the JWT belongs to another key than the seed`);
  }
  return { jwt, seed, publicKey: kp.getPublicKey() };
}
