import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createTestDatabase,
  type SecureNatsServerHandle,
  spawnProcess,
  startSecureNatsServer,
  type TestDatabase,
  waitFor,
} from '@outpost/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, startCloudApi } from './stack.js';

/**
 * infra/device/install.sh, run for real into a root dir (`--root`): the files, modes and unit a device gets, the
 * modules' system user created inside the root's own passwd, idempotent upgrades that keep state, and an enrolment
 * against the real cloud API whose token never appears on a command line.
 */
const INSTALL = join(repoRoot, 'infra/device/install.sh');
const BUNDLE = join(repoRoot, 'apps/edge-agent/dist/outpost-agent.mjs');
const isRoot = process.getuid?.() === 0;
const dirs: string[] = [];

function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `outpost-install-${label}-`));
  dirs.push(dir);
  return dir;
}

/** A root dir with the account files useradd needs, as a Debian system has them. */
function debianLikeRoot(): string {
  const root = tempDir('root');
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n', { mode: 0o640 });
  writeFileSync(join(root, 'etc/gshadow'), 'root:*::\n', { mode: 0o640 });
  mkdirSync(join(root, 'usr/sbin'), { recursive: true });
  writeFileSync(join(root, 'usr/sbin/nologin'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  return root;
}

function install(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync('sh', [INSTALL, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const mode = (path: string) => statSync(path).mode & 0o777;

afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('infra/device/install.sh', () => {
  it('is valid POSIX sh and bash', () => {
    expect(spawnSync('sh', ['-n', INSTALL]).status).toBe(0);
    expect(spawnSync('bash', ['-n', INSTALL]).status).toBe(0);
    const help = install(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--token-file <file>');
  });

  it('installs the bundle, wrapper, config, state dir, modules user and a systemd unit that keeps modules running', () => {
    if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`pnpm --filter @outpost/edge-agent build\``);
    const root = debianLikeRoot();
    const args = ['--bundle', BUNDLE, '--root', root, '--nats', 'nats://hub.example:4222', '--device-id', 'press-7'];
    const first = install([...args, ...(isRoot ? [] : ['--no-users'])]);
    expect(first.stderr).not.toMatch(/install\.sh:|useradd:/);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('systemd left alone');

    const agent = join(root, 'usr/local/lib/outpost/outpost-agent.mjs');
    expect(readFileSync(agent)).toEqual(readFileSync(BUNDLE));
    expect(mode(agent)).toBe(0o755);
    const wrapper = join(root, 'usr/local/bin/outpost-agent');
    expect(mode(wrapper)).toBe(0o755);
    expect(readFileSync(wrapper, 'utf8')).toContain('exec node /usr/local/lib/outpost/outpost-agent.mjs "$@"');
    const version = JSON.parse(readFileSync(join(repoRoot, 'apps/edge-agent/package.json'), 'utf8')).version;
    expect(execFileSync(process.execPath, [agent, '--version'], { encoding: 'utf8' })).toBe(`${version}\n`);

    expect(mode(join(root, 'var/lib/outpost'))).toBe(0o711);
    const config = join(root, 'etc/outpost/agent.json');
    expect(mode(config)).toBe(0o600);
    expect(JSON.parse(readFileSync(config, 'utf8'))).toEqual({
      deviceId: 'press-7',
      natsUrl: 'nats://hub.example:4222',
      stateDir: '/var/lib/outpost',
    });

    const unit = readFileSync(join(root, 'etc/systemd/system/outpost-agent.service'), 'utf8');
    expect(mode(join(root, 'etc/systemd/system/outpost-agent.service'))).toBe(0o644);
    expect(unit).toContain('ExecStart=/usr/local/bin/outpost-agent run --config /etc/outpost/agent.json');
    for (const line of ['Restart=always', 'KillMode=process', 'After=network-online.target', 'User=root']) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(unit).toContain('WantedBy=multi-user.target');
    // docs/install-device.md shows the unit: it must be the one installed (comments aside), so the docs cannot drift.
    const documented = readFileSync(join(repoRoot, 'docs/install-device.md'), 'utf8').match(
      /```ini\n([\s\S]*?)```/,
    )?.[1];
    expect(documented).toBe(
      unit
        .split('\n')
        .filter((line) => !line.startsWith('#'))
        .join('\n'),
    );

    if (isRoot) {
      const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8');
      const line = passwd.split('\n').find((entry) => entry.startsWith('outpost-modules:'));
      expect(line).toBeDefined();
      const [, , uid, , , home, shell] = (line ?? '').split(':');
      expect(Number(uid)).toBeLessThan(1000); // a system user
      expect(home).toBe('/nonexistent');
      expect(shell).toBe('/usr/sbin/nologin');
    } else {
      process.stdout.write('not root: the outpost-modules user was not created (--no-users)\n');
    }

    // Re-running with a new bundle upgrades it in place and keeps the config, state and the one user.
    const stateFile = join(root, 'var/lib/outpost/last-known-good.json');
    writeFileSync(stateFile, '{"kept":true}');
    writeFileSync(config, JSON.stringify({ deviceId: 'press-7', natsUrl: 'nats://other:4222', stateDir: '/x' }));
    const newer = join(tempDir('bundle'), 'outpost-agent.mjs');
    writeFileSync(newer, `${readFileSync(BUNDLE, 'utf8')}\n// a newer build\n`);
    const again = install(['--bundle', newer, '--root', root, ...(isRoot ? [] : ['--no-users'])]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`upgraded the agent to ${version}`);
    expect(readFileSync(agent, 'utf8')).toContain('// a newer build');
    expect(readFileSync(stateFile, 'utf8')).toBe('{"kept":true}');
    expect(JSON.parse(readFileSync(config, 'utf8')).natsUrl).toBe('nats://other:4222');
    expect(mode(config)).toBe(0o600);
    if (isRoot) {
      const users = readFileSync(join(root, 'etc/passwd'), 'utf8').match(/^outpost-modules:/gm) ?? [];
      expect(users).toHaveLength(1);
      expect(again.stdout).toContain('user outpost-modules exists');
    }

    // --uninstall removes the agent, wrapper and unit, and keeps the device's state and config.
    const removed = install(['--uninstall', '--root', root]);
    expect(removed.code).toBe(0);
    expect(existsSync(agent)).toBe(false);
    expect(existsSync(wrapper)).toBe(false);
    expect(existsSync(join(root, 'etc/systemd/system/outpost-agent.service'))).toBe(false);
    expect(readFileSync(stateFile, 'utf8')).toBe('{"kept":true}');
    expect(existsSync(config)).toBe(true);
  });

  it('refuses what it cannot install, with the fix', () => {
    const root = tempDir('bad');
    const missing = install(['--bundle', join(root, 'nope.mjs'), '--root', root]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no such file');
    const notAgent = join(root, 'not-agent.mjs');
    writeFileSync(notAgent, 'console.log(1)\n');
    expect(install(['--bundle', notAgent, '--root', root]).stderr).toContain('not the bundled agent');
    const tokenWithoutNats = join(root, 'token');
    writeFileSync(tokenWithoutNats, 'x');
    expect(install(['--bundle', BUNDLE, '--root', root, '--token-file', tokenWithoutNats]).stderr).toContain(
      '--token-file needs --nats',
    );
    expect(install(['--frobnicate']).stderr).toContain('unknown option: --frobnicate');
  });

  describe('enrolment through the real cloud API', () => {
    let nats: SecureNatsServerHandle | undefined;
    let db: TestDatabase | undefined;
    let api: Awaited<ReturnType<typeof startCloudApi>> | undefined;

    afterAll(async () => {
      await api?.proc.stop();
      await nats?.stop();
      await db?.drop();
    });

    it('enrols with a token read from a file (never on a command line), and the installed agent comes online', async () => {
      nats = await startSecureNatsServer();
      db = await createTestDatabase();
      api = await startCloudApi({
        natsUrl: nats.url,
        databaseUrl: db.url,
        env: {
          NATS_CREDS: nats.serviceCreds.cloudApi,
          NATS_CA: nats.caFile,
          OUTPOST_IDENTITY_DIR: nats.identity.dir,
          PRESENCE_FLUSH_INTERVAL_MS: '100',
          PRESENCE_SWEEP_INTERVAL_MS: '200',
        },
      });
      const deviceId = 'installed-01';
      const created = await fetch(`${api.url}/api/v1/devices`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: deviceId }),
      });
      expect(created.status).toBe(201);
      const token = ((await created.json()) as { enrollment: { token: string } }).enrollment.token;
      const tokenFile = join(tempDir('token'), 'token');
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });

      const root = debianLikeRoot();
      // Watch every command line while install.sh runs: the token must not be on any of them.
      const cmdlines = new Set<string>();
      const watcher = setInterval(() => {
        for (const line of execFileSync('ps', ['-eww', '-o', 'args'], { encoding: 'utf8' }).split('\n'))
          cmdlines.add(line);
      }, 50);
      const installer = await spawnProcess('sh', [
        INSTALL,
        '--bundle',
        BUNDLE,
        '--root',
        root,
        '--nats',
        nats.url,
        '--token-file',
        tokenFile,
        ...(isRoot ? [] : ['--no-users']),
      ]);
      const code = await installer.exited;
      clearInterval(watcher);
      expect(installer.output()).toContain(`enrolled ${deviceId}`);
      expect(code).toBe(0);
      expect(cmdlines.size).toBeGreaterThan(0);
      expect([...cmdlines].filter((line) => line.includes(token))).toEqual([]);
      expect(installer.output()).not.toContain(token);

      const state = join(root, 'var/lib/outpost');
      expect(mode(state)).toBe(0o711);
      expect(mode(join(state, 'device.creds'))).toBe(0o600);
      expect(mode(join(state, 'device.nk'))).toBe(0o600);
      const config = JSON.parse(readFileSync(join(root, 'etc/outpost/agent.json'), 'utf8')) as Record<string, string>;
      expect(mode(join(root, 'etc/outpost/agent.json'))).toBe(0o600);
      // Paths as the device will see them once the tree is its root.
      expect(config).toMatchObject({
        deviceId,
        natsUrl: nats.url,
        stateDir: '/var/lib/outpost',
        credsFile: '/var/lib/outpost/device.creds',
        caFile: '/var/lib/outpost/ca.pem',
      });

      // Re-running keeps the enrolment (the token is single use) and upgrades nothing else.
      const again = install(['--bundle', BUNDLE, '--root', root, '--nats', nats.url, '--token-file', tokenFile]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain('already enrolled');

      // The installed bundle runs with what enrolment wrote (paths mapped back into the root) and comes online.
      const runConfig = join(root, 'etc/outpost/agent-in-root.json');
      writeFileSync(
        runConfig,
        JSON.stringify({
          ...config,
          stateDir: join(root, config.stateDir ?? ''),
          credsFile: join(root, config.credsFile ?? ''),
          caFile: join(root, config.caFile ?? ''),
          heartbeatIntervalMs: 300,
        }),
      );
      const agent = await spawnProcess(
        process.execPath,
        [join(root, 'usr/local/lib/outpost/outpost-agent.mjs'), 'run', '--config', runConfig],
        { readyWhen: /"msg":"connected"/, readyTimeoutMs: 60_000 },
      );
      try {
        await waitFor(
          async () => {
            const res = await api?.get(`/api/v1/devices/${deviceId}`);
            return res?.status === 200 && (res.body as { status: string }).status === 'online';
          },
          { timeoutMs: 60_000, what: 'the installed agent to be online through the API' },
        );
      } finally {
        await agent.stop('SIGTERM');
      }
    });
  });
});
