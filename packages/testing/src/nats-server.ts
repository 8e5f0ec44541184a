import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort } from './ports.js';
import { type SpawnedProcess, spawnProcess } from './process.js';

export interface NatsServerOptions {
  /** Enable JetStream with a temp store dir (default false). */
  jetstream?: boolean;
  /** Extra nats-server config appended verbatim (accounts, leafnodes, mqtt, tls, ...). */
  config?: string;
  /** Use this port instead of a free one (e.g. to restart on the same port). */
  port?: number;
  /** Echo the server's log to stderr. */
  echo?: boolean;
}

export interface NatsServerHandle {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Temp dir holding the config file and the JetStream store. */
  readonly dir: string;
  readonly pid: number;
  /** The server's log so far. */
  output(): string;
  /** Graceful stop (SIGTERM), then the temp dir is removed. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); the temp dir stays so `restart()` recovers the JetStream store. */
  kill(): Promise<void>;
  /** Starts the server again on the same port, config and JetStream store (stops it first when running). */
  restart(): Promise<void>;
}

/** The nats-server binary: $NATS_SERVER_BIN, else the first on PATH. Throws how to install it when absent. */
export function natsServerBinary(): string {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  const found = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) {
    throw new Error(
      'nats-server not found on PATH: install it (Debian: apt-get install nats-server) or set NATS_SERVER_BIN',
    );
  }
  return path;
}

/** Starts a private nats-server on a free port, waits until it accepts clients, and cleans up on stop. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = natsServerBinary();
  const port = options.port ?? (await getFreePort());
  const dir = mkdtempSync(join(tmpdir(), 'outpost-nats-'));
  const configFile = join(dir, 'nats.conf');
  const lines = [
    `listen: "127.0.0.1:${port}"`,
    `server_name: "test-${port}"`,
    options.jetstream
      ? `jetstream { store_dir: "${join(dir, 'js')}", max_memory_store: 256MB, max_file_store: 2GB }`
      : '',
    options.config ?? '',
  ];
  writeFileSync(configFile, `${lines.filter(Boolean).join('\n')}\n`);

  let server: SupervisedNatsServer;
  try {
    server = await superviseNatsServer(binary, configFile, dir, options.echo);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    url: `nats://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    dir,
    get pid() {
      return server.pid;
    },
    output: server.output,
    stop: server.stop,
    kill: server.kill,
    restart: server.restart,
  };
}

/** The process side of a test nats-server: pid, log, and stop/kill/restart on the same config and store. */
export interface SupervisedNatsServer {
  readonly pid: number;
  output(): string;
  /** Graceful stop (SIGTERM), then `dir` is removed. */
  stop(): Promise<void>;
  /** SIGKILL (a crash); `dir` stays so `restart()` recovers the JetStream store. */
  kill(): Promise<void>;
  /** Starts the server again on the same config and store (stops it first when running). */
  restart(): Promise<void>;
}

/** Starts nats-server on a config file and waits until it accepts clients; shared by the plain and secure fixtures. */
export async function superviseNatsServer(
  binary: string,
  configFile: string,
  dir: string,
  echo?: boolean,
): Promise<SupervisedNatsServer> {
  let proc: SpawnedProcess;
  const launch = async () => {
    proc = await spawnProcess(binary, ['-c', configFile], {
      readyWhen: /Server is ready/,
      readyTimeoutMs: 30_000,
      echo,
    });
  };
  await launch();
  return {
    get pid() {
      return proc.pid;
    },
    output: () => proc.output(),
    async stop() {
      await proc.stop('SIGTERM', 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      await proc.kill();
    },
    async restart() {
      await proc.stop('SIGTERM', 10_000);
      await launch();
    },
  };
}
