import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

/**
 * A process as /proc shows it. `startTime` is field 22 of /proc/<pid>/stat (clock ticks since boot): together with
 * the pid it names one process for good, so a recorded pid that the kernel gave to another process since is told
 * apart from the module that had it.
 */
export interface ProcStat {
  readonly startTime: string;
  /** R, S, D, Z (zombie: exited, not yet reaped), T, ... */
  readonly state: string;
  /** Field 6: the session id. A module is spawned detached (setsid), so it leads its own session. */
  readonly session: number;
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
  // rest[0] is field 3 (state), so field 6 is rest[3] and field 22 is rest[19].
  const state = rest[0];
  const session = Number(rest[3]);
  const startTime = rest[19];
  if (state === undefined || startTime === undefined || !Number.isInteger(session)) return null;
  return { state, startTime, session };
}

function isRunning(stat: ProcStat): boolean {
  return stat.state !== 'Z' && stat.state !== 'X';
}

/** True when the process recorded as (pid, startTime) still runs: same start time, not a zombie. */
export function isSameProcessAlive(pid: number, startTime: string): boolean {
  const stat = readProcStat(pid);
  return stat !== null && stat.startTime === startTime && isRunning(stat);
}

/** Linux reports process times to user space in USER_HZ ticks, 100 on every architecture the agent runs on. */
const USER_HZ = 100;

/** When a process started, from its start time in ticks since boot, or null when /proc does not say. */
export function processStartedAt(startTime: string): string | null {
  try {
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1];
    if (btime === undefined) return null;
    return new Date(Number(btime) * 1000 + (Number(startTime) * 1000) / USER_HZ).toISOString();
  } catch {
    return null;
  }
}

export interface FoundProcess {
  readonly pid: number;
  readonly startTime: string;
}

/**
 * The running process whose initial environment holds `key=value`, when it leads its own session: the module a
 * driver spawned with that (never reused) value. Its children inherit the variable, so among the processes carrying
 * it the module is the earliest started; when that one is not a session leader (a child outliving the module) nothing
 * is found. Zombies and processes whose environ cannot be read are skipped.
 */
export async function findSessionLeaderByEnv(key: string, value: string): Promise<FoundProcess | null> {
  const entry = `${key}=${value}`;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return null;
  }
  const carriers: Array<FoundProcess & { leader: boolean }> = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    // Stat first: the environ read below then proves the pid still was this process (a reused pid would not carry
    // the value), and the same start time read again rules out a swap in between.
    const before = readProcStat(pid);
    if (!before || !isRunning(before)) continue;
    let environ: string;
    try {
      environ = await readFile(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue;
    }
    if (!environ.split('\0').includes(entry)) continue;
    const after = readProcStat(pid);
    if (!after || !isRunning(after) || after.startTime !== before.startTime) continue;
    carriers.push({ pid, startTime: before.startTime, leader: before.session === pid });
  }
  carriers.sort((a, b) => Number(a.startTime) - Number(b.startTime) || Number(b.leader) - Number(a.leader));
  const first = carriers[0];
  return first?.leader ? { pid: first.pid, startTime: first.startTime } : null;
}
