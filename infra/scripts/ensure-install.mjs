#!/usr/bin/env node
// Runs `pnpm install` when node_modules is missing or older than the lockfile, so `pnpm dev` and `pnpm test` work on
// a fresh clone. pnpm copies the lockfile it installed from to node_modules/.pnpm/lock.yaml; equal means up to date.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const lockfile = join(root, 'pnpm-lock.yaml');
const installed = join(root, 'node_modules', '.pnpm', 'lock.yaml');

function upToDate() {
  if (!existsSync(installed) || !existsSync(lockfile)) return false;
  return readFileSync(installed, 'utf8') === readFileSync(lockfile, 'utf8');
}

if (!upToDate()) {
  console.log('[outpost] installing dependencies (pnpm install --frozen-lockfile)…');
  const result = spawnSync('pnpm', ['install', '--frozen-lockfile'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[outpost] pnpm install failed; see above');
    process.exit(result.status ?? 1);
  }
}
