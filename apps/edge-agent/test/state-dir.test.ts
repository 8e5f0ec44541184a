import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StartupError } from '../src/errors.js';
import { prepareStateDir } from '../src/state/index.js';
import { makeTempDir, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

describe('prepareStateDir', () => {
  it('creates a missing dir, with parents, listable only by its owner and traversable by modules', async () => {
    const path = join(makeTempDir(), 'var', 'lib', 'outpost');
    const info = await prepareStateDir(path);
    expect(info).toEqual({ path, created: true, accessibleToOthers: false });
    expect(statSync(path).mode & 0o777).toBe(0o711);
    expect(readdirSync(path)).toEqual([]);
  });

  it('makes an existing 0700 dir traversable (process modules reach their dirs) without calling it accessible', async () => {
    const path = join(makeTempDir(), 'state');
    mkdirSync(path, { mode: 0o700 });
    expect(await prepareStateDir(path)).toEqual({ path, created: false, accessibleToOthers: false });
    expect(statSync(path).mode & 0o777).toBe(0o711);
  });

  it('accepts an existing dir and says when others can read it', async () => {
    const path = join(makeTempDir(), 'state');
    mkdirSync(path, { mode: 0o755 });
    expect(await prepareStateDir(path)).toEqual({ path, created: false, accessibleToOthers: true });
  });

  it('refuses a path that is a file, naming it', async () => {
    const path = join(makeTempDir(), 'state');
    writeFileSync(path, 'not a dir');
    await expect(prepareStateDir(path)).rejects.toSatisfy(
      (err) =>
        err instanceof StartupError &&
        err.code === 'STATE_DIR_UNUSABLE' &&
        err.message === `state dir ${path}: exists and is not a directory`,
    );
  });

  it('refuses a dir that cannot be created, naming it and the reason', async () => {
    const file = join(makeTempDir(), 'file');
    writeFileSync(file, '');
    const path = join(file, 'state');
    await expect(prepareStateDir(path)).rejects.toThrow(`state dir ${path}: cannot`);
  });
});
