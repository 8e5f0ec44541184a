import { join } from 'node:path';
import { z } from 'zod';
import type { DeploymentSource } from '../runtime/contracts.js';
import { readIfExists, writeFileAtomic } from './files.js';

export const DESIRED_STATE_FILE = 'desired-state.json';

const Seen = z.object({
  version: z.number().int().nonnegative(),
  /** applied: handed to the runtime; refused: reported 400/412, never run. */
  outcome: z.enum(['applied', 'refused']),
});

const DesiredStateRecord = z.object({
  /** The highest cloud version seen; a cloud version at or below it is never applied again. */
  cloud: Seen.nullable().default(null),
  /** The highest local version seen; local deployments must be newer. */
  local: Seen.nullable().default(null),
  /** Which source the last applied deployment came from: the most recent one wins (ADR 0010). */
  lastApplied: z.enum(['cloud', 'local']).nullable().default(null),
});
export type DesiredStateRecord = z.infer<typeof DesiredStateRecord>;

const EMPTY: DesiredStateRecord = { cloud: null, local: null, lastApplied: null };

export function desiredStatePath(stateDir: string): string {
  return join(stateDir, DESIRED_STATE_FILE);
}

/**
 * `<stateDir>/desired-state.json`: what the desired-state client has seen, so a restart never re-applies a refused or
 * older deployment. Read once, then written through (atomically) on every change. An unreadable file counts as empty
 * (the LKG's version still bounds what is stale); the reason is returned for the caller to log.
 */
export async function readDesiredState(
  stateDir: string,
): Promise<{ record: DesiredStateRecord; problem: string | null }> {
  const path = desiredStatePath(stateDir);
  const text = await readIfExists(path);
  if (text === null) return { record: EMPTY, problem: null };
  try {
    const parsed = DesiredStateRecord.safeParse(JSON.parse(text));
    if (parsed.success) return { record: parsed.data, problem: null };
    return { record: EMPTY, problem: `${path}: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  } catch (err) {
    return { record: EMPTY, problem: `${path}: not valid JSON (${(err as Error).message})` };
  }
}

export async function writeDesiredState(stateDir: string, record: DesiredStateRecord): Promise<void> {
  await writeFileAtomic(desiredStatePath(stateDir), `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

/** The record after seeing `version` from `source` (kept at the highest). */
export function recordSeen(
  record: DesiredStateRecord,
  source: DeploymentSource,
  version: number,
  outcome: 'applied' | 'refused',
): DesiredStateRecord {
  const previous = record[source];
  const next = previous && previous.version > version ? previous : { version, outcome };
  return { ...record, [source]: next, lastApplied: outcome === 'applied' ? source : record.lastApplied };
}

/**
 * The next local version: at least the current time in milliseconds (increases across restarts and clock-independent
 * processes like `outpost-agent keys sign`), and always above the last local version seen.
 */
export function nextLocalVersion(record: DesiredStateRecord, now = Date.now()): number {
  return Math.max(now, (record.local?.version ?? 0) + 1);
}
