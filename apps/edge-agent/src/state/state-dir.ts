import type { Stats } from 'node:fs';
import { chmod, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, StartupError } from '../errors.js';

export interface StateDirInfo {
  readonly path: string;
  readonly created: boolean;
  /**
   * Group or others can list, read or write it (mode & 0o066). It holds deployments and keys, so the agent warns about
   * this; traverse-only access (0o011) is expected: process modules reach their own dirs through it.
   */
  readonly accessibleToOthers: boolean;
}

/**
 * Makes sure the state dir exists (created 0711: traverse only, no listing, so process modules running as another
 * user reach their own dirs under it while the credentials and deployments in it stay 0600) and that
 * this process can write to it, by writing and removing a probe file; permission bits alone do not tell (root,
 * read-only mounts, ACLs). Throws STATE_DIR_UNUSABLE naming the directory and the reason.
 */
export async function prepareStateDir(path: string): Promise<StateDirInfo> {
  const unusable = (why: string, cause?: unknown) =>
    new StartupError('STATE_DIR_UNUSABLE', [`state dir ${path}: ${why}`], { cause });

  let existing: Stats | null;
  try {
    existing = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw unusable(`cannot inspect: ${errorMessage(err)}`, err);
    existing = null;
  }
  if (existing && !existing.isDirectory()) throw unusable('exists and is not a directory');

  if (!existing) {
    try {
      await mkdir(path, { recursive: true, mode: 0o711 });
      // mkdir's mode is masked by the umask.
      await chmod(path, 0o711);
    } catch (err) {
      throw unusable(`cannot create: ${errorMessage(err)}`, err);
    }
  } else if ((existing.mode & 0o011) !== 0o011 && existing.uid === process.getuid?.()) {
    // A dir made 0700 (by hand or by an older agent) would lock process modules out of their dirs: add traverse only.
    try {
      await chmod(path, (existing.mode & 0o7777) | 0o011);
    } catch (err) {
      throw unusable(`cannot make traversable: ${errorMessage(err)}`, err);
    }
  }

  const probe = join(path, `.write-probe-${process.pid}`);
  try {
    await writeFile(probe, '');
    await rm(probe);
  } catch (err) {
    throw unusable(`not writable: ${errorMessage(err)}`, err);
  }
  return {
    path,
    created: existing === null,
    accessibleToOthers: existing !== null && (existing.mode & 0o066) !== 0,
  };
}
