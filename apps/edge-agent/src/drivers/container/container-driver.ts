import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { ContainerModule, Module } from '@outpost/manifest';
import type { LogLine } from '@outpost/protocol';
import Docker from 'dockerode';
import type { ContainerPolicy } from '../../config/schema.js';
import type { Logger } from '../../logger.js';
import {
  DriverError,
  type ExecResult,
  type LogQuery,
  type ModuleDriver,
  type ModuleInstance,
} from '../../runtime/contracts.js';
import { demuxLogs, engineTime, filterLines, LogDemuxer } from './logs.js';
import { containerPolicyErrors } from './policy.js';

export const LABELS = {
  managed: 'io.outpost.managed',
  module: 'io.outpost.module',
  specHash: 'io.outpost.spec-hash',
  deviceId: 'io.outpost.device-id',
  image: 'io.outpost.image',
} as const;

export const DEFAULT_DOCKER_HOST = 'unix:///var/run/docker.sock';
const EXEC_OUTPUT_MAX_CHARS = 4_096;
const IMAGE_RECORD_FILE = 'container-images.json';
/** The engine reports times that never happened as Go's zero time. */
const ZERO_TIME_PREFIX = '0001-01-01';

export interface ContainerDriverOptions {
  /** The Docker Engine API endpoint; null/undefined: DOCKER_HOST, then the default socket (see resolveDockerHost). */
  readonly dockerHost?: string | null;
  readonly policy: ContainerPolicy;
  readonly deviceId: string;
  readonly log: Logger;
  /**
   * Where the record of images Outpost pulled or ran is kept (`container-images.json`), so cleanup after an agent
   * restart still knows them and never touches images Outpost did not use. Without it the record lives in memory.
   */
  readonly stateDir?: string;
  /** How often container states are polled to notice exits (default 1000 ms). */
  readonly pollIntervalMs?: number;
}

/** config.containers.dockerHost, else DOCKER_HOST, else /var/run/docker.sock. */
export function resolveDockerHost(configured: string | null | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return configured ?? (env.DOCKER_HOST && env.DOCKER_HOST !== '' ? env.DOCKER_HOST : DEFAULT_DOCKER_HOST);
}

/** unix:///path, /path, tcp://host:port or http(s)://host:port → dockerode connection options. */
export function dockerConnection(dockerHost: string): Docker.DockerOptions {
  if (dockerHost.startsWith('/')) return { socketPath: dockerHost };
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  if (/^(tcp|http|https):\/\//.test(dockerHost)) {
    const url = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    return {
      host: url.hostname,
      port: url.port === '' ? (url.protocol === 'https:' ? 2376 : 2375) : Number(url.port),
      protocol: url.protocol === 'https:' ? 'https' : 'http',
    };
  }
  throw new DriverError(
    'ENGINE_ADDRESS_INVALID',
    `container engine address '${dockerHost}' is not unix:///path, tcp://host:port or https://host:port`,
  );
}

export function containerName(module: string): string {
  return `outpost-${module}`;
}

interface EngineError {
  statusCode?: number;
  message?: string;
  json?: { message?: string } | null;
}

function engineStatus(err: unknown): number | undefined {
  return (err as EngineError | null)?.statusCode;
}

function engineMessage(err: unknown): string {
  const e = err as EngineError | null;
  return (e?.json?.message ?? e?.message ?? String(err)).trim();
}

function knownTime(value: string | undefined): string | null {
  if (!value || value.startsWith(ZERO_TIME_PREFIX)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

function stateOf(status: string | undefined): ModuleInstance['state'] {
  if (status === 'running' || status === 'paused' || status === 'restarting') return 'running';
  if (status === 'created' || status === 'configured' || status === 'initialized') return 'created';
  return 'exited';
}

function instanceFrom(info: Docker.ContainerInspectInfo): ModuleInstance {
  const labels = info.Config.Labels ?? {};
  const state = stateOf(info.State.Status);
  const exitedAt = state === 'exited' ? knownTime(info.State.FinishedAt) : null;
  return {
    name: labels[LABELS.module] ?? info.Name.replace(/^\/?outpost-/, ''),
    type: 'container',
    specHash: labels[LABELS.specHash] ?? '',
    state,
    exitCode: state === 'exited' && exitedAt !== null ? info.State.ExitCode : null,
    startedAt: knownTime(info.State.StartedAt),
    exitedAt,
    runtimeId: info.Id,
  };
}

function asContainer(name: string, module: Module): ContainerModule {
  if (module.type !== 'container') {
    throw new DriverError('WRONG_MODULE_TYPE', `module ${name} is a ${module.type} module, not a container module`);
  }
  return module;
}

/**
 * Runs container modules through the Docker Engine API (Docker, Moby, or `podman system service`). Containers are
 * named `outpost-<module>` and labelled as Outpost's (module, specHash, deviceId), so a restarted agent finds and adopts
 * them: they keep running while the agent is down. The agent owns restarts, so the engine's restart policy is `no`.
 */
export class ContainerDriver implements ModuleDriver {
  readonly type = 'container' as const;
  readonly dockerHost: string;
  private readonly docker: Docker;
  private readonly log: Logger;
  private readonly policy: ContainerPolicy;
  private readonly deviceId: string;
  private readonly pollIntervalMs: number;
  private readonly recordPath: string | null;
  /** Image references Outpost pulled or ran containers from: the only ones cleanup may delete. */
  private readonly usedImages: Set<string>;
  private readonly listeners: ((name: string, exitCode: number | null) => void)[] = [];
  /** Container id → what the last poll (or our own start) saw, to notice each exit once. */
  private readonly watched = new Map<string, { name: string; running: boolean }>();
  private pollTimer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private firstPollDone = false;
  private engineDownLogged = false;
  private closed = false;

  constructor(options: ContainerDriverOptions) {
    this.dockerHost = resolveDockerHost(options.dockerHost ?? options.policy.dockerHost);
    this.docker = new Docker(dockerConnection(this.dockerHost));
    this.log = options.log.child({ driver: 'container' });
    this.policy = options.policy;
    this.deviceId = options.deviceId;
    this.pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.recordPath = options.stateDir === undefined ? null : join(options.stateDir, IMAGE_RECORD_FILE);
    this.usedImages = new Set(this.readRecord());
  }

  async prepare(name: string, module: Module): Promise<void> {
    const container = asContainer(name, module);
    this.checkPolicy(name, module);
    if (container.container.pullPolicy === 'on-create') await this.pull(name, container);
    else await this.requireImage(container.container.image);
  }

  async createAndStart(name: string, module: Module, specHash: string): Promise<ModuleInstance> {
    const container = asContainer(name, module);
    this.checkPolicy(name, module);
    const image = container.container.image;
    // prepare() pulled (on-create) or checked (never) it; pull here only when it has gone since.
    if (!(await this.imagePresent(image))) {
      if (container.container.pullPolicy === 'on-create') await this.pull(name, container);
      else await this.requireImage(image);
    }
    await this.removeContainer(name, 0);
    const body = this.createBody(name, container, specHash);
    const created = await this.engine(`create container for module ${name}`, () => this.docker.createContainer(body));
    this.rememberImage(image);
    await this.engine(`start module ${name}`, () => created.start());
    this.watched.set(created.id, { name, running: true });
    this.ensurePolling();
    this.log.info({ module: name, containerId: created.id, image }, 'container created and started');
    return instanceFrom(await this.engine(`inspect module ${name}`, () => created.inspect()));
  }

  async start(name: string): Promise<ModuleInstance> {
    const container = await this.find(name);
    if (container === null) throw this.notFound(name);
    try {
      await container.start();
    } catch (err) {
      // 304: already running, which is what was asked.
      if (engineStatus(err) !== 304) throw this.engineError(`start module ${name}`, err);
    }
    this.watched.set(container.id, { name, running: true });
    this.ensurePolling();
    return instanceFrom(await this.engine(`inspect module ${name}`, () => container.inspect()));
  }

  async stop(name: string, graceMs: number): Promise<void> {
    const container = await this.find(name);
    if (container === null) return;
    try {
      // The engine sends the image's stop signal (SIGTERM), then SIGKILL after t whole seconds.
      await container.stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) });
    } catch (err) {
      const status = engineStatus(err);
      if (status !== 304 && status !== 404) throw this.engineError(`stop module ${name}`, err);
    }
  }

  async remove(name: string, graceMs: number): Promise<void> {
    await this.removeContainer(name, graceMs);
  }

  async list(): Promise<ModuleInstance[]> {
    const summaries = await this.listOurs();
    const instances: ModuleInstance[] = [];
    for (const summary of summaries) {
      try {
        const instance = instanceFrom(await this.docker.getContainer(summary.Id).inspect());
        instances.push(instance);
        // Listing is how the runtime adopts instances: from here on their exits are reported.
        if (!this.watched.has(summary.Id)) {
          this.watched.set(summary.Id, { name: instance.name, running: instance.state === 'running' });
        }
      } catch (err) {
        if (engineStatus(err) !== 404) throw this.engineError('inspect containers', err);
      }
    }
    if (instances.length > 0) this.ensurePolling();
    return instances;
  }

  onExit(listener: (name: string, exitCode: number | null) => void): void {
    this.listeners.push(listener);
    this.ensurePolling();
  }

  async exec(name: string, argv: readonly string[], timeoutMs: number): Promise<ExecResult> {
    const container = await this.find(name);
    if (container === null) throw this.notFound(name);
    const exec = await this.engine(`exec in module ${name}`, () =>
      container.exec({ Cmd: [...argv], AttachStdout: true, AttachStderr: true }),
    );
    const stream = await this.engine(`exec in module ${name}`, () => exec.start({ hijack: true, stdin: false }));
    let output = '';
    const demuxer = new LogDemuxer({ tty: false, timestamps: false }, (line) => {
      if (output.length < EXEC_OUTPUT_MAX_CHARS) output += `${line.text}\n`;
    });
    const finished = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        // The engine has no API to kill an exec'd process; dropping the stream is all we can do.
        stream.destroy();
        resolve(false);
      }, timeoutMs);
      stream.on('data', (chunk: Buffer) => demuxer.push(chunk));
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      stream.once('end', done);
      stream.once('close', done);
      stream.once('error', done);
    });
    demuxer.end();
    output = output.slice(0, EXEC_OUTPUT_MAX_CHARS);
    if (!finished) return { exitCode: null, output, timedOut: true };
    // The exit code can lag the end of the stream by a moment.
    for (let attempt = 0; attempt < 50; attempt++) {
      const info = await this.engine(`inspect exec in module ${name}`, () => exec.inspect());
      if (!info.Running) return { exitCode: info.ExitCode ?? null, output, timedOut: false };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { exitCode: null, output, timedOut: false };
  }

  async probeHost(name: string): Promise<string> {
    const container = await this.find(name);
    if (container === null) throw this.notFound(name);
    const info = await this.engine(`inspect module ${name}`, () => container.inspect());
    if (info.HostConfig.NetworkMode === 'host') return '127.0.0.1';
    // On a bridge network the container's own address is reachable from the host (rootful Docker and podman), and
    // the probe port is the port the module listens on, published or not.
    for (const network of Object.values(info.NetworkSettings.Networks ?? {})) {
      if (network.IPAddress) return network.IPAddress;
    }
    return (info.NetworkSettings as { IPAddress?: string }).IPAddress || '127.0.0.1';
  }

  async logs(name: string, query: LogQuery): Promise<LogLine[]> {
    const container = await this.find(name);
    if (container === null) throw this.notFound(name);
    const info = await this.engine(`inspect module ${name}`, () => container.inspect());
    const since = engineTime(query.since, 'floor');
    const until = engineTime(query.until, 'ceil');
    const body = await this.engine(`read logs of module ${name}`, () =>
      container.logs({
        follow: false,
        stdout: true,
        stderr: true,
        timestamps: true,
        // With `contains` the tail applies to matching lines, so the engine must send them all.
        ...(query.tail !== undefined && query.contains === undefined ? { tail: query.tail } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
      }),
    );
    const lines = demuxLogs(Buffer.isBuffer(body) ? body : Buffer.from(String(body)), {
      tty: info.Config.Tty === true,
      timestamps: true,
    });
    return filterLines(lines, query);
  }

  async *followLogs(name: string, signal: AbortSignal): AsyncIterable<LogLine> {
    const container = await this.find(name);
    if (container === null) throw this.notFound(name);
    const info = await this.engine(`inspect module ${name}`, () => container.inspect());
    const stream = (await this.engine(`follow logs of module ${name}`, () =>
      container.logs({ follow: true, stdout: true, stderr: true, timestamps: true, tail: 0 }),
    )) as unknown as Readable;
    const queue: LogLine[] = [];
    let ended = false;
    let wake: (() => void) | null = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    const demuxer = new LogDemuxer({ tty: info.Config.Tty === true, timestamps: true }, (line) => {
      queue.push(line);
      notify();
    });
    const finish = () => {
      if (ended) return;
      ended = true;
      demuxer.end();
      notify();
    };
    stream.on('data', (chunk: Buffer) => demuxer.push(chunk));
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
    const onAbort = () => {
      stream.destroy();
      finish();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      for (;;) {
        const line = queue.shift();
        if (line !== undefined) {
          if (signal.aborted) return;
          yield line;
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      stream.destroy();
    }
  }

  async cleanup(keep: ReadonlyMap<string, Module>): Promise<void> {
    const inUse = new Set<string>();
    for (const module of keep.values()) if (module.type === 'container') inUse.add(module.container.image);
    for (const summary of await this.listOurs()) inUse.add(summary.Labels[LABELS.image] ?? summary.Image);
    // Compare by image id too: two spellings of one reference, or two tags of one image, must not untag a kept one.
    const keptIds = new Set<string>();
    for (const ref of inUse) {
      const id = await this.imageId(ref);
      if (id !== null) keptIds.add(id);
    }
    for (const ref of [...this.usedImages]) {
      if (inUse.has(ref)) continue;
      const id = await this.imageId(ref);
      if (id === null) {
        this.forgetImage(ref);
        continue;
      }
      if (keptIds.has(id)) continue;
      try {
        await this.docker.getImage(ref).remove();
        this.forgetImage(ref);
        this.log.info({ image: ref }, 'removed an image no module uses');
      } catch (err) {
        const status = engineStatus(err);
        if (status === 404) this.forgetImage(ref);
        // 409: a container Outpost does not manage uses it; leave it and try again at the next cleanup.
        else this.log.warn({ code: 'IMAGE_CLEANUP_FAILED', image: ref, err: engineMessage(err) }, 'image not removed');
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    await this.polling;
  }

  // --- containers ---------------------------------------------------------------------------------------------------

  private createBody(name: string, module: ContainerModule, specHash: string): Docker.ContainerCreateOptions {
    const options = (module.container.createOptions ?? {}) as Docker.ContainerCreateOptions;
    // Manifest env wins over Env in createOptions: it is the field the deployment documents for environment.
    const env = new Map<string, string>();
    for (const entry of options.Env ?? []) {
      const eq = entry.indexOf('=');
      env.set(eq < 0 ? entry : entry.slice(0, eq), eq < 0 ? '' : entry.slice(eq + 1));
    }
    for (const [key, variable] of Object.entries(module.env ?? {})) env.set(key, variable.value);
    const hostConfig: Docker.HostConfig = { ...(options.HostConfig ?? {}) };
    const limits = module.limits;
    if (limits?.memoryBytes !== undefined && hostConfig.Memory === undefined) hostConfig.Memory = limits.memoryBytes;
    if (limits?.cpus !== undefined && hostConfig.NanoCpus === undefined) {
      hostConfig.NanoCpus = Math.round(limits.cpus * 1e9);
    }
    if (limits?.pids !== undefined && hostConfig.PidsLimit === undefined) hostConfig.PidsLimit = limits.pids;
    if (hostConfig.RestartPolicy !== undefined && hostConfig.RestartPolicy.Name !== 'no') {
      this.log.warn(
        { code: 'ENGINE_RESTART_POLICY_IGNORED', module: name },
        "createOptions.HostConfig.RestartPolicy ignored: the module's restartPolicy decides restarts",
      );
    }
    hostConfig.RestartPolicy = { Name: 'no' };
    return {
      ...options,
      name: containerName(name),
      Image: module.container.image,
      Env: [...env].map(([key, value]) => `${key}=${value}`),
      Labels: {
        ...(options.Labels ?? {}),
        [LABELS.managed]: 'true',
        [LABELS.module]: name,
        [LABELS.specHash]: specHash,
        [LABELS.deviceId]: this.deviceId,
        [LABELS.image]: module.container.image,
      },
      HostConfig: hostConfig,
    };
  }

  private listOurs(): Promise<Docker.ContainerInfo[]> {
    return this.engine('list containers', () =>
      this.docker.listContainers({
        all: true,
        filters: { label: [`${LABELS.managed}=true`, `${LABELS.deviceId}=${this.deviceId}`] },
      }),
    );
  }

  private async find(name: string): Promise<Docker.Container | null> {
    const container = this.docker.getContainer(containerName(name));
    try {
      const info = await container.inspect();
      if (info.Config.Labels?.[LABELS.managed] !== 'true') {
        throw new DriverError(
          'CONTAINER_NOT_OURS',
          `a container named ${containerName(name)} exists but was not created by Outpost; remove or rename it`,
        );
      }
      return this.docker.getContainer(info.Id);
    } catch (err) {
      if (err instanceof DriverError) throw err;
      if (engineStatus(err) === 404) return null;
      throw this.engineError(`inspect module ${name}`, err);
    }
  }

  private async removeContainer(name: string, graceMs: number): Promise<void> {
    const container = await this.find(name);
    if (container === null) return;
    if (graceMs > 0) await this.stop(name, graceMs);
    // Forget it before it goes, so its removal is not reported as an exit nobody asked about.
    this.watched.delete(container.id);
    try {
      await container.remove({ force: true });
    } catch (err) {
      const status = engineStatus(err);
      if (status !== 404 && status !== 409) throw this.engineError(`remove module ${name}`, err);
      // 409: removal already in progress.
    }
    this.log.info({ module: name, containerId: container.id }, 'container removed');
  }

  // --- images -------------------------------------------------------------------------------------------------------

  private async imageId(ref: string): Promise<string | null> {
    try {
      return (await this.docker.getImage(ref).inspect()).Id;
    } catch (err) {
      if (engineStatus(err) === 404) return null;
      throw this.engineError(`inspect image ${ref}`, err);
    }
  }

  private async imagePresent(ref: string): Promise<boolean> {
    return (await this.imageId(ref)) !== null;
  }

  private async requireImage(ref: string): Promise<void> {
    if (!(await this.imagePresent(ref))) {
      throw new DriverError(
        'IMAGE_NOT_FOUND',
        `image ${ref} is not on the device and pullPolicy is never: load it into the container engine first (docker/podman load or pull), or use pullPolicy on-create`,
      );
    }
  }

  private async pull(name: string, module: ContainerModule): Promise<void> {
    const image = module.container.image;
    const auth = await this.registryAuth(module);
    let failure: string | null = null;
    try {
      const stream = await this.docker.pull(image, auth === undefined ? {} : { authconfig: auth });
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(
          stream,
          (err: Error | null) => (err ? reject(err) : resolve()),
          (event: { error?: string; errorDetail?: { message?: string } }) => {
            // The engine reports a failed pull inside the progress stream, with a 200 status.
            if (event.error !== undefined) failure = event.errorDetail?.message ?? event.error;
          },
        );
      });
    } catch (err) {
      failure = engineMessage(err);
    }
    if (failure === null && !(await this.imagePresent(image)))
      failure = 'the engine reported no error but has no image';
    if (failure === null) {
      this.rememberImage(image);
      this.log.info({ module: name, image }, 'image pulled');
      return;
    }
    // Offline (or the registry is down): an image pulled earlier still runs the module.
    if (await this.imagePresent(image)) {
      this.log.warn(
        { code: 'IMAGE_PULL_FAILED', module: name, image, reason: failure },
        'pull failed, using the image on the device',
      );
      return;
    }
    throw new DriverError('IMAGE_PULL_FAILED', `pulling image ${image} failed: ${failure}`);
  }

  private async registryAuth(module: ContainerModule): Promise<Docker.AuthConfig | undefined> {
    const ref = module.container.registryCredentialsRef;
    if (ref === undefined) return undefined;
    const credentials = this.policy.registryCredentials[ref];
    if (credentials === undefined) {
      throw new DriverError(
        'REGISTRY_CREDENTIALS_NOT_FOUND',
        `registry credentials '${ref}' are not configured on this device (containers.registryCredentials)`,
      );
    }
    let password: string;
    try {
      password = (await readFile(credentials.passwordFile, 'utf8')).trim();
    } catch (err) {
      throw new DriverError(
        'REGISTRY_CREDENTIALS_UNREADABLE',
        `the password file of registry credentials '${ref}' (${credentials.passwordFile}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    return { username: credentials.username, password, serveraddress: credentials.serveraddress };
  }

  private readRecord(): string[] {
    if (this.recordPath === null) return [];
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.recordPath, 'utf8'));
      const images = (parsed as { images?: unknown } | null)?.images;
      return Array.isArray(images) ? images.filter((image): image is string => typeof image === 'string') : [];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn(
          { code: 'IMAGE_RECORD_UNREADABLE', path: this.recordPath, err: String(err) },
          'image record ignored',
        );
      }
      return [];
    }
  }

  private rememberImage(ref: string): void {
    if (this.usedImages.has(ref)) return;
    this.usedImages.add(ref);
    this.writeRecord();
  }

  private forgetImage(ref: string): void {
    if (this.usedImages.delete(ref)) this.writeRecord();
  }

  private writeRecord(): void {
    if (this.recordPath === null) return;
    // temp + rename: a crash leaves the old record or the new one, never half of one.
    mkdirSync(dirname(this.recordPath), { recursive: true });
    const temp = `${this.recordPath}.tmp`;
    writeFileSync(temp, `${JSON.stringify({ images: [...this.usedImages].sort() }, null, 2)}\n`, { mode: 0o600 });
    renameSync(temp, this.recordPath);
  }

  // --- exits --------------------------------------------------------------------------------------------------------

  private ensurePolling(): void {
    if (this.closed || this.pollTimer !== null || this.polling !== null) return;
    this.schedulePoll(0);
  }

  private schedulePoll(delayMs: number): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      this.polling = this.poll().finally(() => {
        this.polling = null;
        this.schedulePoll(this.pollIntervalMs);
      });
    }, delayMs);
    // Watching exits must not keep a finished process alive.
    this.pollTimer.unref();
  }

  /**
   * Polling instead of the events API: it needs no long-lived stream to re-establish after an engine restart, and it
   * sees exits that happened while nobody listened. Each exit is reported once, with the code from inspect.
   */
  private async poll(): Promise<void> {
    let summaries: Docker.ContainerInfo[];
    try {
      summaries = await this.listOurs();
      this.engineDownLogged = false;
    } catch (err) {
      if (!this.engineDownLogged) {
        this.log.warn(
          { code: 'ENGINE_UNAVAILABLE', dockerHost: this.dockerHost, err: String(err) },
          'cannot watch containers',
        );
        this.engineDownLogged = true;
      }
      return;
    }
    const seen = new Set<string>();
    for (const summary of summaries) {
      seen.add(summary.Id);
      const name = summary.Labels[LABELS.module] ?? summary.Names[0]?.replace(/^\/?outpost-/, '') ?? summary.Id;
      const running = stateOf(summary.State) === 'running';
      const known = this.watched.get(summary.Id);
      if (known === undefined) {
        // First sight (adoption after an agent restart): exits before now were not observed by us.
        this.watched.set(summary.Id, { name, running });
        continue;
      }
      if (known.running && !running) {
        known.running = false;
        let exitCode: number | null = null;
        try {
          const info = await this.docker.getContainer(summary.Id).inspect();
          if (stateOf(info.State.Status) === 'running') {
            known.running = true;
            continue;
          }
          exitCode = info.State.ExitCode;
        } catch (err) {
          if (engineStatus(err) !== 404) {
            known.running = true;
            continue;
          }
        }
        this.emitExit(name, exitCode);
      } else if (!known.running && running) {
        known.running = true;
      }
    }
    for (const [id, known] of this.watched) {
      if (seen.has(id)) continue;
      // Removed behind our back while running: an exit whose code nobody can know.
      this.watched.delete(id);
      if (known.running && this.firstPollDone) this.emitExit(known.name, null);
    }
    this.firstPollDone = true;
  }

  private emitExit(name: string, exitCode: number | null): void {
    this.log.info({ module: name, exitCode }, 'container exited');
    for (const listener of this.listeners) {
      try {
        listener(name, exitCode);
      } catch (err) {
        this.log.error({ code: 'EXIT_LISTENER_FAILED', module: name, err: String(err) }, 'exit listener threw');
      }
    }
  }

  // --- errors -------------------------------------------------------------------------------------------------------

  private checkPolicy(name: string, module: Module): void {
    const errors = containerPolicyErrors(name, module, this.policy);
    if (errors.length > 0) {
      throw new DriverError(
        'POLICY_REFUSED',
        `module ${name} refused by the device's container policy: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      );
    }
  }

  private notFound(name: string): DriverError {
    return new DriverError('NOT_FOUND', `no container for module ${name} (${containerName(name)})`);
  }

  private engineError(action: string, err: unknown): DriverError {
    if (err instanceof DriverError) return err;
    const status = engineStatus(err);
    if (status === undefined) {
      return new DriverError(
        'ENGINE_UNAVAILABLE',
        `cannot ${action}: the container engine at ${this.dockerHost} did not answer (${engineMessage(err)}); is docker or podman running there?`,
        { cause: err },
      );
    }
    return new DriverError('ENGINE_ERROR', `cannot ${action}: the engine answered ${status}: ${engineMessage(err)}`, {
      cause: err,
    });
  }

  private async engine<T>(action: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw this.engineError(action, err);
    }
  }
}
