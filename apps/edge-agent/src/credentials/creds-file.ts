import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { fromSeed } from '@nats-io/nkeys';
import { parseCredsArmour, readJwtClaims } from '@outpost/nats-identity/creds';

/** A device's NATS credential as read from its creds file. The seed stays in memory and in the file, nowhere else. */
export interface DeviceCredential {
  readonly jwt: string;
  readonly seed: string;
  /** The NKey public key of the seed (`U…`): what the cloud enrolled and renews for. */
  readonly publicKey: string;
  /** From the JWT's `iat` / `exp` claims; null when the JWT does not say (a JWT without `exp` never expires). */
  readonly issuedAt: Date | null;
  readonly expiresAt: Date | null;
}

/*
 * The creds-file armour and the unverified claims live once, in @outpost/nats-identity's dependency-light `./creds`
 * entry (no JWT library, so the bundled agent stays small); the agent adds the device's view: its key and times.
 */
export { formatCredsArmour as formatCredsFile, readJwtClaims as jwtClaims } from '@outpost/nats-identity/creds';

/** Parses a creds file; errors name the file and what is missing, never its content. */
export function parseCredsFile(text: string, path: string): DeviceCredential {
  const { jwt, seed } = parseCredsArmour(text);
  if (!jwt) throw new Error(`creds file ${path}: no user JWT`);
  if (!seed) throw new Error(`creds file ${path}: no NKey seed`);
  let publicKey: string;
  try {
    publicKey = fromSeed(new TextEncoder().encode(seed)).getPublicKey();
  } catch {
    throw new Error(`creds file ${path}: the NKey seed is not valid`);
  }
  let claims: ReturnType<typeof readJwtClaims>;
  try {
    claims = readJwtClaims(jwt);
  } catch (err) {
    throw new Error(`creds file ${path}: the user JWT cannot be read (${(err as Error).message})`);
  }
  return {
    jwt,
    seed,
    publicKey,
    issuedAt: claims.iat === undefined ? null : new Date(claims.iat * 1000),
    expiresAt: claims.exp === undefined ? null : new Date(claims.exp * 1000),
  };
}

export function readCredsFile(path: string): DeviceCredential {
  return parseCredsFile(readFileSync(path, 'utf8'), path);
}

/**
 * Replaces a file so that a reader (nats re-reading the creds on reconnect, or a power cut) sees the old content or the
 * new, never half of it: write a temp file in the same directory with `mode`, fsync it, rename it over the target,
 * then fsync the directory so the rename itself is durable.
 */
export function writeFileAtomic(path: string, content: string, mode: number): void {
  const temp = `${path}.${process.pid}.tmp`;
  // A temp file left by a crash would keep its old mode: start from none.
  rmSync(temp, { force: true });
  try {
    const fd = openSync(temp, 'w', mode);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  try {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some filesystems cannot fsync a directory; the rename has still happened.
  }
}
