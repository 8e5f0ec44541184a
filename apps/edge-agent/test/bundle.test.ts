import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import {
  type ContainerEngineHandle,
  isAlive,
  killByPid,
  type NatsServerHandle,
  spawnProcess,
  startContainerEngine,
  startNatsServer,
  waitFor,
} from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordDevice, uniqueDeviceId, waitForLog, writeConfig } from './helpers.js';

/**
 * The single-file agent a device installs (scripts/bundle.mjs, run by `pnpm build`): copied ALONE into an empty dir
 * with no node_modules anywhere above it, it must start, connect and say hello. Anything left out of the bundle
 * (a workspace package, an npm dependency, a file read next to the sources) fails here, not on a device.
 */
const BUNDLE_PATH = new URL('../dist/outpost-agent.mjs', import.meta.url).pathname;
const META_PATH = new URL('../dist/outpost-agent.meta.json', import.meta.url).pathname;
const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

interface BundleMeta {
  version: string;
  bytes: number;
  packages: string[];
  external: string[];
}

let nats: NatsServerHandle;
let cloud: NatsConnection;
let dir: string;
let installed: string;
let engine: ContainerEngineHandle | undefined;

/** Every directory from `dir` up to the filesystem root that holds a node_modules the bundle could resolve from. */
function nodeModulesAbove(start: string): string[] {
  const found: string[] = [];
  let current = start;
  for (;;) {
    if (existsSync(join(current, 'node_modules'))) found.push(join(current, 'node_modules'));
    if (current === parse(current).root) return found;
    current = dirname(current);
  }
}

/** Newest modification time of any file under `dir`. */
function newestMtimeMs(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newestMtimeMs(join(path, name))));
}

beforeAll(async () => {
  const srcDir = new URL('../src/', import.meta.url).pathname;
  if (!existsSync(BUNDLE_PATH) || statSync(BUNDLE_PATH).mtimeMs < newestMtimeMs(srcDir)) {
    throw new Error(`${BUNDLE_PATH} is missing or older than src/: run \`pnpm --filter @outpost/edge-agent build\``);
  }
  dir = mkdtempSync(join(tmpdir(), 'outpost-bundle-test-'));
  installed = join(dir, 'outpost-agent.mjs');
  copyFileSync(BUNDLE_PATH, installed);
  nats = await startNatsServer();
  cloud = await connect({ servers: nats.url });
});

afterAll(async () => {
  await engine?.stop();
  await cloud?.close();
  await nats?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the copied bundle to completion with a minimal environment (no NODE_PATH, no pnpm). */
async function runBundle(args: string[]): Promise<{ code: number | null; output: string }> {
  const proc = await spawnProcess(process.execPath, [installed, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  return { code: await proc.exited, output: proc.output() };
}

describe('the bundled agent (dist/outpost-agent.mjs)', () => {
  it('is one executable file with a node shebang, holding every dependency but optional native addons', () => {
    const meta = JSON.parse(readFileSync(META_PATH, 'utf8')) as BundleMeta;
    const text = readFileSync(BUNDLE_PATH, 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(BUNDLE_PATH).mode & 0o111).toBe(0o111);
    expect(meta.version).toBe(packageJson.version);
    expect(meta.bytes).toBe(statSync(BUNDLE_PATH).size);
    // Only what its users load in try/catch may stay out: ssh2's native cpu-features and crypto binding, debug's
    // supports-color. The runs below (no node_modules anywhere) prove the bundle loads without them.
    for (const external of meta.external) expect(external).toMatch(/^(cpu-features|supports-color)$|\.node$/);
    // Every runtime dependency the sources import is inside: the device has no node_modules.
    for (const dependency of ['nats', 'pino', 'zod', '@outpost/protocol', '@outpost/nats-identity']) {
      expect(meta.packages).toContain(dependency);
    }
    if (meta.packages.includes('dockerode')) expect(meta.packages).toContain('ssh2');
    // dockerode's BuildKit-only gRPC/protobuf stack is replaced by a stand-in (the agent never builds images).
    for (const buildOnly of ['@grpc/grpc-js', '@grpc/proto-loader', 'protobufjs']) {
      expect(meta.packages).not.toContain(buildOnly);
    }
    // The creds armour comes from the dependency-light entry: the JWT library stays out of the device.
    expect(meta.packages).not.toContain('@nats-io/jwt');
    process.stdout.write(
      `bundle size: ${(meta.bytes / 1024).toFixed(0)} KiB (${meta.packages.length} packages: ${meta.packages.join(', ')})\n`,
    );
  });

  it('runs alone in a dir with no node_modules above it: --version, --help, and directly through its shebang', async () => {
    expect(nodeModulesAbove(dir)).toEqual([]);
    const version = await runBundle(['--version']);
    expect(version).toEqual({ code: 0, output: `${packageJson.version}\n` });

    const help = await runBundle(['--help']);
    expect(help.code).toBe(0);
    expect(help.output).toContain('Usage: outpost-agent <command>');
    expect(help.output).toMatch(/^\s+run\s/m);
    expect(help.output).toMatch(/^\s+enroll\s/m);

    const direct = await spawnProcess(installed, ['--version'], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
    expect(await direct.exited).toBe(0);
    expect(direct.output()).toBe(`${packageJson.version}\n`);
  });

  it('connects to a real nats-server and says hello with its version', async () => {
    const deviceId = uniqueDeviceId('bundle');
    const recorder = recordDevice(cloud, deviceId);
    await cloud.flush();
    const configPath = writeConfig(dir, { deviceId, natsUrl: nats.url, stateDir: 'state', heartbeatIntervalMs: 200 });
    const agent = await spawnProcess(process.execPath, [installed, 'run', '--config', configPath], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
      readyWhen: /"msg":"agent started"/,
      readyTimeoutMs: 30_000,
    });
    try {
      await waitForLog(agent, 'connected');
      const [hello] = await waitFor(() => (recorder.hellos().length > 0 ? recorder.hellos() : null), {
        timeoutMs: 30_000,
        what: 'the bundled agent’s hello',
      });
      expect(hello?.agentVersion).toBe(packageJson.version);
      await waitFor(() => recorder.heartbeats().length >= 2 || null, { timeoutMs: 30_000, what: 'two heartbeats' });
      expect(await agent.stop('SIGTERM')).toBe(0);
      await waitFor(() => recorder.goodbyes().length === 1 || null, { timeoutMs: 30_000, what: 'a goodbye' });
    } finally {
      recorder.stop();
      await agent.kill();
    }
  });

  it('deploys a process and a container module through its own CLI, dockerode working without its native parts', async () => {
    // A real engine (private podman): the bundle's dockerode must list, create, start and pull through it.
    engine = await startContainerEngine();
    const deviceId = uniqueDeviceId('bundle-modules');
    const configPath = join(dir, 'modules.json');
    writeFileSync(
      configPath,
      JSON.stringify({
        deviceId,
        natsUrl: nats.url,
        stateDir: 'modules-state',
        allowUnsignedLocal: true,
        containers: { dockerHost: engine.dockerHost },
        // As root, modules run as an unprivileged user; the test does not create outpost-modules on this machine.
        ...(process.getuid?.() === 0 ? { moduleUser: 'nobody' } : {}),
      }),
    );
    const agent = await spawnProcess(process.execPath, [installed, 'run', '--config', configPath], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
      readyWhen: /"msg":"agent started"/,
      readyTimeoutMs: 30_000,
    });
    try {
      const manifestPath = join(dir, 'manifest.json');
      const deploy = async (modules: Record<string, unknown>) => {
        writeFileSync(manifestPath, JSON.stringify({ schemaVersion: '1.0', modules }));
        const result = await runBundle(['deploy', '--file', manifestPath, '--config', configPath, '--json']);
        return { ...result, outcome: JSON.parse(result.output) as { code: number; description: string } };
      };
      const modules = {
        ticker: { type: 'process', process: { command: '/bin/sh', args: ['-c', 'exec sleep 100000'] } },
        boxed: {
          type: 'container',
          container: { image: engine.image, pullPolicy: 'never', createOptions: { Cmd: ['sleep', '100000'] } },
        },
      };
      const applied = await deploy(modules);
      expect(applied.outcome).toMatchObject({ code: 200 });
      expect(applied.code).toBe(0);
      const list = await runBundle(['list', '--config', configPath, '--json']);
      expect(list.code).toBe(0);
      const listed = JSON.parse(list.output) as { modules: Array<{ name: string; type: string; status: string }> };
      expect(
        listed.modules
          .map(({ name, type, status }) => ({ name, type, status }))
          .sort((a, b) => a.name.localeCompare(b.name)),
      ).toEqual([
        { name: 'boxed', type: 'container', status: 'running' },
        { name: 'ticker', type: 'process', status: 'running' },
      ]);
      const running = await engine.podman(['ps', '--filter', 'status=running', '--format', '{{.Names}}']);
      expect(running.split('\n')).toContain('outpost-boxed');

      // A pull (dockerode's pull and docker-modem's progress stream) from a registry that does not exist fails with
      // the engine's reason, not with a module missing from the bundle.
      const pulled = await deploy({
        ...modules,
        remote: {
          type: 'container',
          container: { image: 'registry.outpost-test.invalid/sensor:1', pullPolicy: 'on-create' },
        },
      });
      expect(pulled.outcome.code).not.toBe(200);
      expect(pulled.output).toMatch(/registry\.outpost-test\.invalid/);
      expect(pulled.output).not.toMatch(/not in the outpost-agent bundle|Cannot find module/);

      // An empty deployment removes both (modules outlive the agent by design, so they go this way).
      expect((await deploy({})).outcome).toMatchObject({ code: 200 });
      expect(await engine.podman(['ps', '--all', '--format', '{{.Names}}'])).not.toContain('outpost-boxed');
    } finally {
      await agent.stop('SIGTERM');
      // If the test failed before the empty deployment, its process module still runs: end it by its recorded pid.
      const record = join(dir, 'modules-state', 'modules', 'ticker', 'instance.json');
      const pid = existsSync(record) ? (JSON.parse(readFileSync(record, 'utf8')) as { pid: number | null }).pid : null;
      if (pid !== null && isAlive(pid)) killByPid(pid, 'SIGKILL');
    }
  }, 240_000);
});
