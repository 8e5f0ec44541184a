import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, chown, type FileHandle, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { Module, ProcessModule } from '@outpost/manifest';
import type { LogLine } from '@outpost/protocol';
import type { NatsConnection } from 'nats';
import { ArtifactStore } from '../../artifacts/index.js';
import { MODULE_USER_DEFAULT } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../logger.js';
import {
  DriverError,
  type ExecResult,
  type LogQuery,
  type ModuleDriver,
  type ModuleInstance,
} from '../../runtime/contracts.js';
import { deleteRecord, type InstanceRecord, RECORD_FILE, readRecord, writeRecord } from './instance-record.js';
import { resourceLimits } from './limits.js';
import { followLogFiles, logFile, logsDir, readLogs, rotateIfNeeded } from './log-files.js';
import { type ModuleUser, resolveModuleUser } from './module-user.js';
import {
  type FoundProcess,
  findSessionLeaderByEnv,
  isSameProcessAlive,
  processStartedAt,
  readProcStat,
} from './proc.js';

export interface ProcessDriverOptions {
  /** Where module dirs (instance record, logs, data, unpacked artifacts) and the artifact cache live. */
  readonly modulesDir: string;
  readonly deviceId: string;
  /** When the agent runs as root, modules run as this user unless the manifest names one. Default outpost-modules. */
  readonly moduleUser?: string;
  readonly logger: Logger;
  /** The agent's current NATS connection (null while offline), for os:// artifact refs. */
  readonly connection?: () => NatsConnection | null;
  /** Extra trusted CAs (PEM file) for https:// artifact refs. */
  readonly httpsCaFile?: string;
  /** A log file is rotated once it is bigger than this. Default 10 MiB. */
  readonly logMaxBytes?: number;
  /** Rotated files kept per stream. Default 3. */
  readonly logMaxFiles?: number;
  /** How often log sizes are checked. Default 1 s. */
  readonly logCheckIntervalMs?: number;
  /** How often adopted processes (not the agent's children) are checked for an exit. Default 500 ms. */
  readonly exitPollIntervalMs?: number;
  /** How often followLogs looks for new lines. Default 250 ms. */
  readonly followPollMs?: number;
  /**
   * Test-only: awaited after a module's process is spawned and before its pid is recorded, so a test can kill the
   * agent inside that window. Never set in production.
   */
  readonly afterSpawnForTests?: (pid: number) => Promise<void>;
}

const LOG_MAX_BYTES_DEFAULT = 10 * 1024 * 1024;
const LOG_MAX_FILES_DEFAULT = 3;
const STOP_KILL_WAIT_MS = 30_000;
/** Grace for an instance found running when createAndStart is asked for a fresh one. */
const REPLACE_GRACE_MS = 10_000;
const EXEC_OUTPUT_MAX = 4096;
/** Carries the spawn's instance token (see InstanceRecord.instanceToken); only module processes get it, not exec. */
const INSTANCE_ENV = 'OUTPOST_MODULE_INSTANCE';
/** The run fields of an instance record before its process is spawned (and recorded). */
const NOT_STARTED = {
  pid: null,
  pidStartTime: null,
  startedAt: null,
  exitCode: null,
  exitSignal: null,
  exitedAt: null,
  exited: false,
} as const;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The agent's environment variables a module inherits; everything else (credentials included) stays with the agent. */
const INHERITED_ENV = ['PATH', 'LANG', 'LC_ALL', 'TZ'];

const ADOPTED_NOTE = 'adopted from a previous agent run: its exit code will not be known';
const ADOPTED_EXIT_NOTE = 'exited after being adopted from a previous agent run: exit code unknown';
const EXITED_UNSEEN_NOTE = 'exited while the agent was not running: exit code unknown';

/** What #spawn resolved for one start of a module. */
interface Launch {
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Record<string, string>;
  readonly user: ModuleUser;
  /** Limits the OS could not apply. */
  readonly warnings: readonly string[];
}

/** A running process the driver waits on: its own child (exit event) or an adopted one (polled in /proc). */
interface Watch {
  readonly pid: number;
  readonly startTime: string;
  readonly own: boolean;
  readonly done: Promise<void>;
  readonly finish: () => void;
  /** Limits the OS could not apply, for statusDescription. */
  readonly warnings: readonly string[];
}

/**
 * Runs process modules. Each runs detached in its own process group with stdout/stderr written straight to files,
 * so it survives an agent restart (no pipe to break) and is adopted by the next agent through its instance record.
 */
export class ProcessDriver implements ModuleDriver {
  readonly type = 'process' as const;
  readonly artifacts: ArtifactStore;
  readonly #modulesDir: string;
  readonly #deviceId: string;
  readonly #moduleUser: string;
  readonly #logger: Logger;
  readonly #logMaxBytes: number;
  readonly #logMaxFiles: number;
  readonly #followPollMs: number;
  readonly #watches = new Map<string, Watch>();
  readonly #listeners: Array<(name: string, exitCode: number | null) => void> = [];
  /** Record updates per module, one at a time (exit events and API calls race). */
  readonly #writes = new Map<string, Promise<unknown>>();
  readonly #timers: NodeJS.Timeout[] = [];
  /** Modules this driver is spawning → the spawn's token: their processes are not looked for in /proc meanwhile. */
  readonly #spawning = new Map<string, string>();
  readonly #afterSpawnForTests: ((pid: number) => Promise<void>) | undefined;
  #rotating = false;

  constructor(options: ProcessDriverOptions) {
    this.#modulesDir = resolve(options.modulesDir);
    this.#deviceId = options.deviceId;
    this.#moduleUser = options.moduleUser ?? MODULE_USER_DEFAULT;
    this.#logger = options.logger.child({ driver: 'process' });
    this.#logMaxBytes = options.logMaxBytes ?? LOG_MAX_BYTES_DEFAULT;
    this.#logMaxFiles = options.logMaxFiles ?? LOG_MAX_FILES_DEFAULT;
    this.#followPollMs = options.followPollMs ?? 250;
    this.#afterSpawnForTests = options.afterSpawnForTests;
    this.artifacts = new ArtifactStore({
      modulesDir: this.#modulesDir,
      connection: options.connection,
      httpsCaFile: options.httpsCaFile,
    });
    const rotate = setInterval(() => void this.#rotateLogs(), options.logCheckIntervalMs ?? 1000);
    const poll = setInterval(() => this.#pollAdopted(), options.exitPollIntervalMs ?? 500);
    rotate.unref();
    poll.unref();
    this.#timers.push(rotate, poll);
  }

  async prepare(name: string, module: Module): Promise<void> {
    const definition = asProcessModule(name, module);
    if (definition.process.artifact) await this.artifacts.ensure(name, definition.process.artifact);
  }

  async createAndStart(name: string, module: Module, specHash: string): Promise<ModuleInstance> {
    const definition = asProcessModule(name, module);
    // The runtime removes an earlier instance first; an agent killed between two steps may not have, and two
    // instances of one module must never run.
    await this.stop(name, REPLACE_GRACE_MS);
    const artifactDir = definition.process.artifact
      ? await this.artifacts.ensure(name, definition.process.artifact)
      : null;
    await mkdir(this.#moduleDir(name), { recursive: true, mode: 0o711 });
    await chmod(this.#modulesDir, 0o711);
    const record: InstanceRecord = { name, specHash, module: definition, artifactDir, ...NOT_STARTED };
    await this.#update(name, () => record);
    return this.#spawn(record);
  }

  async start(name: string): Promise<ModuleInstance> {
    const record = await this.#requireRecord(name);
    const current = await this.#observe(record);
    if (current.state === 'running') return current;
    const artifact = record.module.process.artifact;
    // The unpacked dir may have been cleaned up since; the cached download makes this cheap and offline-safe.
    const artifactDir = artifact ? await this.artifacts.ensure(name, artifact) : null;
    return this.#spawn({ ...record, artifactDir });
  }

  async stop(name: string, graceMs: number): Promise<void> {
    const record = await readRecord(this.#modulesDir, name);
    if (!record) return;
    await this.#observe(record);
    const watch = this.#watches.get(name);
    if (!watch) return;
    const signalGroup = (signal: NodeJS.Signals) => {
      // An adopted pid is signalled only while it is still the same process (pid reuse).
      if (!watch.own && !isSameProcessAlive(watch.pid, watch.startTime)) return;
      try {
        process.kill(-watch.pid, signal);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
    };
    signalGroup('SIGTERM');
    if (!(await settlesWithin(watch.done, graceMs))) {
      this.#logger.warn(
        { module: name, pid: watch.pid, graceMs, code: 'MODULE_STOP_KILLED' },
        'module ignored SIGTERM: killing it',
      );
      signalGroup('SIGKILL');
      if (!(await settlesWithin(watch.done, STOP_KILL_WAIT_MS))) {
        throw new DriverError('STOP_FAILED', `module ${name} (pid ${watch.pid}) is still alive after SIGKILL`);
      }
    }
    // Whatever the module left behind in its group goes with it.
    try {
      process.kill(-watch.pid, 'SIGKILL');
    } catch {
      // ESRCH: nothing left.
    }
  }

  async remove(name: string, graceMs: number): Promise<void> {
    await this.stop(name, graceMs);
    await this.#update(name, () => null);
  }

  async list(): Promise<ModuleInstance[]> {
    const instances: ModuleInstance[] = [];
    for (const name of await this.#moduleNames()) {
      const record = await readRecord(this.#modulesDir, name).catch((err: unknown) => {
        this.#logger.warn(
          { module: name, err: errorMessage(err), code: 'INSTANCE_RECORD_UNREADABLE' },
          'instance record unreadable; module skipped',
        );
        return null;
      });
      if (record) instances.push(await this.#observe(record));
    }
    return instances;
  }

  onExit(listener: (name: string, exitCode: number | null) => void): void {
    this.#listeners.push(listener);
  }

  async exec(name: string, argv: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const record = await this.#requireRecord(name);
    const [command, ...args] = argv;
    if (command === undefined) throw new DriverError('EXEC_INVALID', 'exec needs a command');
    const user = await resolveModuleUser(record.module.process.user, this.#moduleUser);
    const cwd = this.#workingDir(record);
    const env = this.#environment(name, record.module, user);
    return new Promise<ExecResult>((resolvePromise) => {
      let output = '';
      let timedOut = false;
      const child = spawn(command, args, {
        cwd,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(user.uid !== null && user.gid !== null ? { uid: user.uid, gid: user.gid } : {}),
      });
      const collect = (chunk: Buffer) => {
        if (output.length < EXEC_OUTPUT_MAX) output = (output + chunk.toString('utf8')).slice(0, EXEC_OUTPUT_MAX);
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      const timer = setTimeout(() => {
        timedOut = true;
        if (child.pid !== undefined) killGroup(child.pid, 'SIGKILL');
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        resolvePromise({ exitCode: null, output: `cannot run ${command}: ${err.message}`, timedOut: false });
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolvePromise({ exitCode: timedOut ? null : code, output, timedOut });
      });
    });
  }

  async probeHost(_name: string): Promise<string> {
    return '127.0.0.1';
  }

  async logs(name: string, query: LogQuery): Promise<LogLine[]> {
    await this.#requireModuleDir(name);
    return readLogs(this.#moduleDir(name), this.#logMaxFiles, query);
  }

  async *followLogs(name: string, signal: AbortSignal): AsyncIterable<LogLine> {
    await this.#requireModuleDir(name);
    yield* followLogFiles(this.#moduleDir(name), this.#logMaxFiles, signal, this.#followPollMs);
  }

  async cleanup(keep: ReadonlyMap<string, Module>): Promise<void> {
    const shas = new Map<string, string | null>();
    for (const [name, module] of keep) {
      if (module.type === 'process') shas.set(name, module.process.artifact?.sha256 ?? null);
    }
    // A module still running (not yet removed) keeps its files whatever `keep` says.
    for (const name of await this.#moduleNames()) {
      if (shas.has(name)) continue;
      const record = await readRecord(this.#modulesDir, name).catch(() => null);
      if (record && (await this.#observe(record)).state === 'running') {
        shas.set(name, record.module.process.artifact?.sha256 ?? null);
        continue;
      }
      // Gone from the deployment: its logs go; its data dir stays (the module's own state, deleted by an operator).
      await rm(logsDir(this.#moduleDir(name)), { recursive: true, force: true });
      if (record) await this.#update(name, () => null);
    }
    await this.artifacts.cleanup(shas);
  }

  async close(): Promise<void> {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    this.#listeners.splice(0);
    await Promise.all([...this.#writes.values()].map((write) => write.catch(() => undefined)));
  }

  // --- internals ---------------------------------------------------------------------------------------------------

  #moduleDir(name: string): string {
    return join(this.#modulesDir, name);
  }

  async #moduleNames(): Promise<string[]> {
    try {
      const entries = await readdir(this.#modulesDir, { withFileTypes: true });
      return entries.filter((entry) => entry.isDirectory() && !entry.name.startsWith('.')).map((e) => e.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  async #requireRecord(name: string): Promise<InstanceRecord> {
    const record = await readRecord(this.#modulesDir, name);
    if (!record) throw new DriverError('NOT_FOUND', `no process module "${name}" on this device`);
    return record;
  }

  async #requireModuleDir(name: string): Promise<void> {
    try {
      await stat(join(this.#moduleDir(name), RECORD_FILE));
    } catch {
      try {
        await stat(logsDir(this.#moduleDir(name)));
      } catch {
        throw new DriverError('NOT_FOUND', `no process module "${name}" on this device`);
      }
    }
  }

  /** Serialises read-modify-write of one module's record; `change` returning null deletes it. */
  #update(
    name: string,
    change: (current: InstanceRecord | null) => InstanceRecord | null,
  ): Promise<InstanceRecord | null> {
    const previous = this.#writes.get(name) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const current = await readRecord(this.#modulesDir, name);
        const updated = change(current);
        if (updated === null) {
          if (current !== null) await deleteRecord(this.#modulesDir, name);
        } else if (updated !== current) {
          await writeRecord(this.#modulesDir, updated);
        }
        return updated;
      });
    this.#writes.set(name, next);
    return next;
  }

  /** What the record says, checked against /proc; adopts a live process nobody watches yet. */
  async #observe(record: InstanceRecord): Promise<ModuleInstance> {
    const name = record.name;
    const watch = this.#watches.get(name);
    if (watch && watch.pid === record.pid) return toInstance(record, 'running', watch);
    if (record.exited) return toInstance(record, 'exited');
    if (record.pid !== null && record.pidStartTime !== null && isSameProcessAlive(record.pid, record.pidStartTime)) {
      const adopted = this.#watch(name, record.pid, record.pidStartTime, false, []);
      this.#logger.info({ module: name, pid: record.pid }, 'adopted a running module');
      return toInstance(record, 'running', adopted);
    }
    // No pid recorded (an agent killed between spawning and recording it) or a dead one: the process the record's
    // spawn started may still run, known by its token.
    const token = record.instanceToken;
    if (token && !this.#spawning.has(name)) {
      const found = await findSessionLeaderByEnv(INSTANCE_ENV, token);
      if (found) return this.#adoptByToken(record, token, found);
    }
    if (record.pid === null || record.pidStartTime === null) {
      return toInstance(record, record.pid === null ? 'created' : 'exited');
    }
    const updated = await this.#update(name, (current) =>
      current && current.pid === record.pid && !current.exited
        ? { ...current, exited: true, exitCode: null, exitSignal: null, exitedAt: null, exitNote: EXITED_UNSEEN_NOTE }
        : current,
    );
    return toInstance(updated ?? record, 'exited');
  }

  /** Watches the process found carrying the record's token and completes the record with its pid and start time. */
  async #adoptByToken(record: InstanceRecord, token: string, found: FoundProcess): Promise<ModuleInstance> {
    const name = record.name;
    const current = this.#watches.get(name);
    // A concurrent observe may have adopted it during the /proc scan.
    const watch =
      current && current.pid === found.pid && current.startTime === found.startTime
        ? current
        : this.#watch(name, found.pid, found.startTime, false, []);
    const updated = await this.#update(name, (latest) =>
      latest && latest.instanceToken === token && !latest.exited
        ? {
            ...latest,
            pid: found.pid,
            pidStartTime: found.startTime,
            startedAt: processStartedAt(found.startTime) ?? latest.startedAt,
            exitCode: null,
            exitSignal: null,
            exitedAt: null,
            exitNote: null,
          }
        : latest,
    );
    this.#logger.info(
      { module: name, pid: found.pid, recordedPid: record.pid },
      'adopted a running module found by its instance token',
    );
    return toInstance(updated ?? record, 'running', watch);
  }

  #watch(name: string, pid: number, startTime: string, own: boolean, warnings: readonly string[]): Watch {
    let finish = () => {};
    const done = new Promise<void>((resolveDone) => {
      finish = resolveDone;
    });
    const watch: Watch = { pid, startTime, own, done, finish, warnings };
    this.#watches.set(name, watch);
    return watch;
  }

  #pollAdopted(): void {
    for (const [name, watch] of this.#watches) {
      if (!watch.own && !isSameProcessAlive(watch.pid, watch.startTime)) void this.#exited(name, watch, null, null);
    }
  }

  async #exited(name: string, watch: Watch, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.#watches.get(name) !== watch) return;
    this.#watches.delete(name);
    const exitCode = signal !== null ? 128 + (osConstants.signals[signal] ?? 0) : code;
    const exitedAt = new Date().toISOString();
    try {
      await this.#update(name, (current) =>
        current && current.pid === watch.pid
          ? {
              ...current,
              exited: true,
              exitCode,
              exitSignal: signal,
              exitedAt,
              exitNote: watch.own ? null : ADOPTED_EXIT_NOTE,
            }
          : current,
      );
    } catch (err) {
      this.#logger.error(
        { module: name, err: errorMessage(err), code: 'INSTANCE_RECORD_WRITE_FAILED' },
        'exit not recorded',
      );
    }
    this.#logger.info({ module: name, pid: watch.pid, exitCode, signal, observed: watch.own }, 'module exited');
    watch.finish();
    for (const listener of [...this.#listeners]) {
      try {
        listener(name, exitCode);
      } catch (err) {
        this.#logger.error(
          { module: name, err: errorMessage(err), code: 'EXIT_LISTENER_FAILED' },
          'exit listener failed',
        );
      }
    }
  }

  async #spawn(record: InstanceRecord): Promise<ModuleInstance> {
    const name = record.name;
    const definition = record.module;
    const user = await resolveModuleUser(definition.process.user, this.#moduleUser);
    if (definition.process.user !== undefined && user.uid === null && definition.process.user !== user.name) {
      this.#logger.warn(
        { module: name, user: definition.process.user, code: 'MODULE_USER_IGNORED' },
        'the agent is not root: the module runs as the agent user',
      );
    }
    const moduleDir = this.#moduleDir(name);
    const dataDir = join(moduleDir, 'data');
    await mkdir(moduleDir, { recursive: true, mode: 0o711 });
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (user.uid !== null && user.gid !== null) await chown(dataDir, user.uid, user.gid);
    await mkdir(logsDir(moduleDir), { recursive: true, mode: 0o700 });

    const cwd = this.#workingDir(record);
    const env = this.#environment(name, definition, user);
    const command = await resolveCommand(definition.process.command, cwd, record.artifactDir, env.PATH ?? DEFAULT_PATH);
    if (!command) {
      throw new DriverError(
        'MODULE_COMMAND_NOT_FOUND',
        `module ${name}: command "${definition.process.command}" not found (relative to ${cwd}, in its artifact or on PATH)`,
      );
    }
    const limits = resourceLimits(definition.limits);
    for (const warning of limits.warnings) {
      this.#logger.warn({ module: name, code: 'MODULE_LIMIT_NOT_APPLIED' }, warning);
    }
    const argv = [...limits.prefix, command, ...(definition.process.args ?? [])];
    const [file, ...args] = argv as [string, ...string[]];

    // The token goes to disk before the process exists: whenever an agent dies from here on, the next one finds the
    // process (if any) by it rather than starting a second instance.
    const token = randomBytes(16).toString('hex');
    this.#spawning.set(name, token);
    try {
      return await this.#spawnWithToken(record, token, { file, args, cwd, env, user, warnings: limits.warnings });
    } finally {
      if (this.#spawning.get(name) === token) this.#spawning.delete(name);
    }
  }

  async #spawnWithToken(record: InstanceRecord, token: string, launch: Launch): Promise<ModuleInstance> {
    const name = record.name;
    const { file, args, cwd, env, user } = launch;
    const moduleDir = this.#moduleDir(name);
    let before: InstanceRecord | null = null;
    await this.#update(name, (current) => {
      before = current;
      return {
        ...(current ?? record),
        artifactDir: record.artifactDir,
        instanceToken: token,
        ...NOT_STARTED,
        exitNote: null,
      };
    });
    const restore = async () => {
      const previous: InstanceRecord | null = before;
      await this.#update(name, (current) => (current?.instanceToken === token ? previous : current));
    };

    let stdout: FileHandle;
    let stderr: FileHandle;
    try {
      stdout = await open(logFile(moduleDir, 'stdout'), 'a', 0o600);
    } catch (err) {
      await restore();
      throw err;
    }
    try {
      stderr = await open(logFile(moduleDir, 'stderr'), 'a', 0o600);
    } catch (err) {
      await stdout.close();
      await restore();
      throw err;
    }
    let child: ChildProcess;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    let onExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | null = null;
    try {
      child = spawn(file, args, {
        cwd,
        env: { ...env, [INSTANCE_ENV]: token },
        // Own session and process group: signals reach the module's children, and the module outlives the agent.
        detached: true,
        // Files, not pipes: a pipe would break (SIGPIPE) when the agent exits.
        stdio: ['ignore', stdout.fd, stderr.fd],
        ...(user.uid !== null && user.gid !== null ? { uid: user.uid, gid: user.gid } : {}),
      });
      // A quick module can exit before the awaits below end: catch its exit now, hand it over once watched.
      child.once('exit', (code, signal) => {
        exit = { code, signal };
        onExit?.(code, signal);
      });
      await new Promise<void>((resolveSpawn, rejectSpawn) => {
        child.once('spawn', resolveSpawn);
        child.once('error', rejectSpawn);
      });
    } catch (err) {
      await restore();
      const hint =
        (err as NodeJS.ErrnoException).code === 'EACCES' && user.uid !== null
          ? ` (can user ${user.name} run ${file}? it needs execute permission on it and on every parent dir)`
          : '';
      throw new DriverError('MODULE_START_FAILED', `module ${name}: ${errorMessage(err)}${hint}`, { cause: err });
    } finally {
      await stdout.close();
      await stderr.close();
    }
    const pid = child.pid as number;
    const startTime = readProcStat(pid)?.startTime ?? '';
    const watch = this.#watch(name, pid, startTime, true, launch.warnings);
    // The agent may exit while the module runs on.
    child.unref();
    if (this.#afterSpawnForTests) await this.#afterSpawnForTests(pid);
    const started = this.#update(name, (current) => ({
      ...(current ?? record),
      artifactDir: record.artifactDir,
      instanceToken: token,
      pid,
      pidStartTime: startTime,
      startedAt: new Date().toISOString(),
      exitCode: null,
      exitSignal: null,
      exitedAt: null,
      exited: false,
      exitNote: null,
    }));
    // Queued behind the write above, so an exit is recorded after the start.
    const seen = exit as { code: number | null; signal: NodeJS.Signals | null } | null;
    if (seen) void this.#exited(name, watch, seen.code, seen.signal);
    else onExit = (code, signal) => void this.#exited(name, watch, code, signal);
    const startedRecord = await started;
    this.#logger.info({ module: name, pid, user: user.name }, 'module started');
    // It may have exited already (the exit event was queued behind the write above).
    return this.#watches.get(name) === watch
      ? toInstance(startedRecord ?? record, 'running', watch)
      : toInstance((await readRecord(this.#modulesDir, name)) ?? record, 'exited');
  }

  /** The manifest's workingDir (relative to the artifact dir), else the artifact dir, else the data dir. */
  #workingDir(record: InstanceRecord): string {
    const base = record.artifactDir ?? join(this.#moduleDir(record.name), 'data');
    const wanted = record.module.process.workingDir;
    return wanted === undefined ? base : isAbsolute(wanted) ? wanted : resolve(base, wanted);
  }

  /**
   * A clean environment: a few of the agent's variables (never its credentials), the user's identity, Outpost's
   * variables and the manifest's env (values only; secret ones are never logged).
   */
  #environment(name: string, module: ProcessModule, user: ModuleUser): Record<string, string> {
    const env: Record<string, string> = { PATH: DEFAULT_PATH };
    for (const key of INHERITED_ENV) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    env.HOME = user.home;
    env.USER = user.name;
    env.LOGNAME = user.name;
    for (const [key, variable] of Object.entries(module.env ?? {})) env[key] = variable.value;
    env.OUTPOST_MODULE_NAME = name;
    env.OUTPOST_DEVICE_ID = this.#deviceId;
    env.OUTPOST_MODULE_DATA_DIR = join(this.#moduleDir(name), 'data');
    return env;
  }

  async #rotateLogs(): Promise<void> {
    if (this.#rotating) return;
    this.#rotating = true;
    try {
      for (const name of this.#watches.keys()) {
        try {
          await rotateIfNeeded(this.#moduleDir(name), this.#logMaxBytes, this.#logMaxFiles);
        } catch (err) {
          this.#logger.warn(
            { module: name, err: errorMessage(err), code: 'LOG_ROTATION_FAILED' },
            'log rotation failed',
          );
        }
      }
    } finally {
      this.#rotating = false;
    }
  }
}

function asProcessModule(name: string, module: Module): ProcessModule {
  if (module.type !== 'process') {
    throw new DriverError('MODULE_TYPE_MISMATCH', `module ${name} is a ${module.type} module, not a process module`);
  }
  return module;
}

function toInstance(record: InstanceRecord, state: ModuleInstance['state'], watch?: Watch): ModuleInstance {
  const notes = [...(watch?.warnings ?? [])];
  if (watch && !watch.own) notes.push(ADOPTED_NOTE);
  if (state === 'exited' && record.exitNote) notes.push(record.exitNote);
  return {
    name: record.name,
    type: 'process',
    specHash: record.specHash,
    state,
    exitCode: state === 'running' ? null : record.exitCode,
    startedAt: record.startedAt,
    exitedAt: state === 'running' ? null : record.exitedAt,
    runtimeId: record.pid === null ? '' : String(record.pid),
    ...(notes.length > 0 ? { statusDescription: notes.join('; ') } : {}),
  };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The command as an absolute path: relative to the working dir when it has a '/', else in the artifact or on PATH. */
async function resolveCommand(
  command: string,
  cwd: string,
  artifactDir: string | null,
  path: string,
): Promise<string | null> {
  const candidates = command.includes('/')
    ? [resolve(cwd, command)]
    : [
        ...(artifactDir ? [join(artifactDir, command)] : []),
        ...path
          .split(delimiter)
          .filter(Boolean)
          .map((dir) => join(dir, command)),
      ];
  for (const candidate of candidates) {
    try {
      await access(candidate, fsConstants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}
