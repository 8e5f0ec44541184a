import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * The temp name for `path`: same directory (a rename never crosses filesystems), a name no reader ever opens, unique
 * per write so two writers never share one. A temp file left by a crash is never read.
 */
function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

async function writeSynced(path: string, content: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems cannot fsync a directory; the rename has still happened.
  }
}

/**
 * Replaces `path` so that after a crash or power cut it holds the old content or the new, never a mix: write a temp
 * file in the same directory, fsync it, rename it over the target, fsync the directory (makes the rename durable).
 */
export async function writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
  const temp = tempPath(path);
  try {
    await writeSynced(temp, content, mode);
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/**
 * Creates `path` with `content` only if it does not exist yet, durably (temp + fsync + hard link + dir fsync). Returns
 * false, writing nothing, when another process created it first: both then use that one (a key made once).
 */
export async function createFileExclusive(path: string, content: string, mode: number): Promise<boolean> {
  const temp = tempPath(path);
  try {
    await writeSynced(temp, content, mode);
    await link(temp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await rm(temp, { force: true });
  }
  await syncDir(dirname(path));
  return true;
}

/** The file's text, or null when it does not exist (other errors are thrown). */
export async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
