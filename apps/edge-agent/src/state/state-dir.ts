import type { Stats } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, StartupError } from '../errors.js';

export interface StateDirInfo {
  readonly path: string;
  readonly created: boolean;
  /** Group or others can access it. The dir will hold deployments and keys, so the agent warns about this. */
  readonly accessibleToOthers: boolean;
}

/**
 * Makes sure the state dir exists (created 0700: it will hold the last-good deployment and device keys) and that
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
      await mkdir(path, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw unusable(`cannot create: ${errorMessage(err)}`, err);
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
    accessibleToOthers: existing !== null && (existing.mode & 0o077) !== 0,
  };
}
