import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeTables, renderReadme } from '../src/readme-tables.js';

describe('README', () => {
  it('holds the subject, message and error-code tables exactly as the code defines them', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    // On failure: `pnpm --filter @outpost/protocol readme` rewrites the tables.
    expect(normalizeTables(renderReadme(readme))).toBe(normalizeTables(readme));
  });

  it('ignores column alignment but not content', () => {
    const aligned = '| a   | bb |\n| --- | -- |\n| ccc | d  |';
    expect(normalizeTables(aligned)).toBe('| a | bb |\n| --- | --- |\n| ccc | d |');
    expect(normalizeTables('| a | b \\| c |')).toBe('| a | b \\| c |');
  });

  it('refuses a README whose markers are missing', () => {
    expect(() => renderReadme('# no tables')).toThrow(/subjects:start/);
  });
});
