import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ProcessModule } from '@outpost/manifest';

/**
 * What the driver remembers about a module instance, in `<modulesDir>/<name>/instance.json` (0600: it holds the
 * module's env, secrets included). It outlives the agent so a restarted agent adopts the running process.
 */
export interface InstanceRecord {
  readonly name: string;
  readonly specHash: string;
  readonly module: ProcessModule;
  /** The unpacked artifact dir, or null for a module without an artifact. */
  readonly artifactDir: string | null;
  /**
   * A random id given to one spawn only, written here before the spawn and passed to the process as
   * OUTPOST_MODULE_INSTANCE: an agent killed before it recorded the pid lets the next one find the process in /proc.
   * Absent in records written by older agents.
   */
  readonly instanceToken?: string | null;
  readonly pid: number | null;
  /** /proc/<pid>/stat field 22 at spawn: defeats pid reuse when adopting. */
  readonly pidStartTime: string | null;
  readonly startedAt: string | null;
  /** null while running, before the first start, or when the exit was not observed (the agent was down). */
  readonly exitCode: number | null;
  /** The signal that ended it, when one did (exitCode is then 128 + its number). */
  readonly exitSignal: string | null;
  readonly exitedAt: string | null;
  /** True once the exit was recorded (observed or found dead); false while it may be running. */
  readonly exited: boolean;
  /** Why exitCode is null after an exit (adopted process, or found dead), for statusDescription. */
  readonly exitNote?: string | null;
}

export const RECORD_FILE = 'instance.json';

export function recordPath(modulesDir: string, name: string): string {
  return join(modulesDir, name, RECORD_FILE);
}

/** Writes the record atomically (temp file, fsync, rename, fsync of the dir): a crash leaves the old or the new one. */
export async function writeRecord(modulesDir: string, record: InstanceRecord): Promise<void> {
  const path = recordPath(modulesDir, record.name);
  const temp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const file = await open(temp, 'w', 0o600);
  try {
    await file.writeFile(`${JSON.stringify(record, null, 2)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
  await fsyncDir(dirname(path));
}

export async function fsyncDir(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export async function readRecord(modulesDir: string, name: string): Promise<InstanceRecord | null> {
  let text: string;
  try {
    text = await readFile(recordPath(modulesDir, name), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return JSON.parse(text) as InstanceRecord;
}

export async function deleteRecord(modulesDir: string, name: string): Promise<void> {
  await rm(recordPath(modulesDir, name), { force: true });
}
