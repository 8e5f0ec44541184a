import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { type NatsServerHandle, spawnProcess, startNatsServer, waitFor } from '@outpost/testing';
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
});
