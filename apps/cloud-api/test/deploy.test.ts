import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort, type NatsServerHandle, spawnProcess, startNatsServer } from '@outpost/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const WORKSPACE_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
/** Installs in the workspace are serialized on this lock; a deploy reads the same store and lockfile. */
const PNPM_LOCK = '/tmp/outpost-pnpm.lock';

let workDir: string;
let nats: NatsServerHandle;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'outpost-cloud-api-deploy-'));
  nats = await startNatsServer();
});

afterAll(async () => {
  await nats?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('pnpm deploy', () => {
  it('produces a folder that runs with plain node, PGlite and NATS', { timeout: 300_000 }, async () => {
    const target = join(workDir, 'cloud-api');
    const deploy = spawnSync(
      'flock',
      [PNPM_LOCK, 'pnpm', '--filter', '@outpost/cloud-api', 'deploy', '--prod', target],
      { cwd: WORKSPACE_ROOT, encoding: 'utf8', timeout: 240_000 },
    );
    expect(deploy.status, `${deploy.stdout}\n${deploy.stderr}`).toBe(0);
    expect(existsSync(join(target, 'dist', 'main.js'))).toBe(true);
    expect(existsSync(join(target, 'drizzle', 'meta', '_journal.json'))).toBe(true);
    // --prod: no test tooling shipped.
    expect(existsSync(join(target, 'node_modules', 'vitest'))).toBe(false);

    const port = await getFreePort();
    const app = await spawnProcess(process.execPath, [join(target, 'dist', 'main.js')], {
      cwd: workDir,
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        NATS_URL: nats.url,
        DATABASE_URL: `pglite:${join(workDir, 'db')}`,
        OUTPOST_BOOTSTRAP_TOKEN_FILE: join(workDir, 'secrets', 'admin-token'),
      },
      readyWhen: /cloud-api listening on http:\/\/127\.0\.0\.1:\d+/,
      readyTimeoutMs: 120_000,
    });
    try {
      await app.waitForOutput(/connected to NATS/);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(existsSync(join(workDir, 'secrets', 'admin-token'))).toBe(true);
      expect(await app.stop('SIGTERM', 20_000)).toBe(0);
    } finally {
      await app.kill();
    }
  });
});
