import { readFileSync } from 'node:fs';

/*
 * The package.json next to `src/` (while developing) or `dist/` (built and deployed) is the one source of the agent's
 * version. It is read at runtime because tsc's rootDir keeps it out of the compiled tree.
 */
const packageJson: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

function versionOf(pkg: unknown): string {
  if (typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string') {
    return pkg.version;
  }
  throw new Error('@outpost/edge-agent package.json has no version');
}

export const AGENT_VERSION = versionOf(packageJson);
