import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_PATH } from './helpers.js';

const SRC_DIR = new URL('../src/', import.meta.url).pathname;

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * The process-level tests run dist/cli.js (turbo builds it before `test`). Running them against a missing or stale
 * build would test old code, so refuse with the fix instead.
 */
export default function checkBuild(): void {
  let builtAt: number;
  try {
    builtAt = statSync(CLI_PATH).mtimeMs;
  } catch {
    throw new Error(
      `${CLI_PATH} is missing: run \`pnpm --filter @outpost/edge-agent build\` (or \`pnpm test\` at the root)`,
    );
  }
  if (newestMtimeMs(SRC_DIR) > builtAt) {
    throw new Error(`${CLI_PATH} is older than src/: run \`pnpm --filter @outpost/edge-agent build\` first`);
  }
}
