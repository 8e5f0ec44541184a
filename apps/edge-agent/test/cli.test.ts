import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDirs, runCli, writeConfig } from './helpers.js';

afterAll(removeTempDirs);

const packageVersion = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
// Never contacted: these runs all stop before connecting.
const valid = { deviceId: 'dev-01', natsUrl: 'nats://127.0.0.1:1', stateDir: 'state' };

describe('outpost-agent CLI', () => {
  it('prints its version', async () => {
    const { code, output } = await runCli(['--version']);
    expect(code).toBe(0);
    expect(output.trim()).toBe(packageVersion);
  });

  it('prints usage on --help', async () => {
    const { code, output } = await runCli(['--help']);
    expect(code).toBe(0);
    expect(output).toMatch(/Usage: outpost-agent <command>/);
    expect(output).toMatch(/run\s+run the agent/);
  });

  it('prints the run usage on run --help', async () => {
    const { code, output } = await runCli(['run', '--help']);
    expect(code).toBe(0);
    expect(output).toMatch(/Usage: outpost-agent run --config <file>/);
  });

  it('refuses an unknown command with the usage and exit code 2', async () => {
    const { code, output } = await runCli(['launch']);
    expect(code).toBe(2);
    expect(output).toMatch(/unknown command "launch"/);
    expect(output).toMatch(/Usage: outpost-agent <command>/);
  });

  it('refuses a missing command and unknown options with exit code 2', async () => {
    expect(await runCli([])).toMatchObject({ code: 2, output: expect.stringMatching(/a command is required/) });
    expect(await runCli(['run', '--cfg', 'x'])).toMatchObject({
      code: 2,
      output: expect.stringMatching(/Unknown option '--cfg'/),
    });
    expect(await runCli(['run'])).toMatchObject({
      code: 2,
      output: expect.stringMatching(/--config <file> is required/),
    });
  });

  describe('run with a bad config exits 2 naming the file and the problem', () => {
    it('missing file', async () => {
      const path = join(makeTempDir(), 'nope.json');
      const { code, output } = await runCli(['run', '--config', path]);
      expect(code).toBe(2);
      expect(output).toContain(`config ${path}: file not found`);
    });

    it('invalid JSON', async () => {
      const path = writeConfig(makeTempDir(), '{ "deviceId": "dev-01", }');
      const { code, output } = await runCli(['run', '--config', path]);
      expect(code).toBe(2);
      expect(output).toContain(`config ${path}: not valid JSON`);
    });

    it('a device id with a dot', async () => {
      const path = writeConfig(makeTempDir(), { ...valid, deviceId: 'a.b' });
      const { code, output } = await runCli(['run', '--config', path]);
      expect(code).toBe(2);
      expect(output).toContain(`config ${path}: deviceId: must be 1-128 letters`);
    });

    it('an unknown key', async () => {
      const path = writeConfig(makeTempDir(), { ...valid, natsURL: 'nats://127.0.0.1:4222' });
      const { code, output } = await runCli(['run', '--config', path]);
      expect(code).toBe(2);
      expect(output).toContain(`config ${path}: natsURL: unknown key`);
    });

    it('a heartbeat interval under the minimum', async () => {
      const path = writeConfig(makeTempDir(), { ...valid, heartbeatIntervalMs: 10 });
      const { code, output } = await runCli(['run', '--config', path]);
      expect(code).toBe(2);
      expect(output).toContain(`config ${path}: heartbeatIntervalMs: must be ≥ 100`);
    });

    it('a relative path, resolved against the working directory', async () => {
      const dir = makeTempDir();
      writeConfig(dir, { ...valid, heartbeatIntervalMs: 10 });
      const { code, output } = await runCli(['run', '--config', 'agent.json'], dir);
      expect(code).toBe(2);
      expect(output).toContain(`config ${join(dir, 'agent.json')}: heartbeatIntervalMs`);
    });
  });

  it('exits 2 naming the state dir when it is not a directory', async () => {
    const dir = makeTempDir();
    writeFileSync(join(dir, 'state'), 'a file where the state dir should be');
    const path = writeConfig(dir, valid);
    const { code, output } = await runCli(['run', '--config', path]);
    expect(code).toBe(2);
    expect(output).toContain(`state dir ${join(dir, 'state')}: exists and is not a directory`);
  });
});
