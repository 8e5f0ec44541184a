import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFreePort, isAlive, spawnProcess, waitFor } from '@outpost/testing';
import { describe, expect, it, onTestFinished } from 'vitest';
import { repoRoot, signInToPortal } from './stack.js';

/** All descendants of a process, read from `ps` (the orchestrator puts each child in its own process group). */
function descendants(pid: number): number[] {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift();
    for (const [child, ppid] of table) {
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/**
 * SIGKILLs every process still carrying this test's OUTPOST_STATE_DIR in its environment. If the orchestrator itself
 * is killed (a timed-out test), its children live on in their own process groups; this finds them all the same.
 */
function killStackStartedWith(stateDir: string): void {
  for (const pid of processesOfStack(stateDir, [moduleMarker(stateDir)])) process.kill(pid, 'SIGKILL');
}

/** The agent config pnpm dev wrote: its modulesDir (set when running as root) says where the modules live. */
function modulesDirOf(stateDir: string): string {
  try {
    const config = JSON.parse(readFileSync(join(stateDir, 'agent', 'dev-device-01.json'), 'utf8')) as {
      modulesDir?: string;
    };
    return config.modulesDir ?? join(stateDir, 'agent', 'dev-device-01', 'modules');
  } catch {
    return join(stateDir, 'agent', 'dev-device-01', 'modules');
  }
}

/** The agent gives modules a clean environment naming their data dir inside the modules dir. */
function moduleMarker(stateDir: string): string {
  return `OUTPOST_MODULE_DATA_DIR=${modulesDirOf(stateDir)}/`;
}

/** Processes of the stack under `stateDir`: the orchestrator's children carry OUTPOST_STATE_DIR in their environment. */
function processesOfStack(stateDir: string, extraMarkers: readonly string[] = []): number[] {
  const markers = [`OUTPOST_STATE_DIR=${stateDir}\0`, ...extraMarkers];
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (markers.some((marker) => environ.includes(marker))) found.push(pid);
    } catch {
      // gone already, or not ours to read
    }
  }
  return found;
}

/** The demo modules' processes. */
function demoModuleProcesses(stateDir: string): number[] {
  const marker = moduleMarker(stateDir);
  return processesOfStack(stateDir, [marker]).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker);
    } catch {
      return false;
    }
  });
}

async function freePorts() {
  return {
    PORT: String(await getFreePort()),
    PORTAL_PORT: String(await getFreePort()),
    OUTPOST_NATS_PORT: String(await getFreePort()),
    OUTPOST_NATS_MONITOR_PORT: String(await getFreePort()),
  };
}

describe('pnpm dev (infra/scripts/dev.mjs)', () => {
  it('starts the whole stack, shows dev-device-01 online in the portal, and Ctrl-C leaves no process behind', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'outpost-dev-'));
    const ports = await freePorts();
    const env: NodeJS.ProcessEnv = { ...process.env, OUTPOST_STATE_DIR: stateDir, ...ports };
    delete env.NATS_URL;
    delete env.DATABASE_URL;
    onTestFinished(() => {
      const modulesDir = modulesDirOf(stateDir);
      killStackStartedWith(stateDir);
      if (!modulesDir.startsWith(stateDir)) rmSync(modulesDir, { recursive: true, force: true });
    });
    const dev = await spawnProcess(process.execPath, [join(repoRoot, 'infra/scripts/dev.mjs')], {
      cwd: repoRoot,
      env,
      readyWhen: /STACK READY/,
      readyTimeoutMs: 180_000,
    });
    const children = descendants(dev.pid);
    expect(children.length).toBeGreaterThanOrEqual(4);

    expect(dev.output()).toContain(`http://127.0.0.1:${ports.PORTAL_PORT}`);
    expect(statSync(join(stateDir, 'admin-token')).mode & 0o777).toBe(0o600);

    // NATS runs in operator mode with TLS; keys and creds are private to the user.
    expect(dev.output()).toContain(`tls://127.0.0.1:${ports.OUTPOST_NATS_PORT}`);
    const hubConfig = readFileSync(join(stateDir, 'nats', 'hub.conf'), 'utf8');
    expect(hubConfig).toMatch(/resolver \{\s+type: full/);
    expect(hubConfig).toContain('tls {');
    for (const dir of ['identity', 'pki']) {
      expect(statSync(join(stateDir, dir)).mode & 0o777, dir).toBe(0o700);
    }
    // The agent's state dir is traverse-only for others: modules running as another user reach their own dirs
    // inside it, but cannot list it, and its files (credentials) are the owner's alone.
    expect(statSync(join(stateDir, 'agent', 'dev-device-01')).mode & 0o777).toBe(0o711);
    for (const file of [
      'identity/operator.nk',
      'identity/account-signing.nk',
      'identity/cloud-api.creds',
      'identity/portal.creds',
      'pki/ca-key.pem',
      'agent/dev-device-01/device.creds',
      // Registered through the API and enrolled with `outpost-agent enroll`, as a real device joins.
      'agent/dev-device-01/device.nk',
      'agent/dev-device-01/enrollment.json',
    ]) {
      expect(statSync(join(stateDir, file)).mode & 0o777, file).toBe(0o600);
    }
    const agentConfig = JSON.parse(readFileSync(join(stateDir, 'agent', 'dev-device-01.json'), 'utf8'));
    expect(agentConfig).toMatchObject({ credsFile: expect.any(String), caFile: expect.any(String) });
    // No seed or JWT reaches the terminal.
    expect(dev.output()).not.toMatch(/\bS[UAO][A-Z2-7]{54}|eyJ[\w-]{20,}\.eyJ/);

    // The first admin's password: written for the owner only, printed once in the summary, never in a log line.
    const passwordFile = join(stateDir, 'admin-password');
    expect(statSync(passwordFile).mode & 0o777).toBe(0o600);
    const password = readFileSync(passwordFile, 'utf8').trim();
    expect(dev.output()).toContain(`sign in     user admin, password ${password}`);
    expect(dev.output().split(password).length - 1).toBe(1);

    const portalUrl = `http://127.0.0.1:${ports.PORTAL_PORT}`;
    const unsigned = await fetch(`${portalUrl}/devices`, { redirect: 'manual' });
    expect(unsigned.status).toBe(307);
    expect(unsigned.headers.get('location')).toContain('/login');
    const cookie = await signInToPortal(portalUrl, 'admin', password);
    await waitFor(
      async () => {
        const html = await (await fetch(`${portalUrl}/devices`, { headers: { cookie } })).text();
        return html.includes('dev-device-01') && /online/i.test(html);
      },
      { timeoutMs: 60_000, what: 'the portal to list dev-device-01 online' },
    );

    // The demo deployment: two process modules running on dev-device-01, as the API reports them.
    expect(dev.output()).toContain('deployed the demo modules (sensor, status-page) to dev-device-01');
    const adminToken = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
    const apiUrl = `http://127.0.0.1:${ports.PORT}`;
    await waitFor(
      async () => {
        const response = await fetch(`${apiUrl}/api/v1/devices/dev-device-01`, {
          headers: { authorization: `Bearer ${adminToken}` },
        });
        const device = (await response.json()) as {
          reported?: { modules?: Record<string, { status: string }> } | null;
        };
        const modules = device.reported?.modules ?? {};
        return modules.sensor?.status === 'running' && modules['status-page']?.status === 'running';
      },
      { timeoutMs: 90_000, what: 'dev-device-01 to report the demo modules sensor and status-page running' },
    );
    const modulePids = demoModuleProcesses(stateDir);
    expect(modulePids).toHaveLength(2);

    expect(await dev.stop('SIGINT', 60_000)).toBe(0);
    const everything = [...children, ...modulePids];
    await waitFor(() => everything.every((pid) => !isAlive(pid)), {
      timeoutMs: 30_000,
      what: `every child of pnpm dev and every demo module to exit (left: ${everything.filter(isAlive).join(', ')})`,
    });
  });

  it('exits non-zero saying how to install nats-server when there is none on PATH', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'outpost-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: bin,
      OUTPOST_STATE_DIR: mkdtempSync(join(tmpdir(), 'outpost-dev-')),
      ...(await freePorts()),
    };
    delete env.NATS_URL;
    delete env.NATS_SERVER_BIN;
    const dev = await spawnProcess(process.execPath, [join(repoRoot, 'infra/scripts/dev.mjs')], { cwd: repoRoot, env });
    expect(await dev.exited).not.toBe(0);
    expect(dev.output()).toMatch(/nats-server is not on PATH.*apt-get install nats-server/s);
  });
});
