import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IdentityError } from './errors.js';

/** Secrets and the directories holding them are private to the owner. */
export const SECRET_FILE_MODE = 0o600;
export const SECRET_DIR_MODE = 0o700;

/** Creates `dir` (and parents) with mode 0700, and tightens it to 0700 when it already exists. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: SECRET_DIR_MODE });
  chmodSync(dir, SECRET_DIR_MODE);
}

/**
 * Writes a file with mode 0600 atomically (a temp file renamed over it), so a crash never leaves half a key and the
 * content is never readable by others, not even for a moment.
 */
export function writePrivateFile(path: string, content: string | Uint8Array): void {
  ensurePrivateDir(dirname(path));
  const temp = join(dirname(path), `.${Date.now().toString(36)}-${process.pid}.tmp`);
  writeFileSync(temp, content, { mode: SECRET_FILE_MODE });
  chmodSync(temp, SECRET_FILE_MODE);
  renameSync(temp, path);
}

/** Reads a file this package wrote; a missing or unreadable one is an IdentityError naming it. */
export function readRequiredFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new IdentityError('IDENTITY_NOT_FOUND', `${what} not found: ${path}`, { cause: err });
    throw new IdentityError('IDENTITY_INVALID', `${what} cannot be read: ${path} (${code ?? 'error'})`, {
      cause: err,
    });
  }
}

/** True when group or others may read or write `path`. */
export function accessibleToOthers(path: string): boolean {
  return (statSync(path).mode & 0o077) !== 0;
}
