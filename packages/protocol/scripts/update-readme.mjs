// Rewrites the generated tables in README.md from the built package (run through `pnpm readme`), then lets biome
// align them the way `pnpm lint` expects.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { normalizeTables, renderReadme } from '../dist/readme-tables.js';

const path = fileURLToPath(new URL('../README.md', import.meta.url));
const biome = fileURLToPath(new URL('../../../node_modules/.bin/biome', import.meta.url));
const before = readFileSync(path, 'utf8');
const after = renderReadme(before);
if (normalizeTables(after) === normalizeTables(before)) {
  console.log('README.md is up to date');
} else {
  writeFileSync(path, after);
  execFileSync(biome, ['format', '--write', path], { stdio: 'inherit' });
  console.log('README.md tables rewritten');
}
