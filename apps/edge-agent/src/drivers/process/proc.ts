import { readFileSync } from 'node:fs';

/**
 * A process as /proc shows it. `startTime` is field 22 of /proc/<pid>/stat (clock ticks since boot): together with
 * the pid it names one process for good, so a recorded pid that the kernel gave to another process since is told
 * apart from the module that had it.
 */
export interface ProcStat {
  readonly startTime: string;
  /** R, S, D, Z (zombie: exited, not yet reaped), T, ... */
  readonly state: string;
}

export function readProcStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or ')': split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const state = rest[0];
  const startTime = rest[19];
  if (state === undefined || startTime === undefined) return null;
  return { state, startTime };
}

/** True when the process recorded as (pid, startTime) still runs: same start time, not a zombie. */
export function isSameProcessAlive(pid: number, startTime: string): boolean {
  const stat = readProcStat(pid);
  return stat !== null && stat.startTime === startTime && stat.state !== 'Z' && stat.state !== 'X';
}
