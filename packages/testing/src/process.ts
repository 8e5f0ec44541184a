import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface SpawnedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr interleaved). */
  output(): string;
  /** Resolves once the output matches, or fails after the timeout. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Sends a signal (SIGTERM by default) and waits for exit, escalating to SIGKILL after `graceMs`. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
  /** SIGKILL now (a crash, as far as the process knows); resolves when it is gone. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolve only once the output matches this (e.g. a "listening" log line). */
  readyWhen?: RegExp;
  readyTimeoutMs?: number;
  /** Echo the child's output to this process's stderr (debugging). */
  echo?: boolean;
}

const running = new Set<ChildProcess>();
// A test runner that dies must not leave our children behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Spawns a process, captures its output and optionally waits until it reports readiness. */
export async function spawnProcess(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): Promise<SpawnedProcess> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    if (options.echo) process.stderr.write(chunk);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  running.add(child);

  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      running.delete(child);
      exitCode = code ?? (signal ? null : code);
      resolve(exitCode);
    });
  });
  exited.catch(() => {});
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });

  const handle: SpawnedProcess = {
    pid: child.pid ?? -1,
    child,
    exited,
    output: () => output,
    waitForOutput(pattern, timeoutMs = 30_000) {
      return new Promise<void>((resolve, reject) => {
        const fail = (why: string) => {
          cleanup();
          reject(new Error(`${command}: ${why} before printing ${pattern}\n--- output ---\n${output.slice(-4000)}`));
        };
        const onData = () => {
          if (pattern.test(output)) {
            cleanup();
            resolve();
          }
        };
        const onExit = (code: number | null) => fail(`exited (${code})`);
        const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          child.stderr?.off('data', onData);
          child.off('exit', onExit);
        };
        if (pattern.test(output)) {
          cleanup();
          resolve();
          return;
        }
        if (exitCode !== undefined) {
          fail(`exited (${exitCode})`);
          return;
        }
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
        child.on('exit', onExit);
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 10_000) {
      if (exitCode !== undefined) return exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (exitCode !== undefined) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  if (options.readyWhen) {
    try {
      await handle.waitForOutput(options.readyWhen, options.readyTimeoutMs ?? 30_000);
    } catch (err) {
      await handle.kill();
      throw err;
    }
  }
  return handle;
}

/** Sends a signal to a PID we started; false when it was already gone. */
export function killByPid(pid: number, signal: NodeJS.Signals = 'SIGTERM'): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** True while a process with this PID exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pids of live processes with `marker` as one of their argv words (zombies excluded: they have exited). Tests put a
 * unique marker in the argv of the processes a component under test starts, to count them and to clean them up.
 */
export function pidsWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(marker)) continue;
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').replace(/^.*\) /, '')[0];
      if (state !== 'Z') pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}
