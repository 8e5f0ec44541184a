import { spawnSync } from 'node:child_process';
import type { ResourceLimits } from '@outpost/manifest';

export interface AppliedLimits {
  /** The argv prefix that applies the rlimits before the module's command runs, or [] when none are asked. */
  readonly prefix: readonly string[];
  /** What was asked and could not be applied, said plainly (goes to the log and the statusDescription). */
  readonly warnings: readonly string[];
}

let prlimitPath: string | null | undefined;

function findPrlimit(): string | null {
  if (prlimitPath === undefined) {
    const found = spawnSync('sh', ['-c', 'command -v prlimit'], { encoding: 'utf8' });
    prlimitPath = found.status === 0 && found.stdout.trim() ? found.stdout.trim() : null;
  }
  return prlimitPath;
}

/**
 * Resource limits "where the OS allows". memoryBytes → RLIMIT_AS and pids → RLIMIT_NPROC, set by util-linux `prlimit`
 * which then execs the command: the limits hold from the module's first instruction and are inherited by its children.
 * RLIMIT_NPROC counts every process of the module's user, so modules sharing a user share the budget. RLIMIT_AS limits
 * address space, not resident memory: runtimes that reserve much virtual memory (Node reserves ~1 GB of code range)
 * need a limit above that. cpus needs a cgroup v2 cpu controller the agent may write to; it is reported as not
 * applied otherwise.
 */
export function resourceLimits(limits: ResourceLimits | undefined): AppliedLimits {
  if (!limits) return { prefix: [], warnings: [] };
  const warnings: string[] = [];
  const flags: string[] = [];
  if (limits.memoryBytes !== undefined) flags.push(`--as=${limits.memoryBytes}`);
  if (limits.pids !== undefined) flags.push(`--nproc=${limits.pids}`);
  if (limits.cpus !== undefined) {
    warnings.push(`limits.cpus (${limits.cpus}) not applied: process modules need a writable cgroup v2 cpu controller`);
  }
  if (flags.length === 0) return { prefix: [], warnings };
  const prlimit = findPrlimit();
  if (!prlimit) {
    warnings.push('limits.memoryBytes/pids not applied: prlimit (util-linux) is not installed');
    return { prefix: [], warnings };
  }
  return { prefix: [prlimit, ...flags, '--'], warnings };
}
