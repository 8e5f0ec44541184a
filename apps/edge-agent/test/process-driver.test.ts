import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Module, ProcessModule } from '@outpost/manifest';
import { waitFor } from '@outpost/testing';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ProcessDriver, type ProcessDriverOptions } from '../src/drivers/process/index.js';
import { DriverError } from '../src/runtime/contracts.js';
import { makeTempDir, removeTempDirs } from './helpers.js';

const logger = pino({ level: 'silent' });
const drivers: ProcessDriver[] = [];
/** Modules started by a test, stopped afterwards so none outlives its test (they survive their driver on purpose). */
const started: Array<{ driver: ProcessDriver; name: string }> = [];

afterEach(async () => {
  for (const { driver, name } of started.splice(0)) await driver.remove(name, 2_000).catch(() => undefined);
  for (const driver of drivers.splice(0)) await driver.close();
});
afterAll(removeTempDirs);

/** A modules dir the `nobody` module user can traverse (mkdtemp makes 0700 dirs). */
function modulesDir(): string {
  const root = makeTempDir();
  chmodSync(root, 0o711);
  return join(root, 'modules');
}

function newDriver(dir: string, options: Partial<ProcessDriverOptions> = {}): ProcessDriver {
  const driver = new ProcessDriver({
    modulesDir: dir,
    deviceId: 'dev-process-1',
    moduleUser: 'nobody',
    logger,
    exitPollIntervalMs: 100,
    ...options,
  });
  drivers.push(driver);
  return driver;
}

/** A process module running `node -e script`. */
function nodeModule(script: string, extra: Record<string, unknown> = {}): Module {
  return ProcessModule.parse({
    type: 'process',
    process: { command: process.execPath, args: ['-e', script] },
    ...extra,
  });
}

async function startModule(driver: ProcessDriver, name: string, module: Module, specHash = 'hash-1') {
  started.push({ driver, name });
  return driver.createAndStart(name, module, specHash);
}

function exitsOf(driver: ProcessDriver): Array<{ name: string; exitCode: number | null }> {
  const exits: Array<{ name: string; exitCode: number | null }> = [];
  driver.onExit((name, exitCode) => exits.push({ name, exitCode }));
  return exits;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const forever = 'setInterval(() => {}, 1000)';

describe('ProcessDriver: lifecycle', () => {
  it('starts a module, lists it running, and stops it with SIGTERM recording the exit', async () => {
    const driver = newDriver(modulesDir());
    const exits = exitsOf(driver);
    const script = `process.on('SIGTERM', () => { console.log('got SIGTERM'); process.exit(3); }); console.log('up'); ${forever}`;
    const instance = await startModule(driver, 'svc', nodeModule(script), 'spec-a');
    expect(instance).toMatchObject({
      name: 'svc',
      type: 'process',
      specHash: 'spec-a',
      state: 'running',
      exitCode: null,
    });
    const pid = Number(instance.runtimeId);
    expect(isAlive(pid)).toBe(true);
    await waitFor(async () => (await driver.logs('svc', {})).some((line) => line.text === 'up'), { what: 'up' });

    const listed = await driver.list();
    expect(listed).toEqual([expect.objectContaining({ name: 'svc', state: 'running', runtimeId: String(pid) })]);

    await driver.stop('svc', 10_000);
    expect(isAlive(pid)).toBe(false);
    expect(exits).toEqual([{ name: 'svc', exitCode: 3 }]);
    const [after] = await driver.list();
    expect(after).toMatchObject({ state: 'exited', exitCode: 3 });
    expect(after?.exitedAt).not.toBeNull();
    expect((await driver.logs('svc', {})).map((l) => l.text)).toEqual(['up', 'got SIGTERM']);
  });

  it('kills a module that ignores SIGTERM once the grace period is over (exit 137)', async () => {
    const driver = newDriver(modulesDir());
    const exits = exitsOf(driver);
    const script = `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('up'); ${forever}`;
    const instance = await startModule(driver, 'stubborn', nodeModule(script));
    await waitFor(async () => (await driver.logs('stubborn', {})).some((l) => l.text === 'up'), { what: 'up' });
    await driver.stop('stubborn', 300);
    expect(isAlive(Number(instance.runtimeId))).toBe(false);
    expect(exits).toEqual([{ name: 'stubborn', exitCode: 137 }]);
    expect((await driver.logs('stubborn', {})).map((l) => l.text)).toContain('ignoring SIGTERM');
  });

  it('records the exit code of a crashing module and reports it once', async () => {
    const driver = newDriver(modulesDir());
    const exits = exitsOf(driver);
    await startModule(driver, 'crasher', nodeModule(`console.error('boom'); process.exit(42)`));
    await waitFor(() => exits.length > 0, { what: 'exit' });
    expect(exits).toEqual([{ name: 'crasher', exitCode: 42 }]);
    const [instance] = await driver.list();
    expect(instance).toMatchObject({ name: 'crasher', state: 'exited', exitCode: 42 });
    expect(await driver.logs('crasher', {})).toEqual([{ at: null, stream: 'stderr', text: 'boom' }]);

    // start() runs the same definition again.
    const again = await driver.start('crasher');
    expect(again.specHash).toBe('hash-1');
    await waitFor(() => exits.length > 1, { what: 'second exit' });
    expect(exits[1]).toEqual({ name: 'crasher', exitCode: 42 });
    expect((await driver.logs('crasher', { contains: 'boom' })).length).toBe(2);
  });

  it('gives the module its env, the Outpost variables and its data dir as working dir', async () => {
    const dir = modulesDir();
    const driver = newDriver(dir);
    const exits = exitsOf(driver);
    const script =
      'console.log(JSON.stringify({ cwd: process.cwd(), greeting: process.env.GREETING, name: process.env.OUTPOST_MODULE_NAME, ' +
      'device: process.env.OUTPOST_DEVICE_ID, data: process.env.OUTPOST_MODULE_DATA_DIR, uid: process.getuid(), ' +
      "agentOnly: process.env.AGENT_ONLY ?? null })); require('fs').writeFileSync('state.txt', 'kept')";
    process.env.AGENT_ONLY = 'agent secret';
    try {
      await startModule(driver, 'envy', nodeModule(script, { env: { GREETING: { value: 'hello' } } }));
    } finally {
      delete process.env.AGENT_ONLY;
    }
    await waitFor(() => exits.length > 0, { what: 'exit' });
    expect(exits).toEqual([{ name: 'envy', exitCode: 0 }]);
    const [line] = await driver.logs('envy', {});
    const seen = JSON.parse(line?.text ?? '{}');
    const dataDir = join(dir, 'envy', 'data');
    expect(seen).toEqual({
      cwd: dataDir,
      greeting: 'hello',
      name: 'envy',
      device: 'dev-process-1',
      data: dataDir,
      uid: process.getuid?.() === 0 ? 65534 : process.getuid?.(),
      agentOnly: null,
    });
    expect(readFileSync(join(dataDir, 'state.txt'), 'utf8')).toBe('kept');
  });

  it('runs a relative workingDir and a command found on PATH', async () => {
    const driver = newDriver(modulesDir());
    const exits = exitsOf(driver);
    const module = ProcessModule.parse({
      type: 'process',
      process: { command: 'sh', args: ['-c', 'pwd; echo to-stderr >&2; exit 7'], workingDir: '/tmp' },
    });
    await startModule(driver, 'shell', module);
    await waitFor(() => exits.length > 0, { what: 'exit' });
    expect(exits).toEqual([{ name: 'shell', exitCode: 7 }]);
    const lines = await driver.logs('shell', {});
    expect(lines).toEqual(
      expect.arrayContaining([
        { at: null, stream: 'stdout', text: '/tmp' },
        { at: null, stream: 'stderr', text: 'to-stderr' },
      ]),
    );
  });

  it('refuses a command that does not exist, naming it', async () => {
    const driver = newDriver(modulesDir());
    const module = ProcessModule.parse({ type: 'process', process: { command: 'no-such-command-xyz' } });
    await expect(startModule(driver, 'missing', module)).rejects.toSatisfy(
      (err) =>
        err instanceof DriverError &&
        err.code === 'MODULE_COMMAND_NOT_FOUND' &&
        err.message.includes('no-such-command-xyz'),
    );
  });

  it('exec runs a command as the module (its user, env and working dir) with a timeout', async () => {
    const dir = modulesDir();
    const driver = newDriver(dir);
    await startModule(driver, 'probe', nodeModule(forever, { env: { MARK: { value: 'm1' } } }));
    const ok = await driver.exec('probe', ['sh', '-c', 'echo "$MARK $(id -u) $(pwd)"; exit 0'], 10_000);
    const uid = process.getuid?.() === 0 ? 65534 : process.getuid?.();
    expect(ok).toEqual({ exitCode: 0, output: `m1 ${uid} ${join(dir, 'probe', 'data')}\n`, timedOut: false });
    const failing = await driver.exec('probe', ['sh', '-c', 'exit 4'], 10_000);
    expect(failing).toMatchObject({ exitCode: 4, timedOut: false });
    const slow = await driver.exec('probe', ['sleep', '30'], 200);
    expect(slow).toMatchObject({ exitCode: null, timedOut: true });
    expect(await driver.probeHost('probe')).toBe('127.0.0.1');
  });
});

describe('ProcessDriver: agent restarts', () => {
  it('a second driver over the same dir adopts the running module, never starts it twice, and sees its exit', async () => {
    const dir = modulesDir();
    const first = newDriver(dir);
    const script = `console.log('started once'); ${forever}`;
    const instance = await startModule(first, 'survivor', nodeModule(script), 'spec-s');
    const pid = Number(instance.runtimeId);
    await waitFor(async () => (await first.logs('survivor', {})).length > 0, { what: 'first line' });
    await first.close();

    const second = newDriver(dir);
    const exits = exitsOf(second);
    const [adopted] = await second.list();
    expect(adopted).toMatchObject({ name: 'survivor', state: 'running', specHash: 'spec-s', runtimeId: String(pid) });
    expect(adopted?.statusDescription).toMatch(/adopted/);
    // start() of a running instance is a no-op: still one process.
    const again = await second.start('survivor');
    expect(again.runtimeId).toBe(String(pid));
    expect((await second.logs('survivor', { contains: 'started once' })).length).toBe(1);

    // It dies without the driver's help: the exit is noticed, with an unknown exit code.
    process.kill(pid, 'SIGKILL');
    await waitFor(() => exits.length > 0, { what: 'adopted exit' });
    expect(exits).toEqual([{ name: 'survivor', exitCode: null }]);
    const [after] = await second.list();
    expect(after).toMatchObject({ state: 'exited', exitCode: null });
  });

  it('stop on an adopted module terminates it', async () => {
    const dir = modulesDir();
    const first = newDriver(dir);
    const instance = await startModule(first, 'adoptee', nodeModule(forever));
    await first.close();
    const second = newDriver(dir);
    started.push({ driver: second, name: 'adoptee' });
    await second.stop('adoptee', 5_000);
    expect(isAlive(Number(instance.runtimeId))).toBe(false);
    expect((await second.list())[0]).toMatchObject({ state: 'exited' });
  });

  it('a recorded pid now used by another process is not mistaken for the module', async () => {
    const dir = modulesDir();
    const driver = newDriver(dir);
    const exits = exitsOf(driver);
    await startModule(driver, 'gone', nodeModule('process.exit(0)'));
    await waitFor(() => exits.length > 0, { what: 'exit' });
    // Forge a record pointing at a live process (this test runner) with another start time, as after a reboot.
    const recordFile = join(dir, 'gone', 'instance.json');
    const record = JSON.parse(readFileSync(recordFile, 'utf8'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(recordFile, JSON.stringify({ ...record, pid: process.pid, pidStartTime: '1', exited: false }));
    const fresh = newDriver(dir);
    expect((await fresh.list())[0]).toMatchObject({ state: 'exited', exitCode: null });
    expect(isAlive(process.pid)).toBe(true);
  });

  it('remove deletes the instance record but keeps the data dir', async () => {
    const dir = modulesDir();
    const driver = newDriver(dir);
    await startModule(driver, 'temp', nodeModule(forever));
    await driver.remove('temp', 5_000);
    expect(await driver.list()).toEqual([]);
    expect(existsSync(join(dir, 'temp', 'data'))).toBe(true);
    await expect(driver.start('temp')).rejects.toSatisfy(
      (err) => err instanceof DriverError && err.code === 'NOT_FOUND',
    );
  });
});
