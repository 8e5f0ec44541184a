import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ContainerEngineHandle,
  getFreePort,
  type SecureNatsServerHandle,
  spawnProcess,
  startContainerEngine,
  startSecureNatsServer,
  waitFor,
} from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListResult } from '../src/control/index.js';
import { CLI_PATH, makeTempDir, removeTempDirs, runCli, uniqueDeviceId, writeConfig } from './helpers.js';

/**
 * `outpost-agent check` against a real secure nats-server (operator mode, TLS), real device credentials and a real
 * container engine (podman's Docker API service). No agent runs: check works without one.
 */
let secure: SecureNatsServerHandle;
let otherPki: SecureNatsServerHandle;
let engine: ContainerEngineHandle;

beforeAll(async () => {
  [secure, otherPki, engine] = await Promise.all([
    startSecureNatsServer(),
    startSecureNatsServer(), // only for its CA: one that did not issue `secure`'s certificate
    startContainerEngine(),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([secure?.stop(), otherPki?.stop(), engine?.stop()]);
  removeTempDirs();
});

interface Setup {
  readonly dir: string;
  readonly configPath: string;
}

/** An enrolled-looking device dir: state dir 0711 (as the agent makes it), creds 0600, the CA, a config naming them. */
async function deviceDir(
  options: { expiresInSecs?: number; config?: Record<string, unknown>; caFile?: string } = {},
): Promise<Setup> {
  const deviceId = uniqueDeviceId('check');
  const dir = makeTempDir();
  mkdirSync(join(dir, 'state'), { mode: 0o711 });
  const creds = await secure.mintDeviceCreds(deviceId, { expiresInSecs: options.expiresInSecs ?? 30 * 86_400 });
  writeFileSync(join(dir, 'device.creds'), readFileSync(creds.credsFile), { mode: 0o600 });
  writeFileSync(join(dir, 'ca.pem'), readFileSync(options.caFile ?? secure.caFile));
  const configPath = writeConfig(dir, {
    deviceId,
    natsUrl: secure.url,
    stateDir: 'state',
    credsFile: 'device.creds',
    caFile: 'ca.pem',
    containers: { dockerHost: engine.dockerHost },
    ...options.config,
  });
  return { dir, configPath };
}

interface Line {
  readonly level: string;
  readonly check: string;
  readonly detail: string;
  readonly hint: string | undefined;
}

/** Parses the human output: `level check: detail` lines, each optionally followed by an indented `fix:` line. */
function parseLines(output: string): Line[] {
  const lines: Line[] = [];
  for (const raw of output.split('\n')) {
    const fix = /^\s+fix: (.*)$/.exec(raw);
    if (fix && lines.length > 0) {
      const last = lines.pop() as Line;
      lines.push({ ...last, hint: fix[1] });
      continue;
    }
    const match = /^(ok|warn|fail)\s+(.+?): (.*)$/.exec(raw);
    if (match)
      lines.push({ level: match[1] as string, check: match[2] as string, detail: match[3] as string, hint: undefined });
  }
  return lines;
}

async function check(configPath: string, ...extra: string[]) {
  const { code, output } = await runCli(['check', '--config', configPath, '--timeout', '5000', ...extra]);
  return { code, output, lines: parseLines(output) };
}

function line(lines: Line[], name: string | RegExp): Line {
  const found = lines.find((l) => (typeof name === 'string' ? l.check === name : name.test(l.check)));
  if (!found) throw new Error(`no "${name}" line in:\n${lines.map((l) => `${l.level} ${l.check}`).join('\n')}`);
  return found;
}

describe('outpost-agent check', () => {
  it('reports every check ok for an enrolled device with a reachable cloud and engine, and exits 0', async () => {
    const { configPath } = await deviceDir();
    const { code, output, lines } = await check(configPath);
    expect(lines.map((l) => l.check)).toEqual([
      'config',
      'state-dir',
      'creds-file',
      'credential',
      `nats ${secure.url}`,
      'clock',
      'disk',
      'containers',
    ]);
    for (const l of lines) expect(l.level, `${l.check}: ${l.detail}\n${output}`).toBe('ok');
    expect(line(lines, /^nats /).detail).toMatch(/connected as U.*TLS verified against .*ca\.pem.*nats-server 2\./);
    expect(line(lines, 'clock').detail).toMatch(/credential's issue time.*certificate validity/);
    expect(line(lines, 'credential').detail).toMatch(/expires in (29|30)d/);
    expect(code).toBe(0);
  });

  it('--json gives the same checks as data', async () => {
    const { configPath } = await deviceDir();
    const { code, output } = await check(configPath, '--json');
    expect(code).toBe(0);
    const report = JSON.parse(output) as { ok: boolean; checks: Array<{ check: string; level: string }> };
    expect(report.ok).toBe(true);
    expect(report.checks).toHaveLength(8);
    expect(report.checks.every((c) => c.level === 'ok')).toBe(true);
  });

  it('fails on a missing creds file, saying to enrol', async () => {
    const { configPath } = await deviceDir({ config: { credsFile: 'missing.creds' } });
    const { code, lines } = await check(configPath);
    expect(code).toBe(1);
    const config = line(lines, 'config');
    expect(config.level).toBe('fail');
    expect(config.detail).toMatch(/credsFile: .*missing\.creds not found/);
    expect(config.hint).toMatch(/outpost-agent enroll/);
  });

  it('fails on an expired credential, and NATS refuses it', async () => {
    const { configPath } = await deviceDir({ expiresInSecs: 1 });
    // The JWT's exp is in whole seconds: wait (by polling the clock) until it has certainly passed.
    const expiresAt = Date.now() + 2_000;
    await waitFor(() => Date.now() > expiresAt, { what: 'the credential to expire' });
    const { code, lines } = await check(configPath);
    expect(code).toBe(1);
    const credential = line(lines, 'credential');
    expect(credential.level).toBe('fail');
    expect(credential.detail).toMatch(/expired .* ago/);
    expect(credential.hint).toMatch(/enrol the device again/);
    const nats = line(lines, /^nats /);
    expect(nats.level).toBe('fail');
    expect(nats.detail).toMatch(/credential refused/);
    expect(nats.hint).toMatch(/re-enrol/);
  });

  it('warns when the credential expires within 7 days', async () => {
    const { configPath } = await deviceDir({ expiresInSecs: 3 * 86_400 });
    const { code, lines } = await check(configPath);
    expect(code).toBe(0);
    const credential = line(lines, 'credential');
    expect(credential.level).toBe('warn');
    expect(credential.detail).toMatch(/expires in 2d23h|expires in 3d/);
    expect(credential.hint).toMatch(/CREDENTIAL_RENEW/);
  });

  it('fails when NATS is unreachable, naming the URL', async () => {
    const port = await getFreePort();
    const { configPath } = await deviceDir({ config: { natsUrl: `tls://127.0.0.1:${port}` } });
    const { code, lines } = await check(configPath);
    expect(code).toBe(1);
    const nats = line(lines, `nats tls://127.0.0.1:${port}`);
    expect(nats.level).toBe('fail');
    expect(nats.detail).toMatch(/unreachable: .*ECONNREFUSED/);
    expect(nats.hint).toMatch(/network/);
    // The credential is still a time source for the clock.
    expect(line(lines, 'clock').level).toBe('ok');
  });

  it('fails when the pinned CA did not issue the server certificate', async () => {
    const { configPath } = await deviceDir({ caFile: otherPki.caFile });
    const { code, lines } = await check(configPath);
    expect(code).toBe(1);
    const nats = line(lines, /^nats /);
    expect(nats.level).toBe('fail');
    expect(nats.detail).toMatch(/TLS certificate not valid: not issued by the pinned CA/);
    expect(nats.hint).toMatch(/caFile .*ca\.pem must be the CA/);
  });

  it('fails on a state dir or creds file others can read, with the chmod to fix it', async () => {
    const { dir, configPath } = await deviceDir();
    chmodSync(join(dir, 'state'), 0o755);
    chmodSync(join(dir, 'device.creds'), 0o644);
    const { code, lines } = await check(configPath);
    expect(code).toBe(1);
    expect(line(lines, 'state-dir')).toMatchObject({ level: 'fail', hint: expect.stringMatching(/^chmod 711 /) });
    expect(line(lines, 'creds-file')).toMatchObject({ level: 'fail', hint: expect.stringMatching(/^chmod 600 /) });
  });

  it('warns (not fails) on an unreachable container engine when no container module is deployed', async () => {
    const { dir, configPath } = await deviceDir({
      config: { containers: { dockerHost: `unix://${join(makeTempDir(), 'none.sock')}` } },
    });
    expect(dir).toBeTruthy();
    const { code, lines } = await check(configPath);
    expect(code).toBe(0);
    const containers = line(lines, 'containers');
    expect(containers.level).toBe('warn');
    expect(containers.detail).toMatch(/no container engine at unix:\/\/.*none\.sock.*no container module is deployed/);
    expect(containers.hint).toMatch(/containers\.dockerHost/);
  });

  it('fails on the container engine once it is gone while a container module is deployed (asking the running agent)', async () => {
    const ownEngine = await startContainerEngine();
    const { dir, configPath } = await deviceDir({
      config: { containers: { dockerHost: ownEngine.dockerHost }, allowUnsignedLocal: true },
    });
    const agent = await spawnProcess(process.execPath, [CLI_PATH, 'run', '--config', configPath], {
      readyWhen: /"msg":"control socket listening"/,
    });
    try {
      writeFileSync(
        join(dir, 'camera.json'),
        JSON.stringify({
          schemaVersion: '1.0',
          modules: {
            camera: {
              type: 'container',
              container: { image: ownEngine.image, pullPolicy: 'never', createOptions: { Cmd: ['sleep', '3600'] } },
            },
          },
        }),
      );
      const deploy = await runCli(['deploy', '--file', join(dir, 'camera.json'), '--config', configPath]);
      expect(deploy.code, deploy.output).toBe(0);
      await waitFor(
        async () => {
          const list = await runCli(['list', '--json', '--config', configPath]);
          return (JSON.parse(list.output) as ListResult).modules.some(
            (m) => m.name === 'camera' && m.status === 'running',
          );
        },
        { timeoutMs: 60_000, what: 'the camera container running' },
      );
      const healthy = await check(configPath);
      expect(line(healthy.lines, 'containers').level).toBe('ok');

      await ownEngine.stop();
      const { code, lines } = await check(configPath);
      expect(code).toBe(1);
      const containers = line(lines, 'containers');
      expect(containers.level).toBe('fail');
      expect(containers.detail).toMatch(/container modules are deployed: camera$/);
      expect(containers.hint).toMatch(/start the engine/);
    } finally {
      await agent.stop('SIGTERM', 15_000);
      await ownEngine.stop().catch(() => undefined);
    }
  });

  it('fails on an invalid config, naming the field, and exits 2 without --config', async () => {
    const dir = makeTempDir();
    const configPath = writeConfig(dir, { deviceId: 'x', stateDir: 'state', heartbeatIntervalMs: 5 });
    const { code, lines } = await check(configPath);
    expect(code).toBe(1);
    expect(lines.filter((l) => l.check === 'config').map((l) => l.detail)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/natsUrl: required/),
        expect.stringMatching(/heartbeatIntervalMs/),
      ]),
    );
    const usage = await runCli(['check']);
    expect(usage.code).toBe(2);
    expect(usage.output).toMatch(/--config <file> is required/);
  });
});
