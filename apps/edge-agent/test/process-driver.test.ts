import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { type Module, ProcessModule } from '@outpost/manifest';
import { spawnProcess, waitFor } from '@outpost/testing';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ProcessDriver, type ProcessDriverOptions } from '../src/drivers/process/index.js';
import { DriverError } from '../src/runtime/contracts.js';
import { prepareStateDir } from '../src/state/index.js';
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

/** Running, per /proc: a zombie (exited, not reaped yet by whoever inherited it) is gone for our purposes. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
}

const forever = 'setInterval(() => {}, 1000)';

/** Live (non-zombie) processes whose environment holds `entry` (NAME=value), per /proc. */
function processesCarrying(entry: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/environ`, 'latin1').split('\0').includes(entry) && isAlive(Number(name))) {
        pids.push(Number(name));
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

function readInstanceRecord(dir: string, name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, name, 'instance.json'), 'utf8'));
}

/** Field 22 of /proc/<pid>/stat. */
function procStartTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

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
  it('a module outlives a SIGKILLed agent, keeps writing its logs, and the next agent adopts it', async () => {
    const dir = modulesDir();
    const fixture = new URL('./fixtures/process/agent-with-module.mjs', import.meta.url).pathname;
    const agent = await spawnProcess(process.execPath, [fixture, dir, 'outliver'], { readyWhen: /"runtimeId"/ });
    const instance = JSON.parse(agent.output().trim().split('\n').at(-1) ?? '{}') as { runtimeId: string };
    const pid = Number(instance.runtimeId);
    await agent.kill();

    // No pipe to the dead agent: the module still runs and both its streams keep growing.
    const next = newDriver(dir);
    started.push({ driver: next, name: 'outliver' });
    const count = async (stream: 'stdout' | 'stderr') =>
      (await next.logs('outliver', {})).filter((l) => l.stream === stream).length;
    const before = { stdout: await count('stdout'), stderr: await count('stderr') };
    await waitFor(
      async () => (await count('stdout')) > before.stdout + 5 && (await count('stderr')) > before.stderr + 5,
      {
        what: 'the module writing after the agent died',
      },
    );
    expect(isAlive(pid)).toBe(true);
    const [adopted] = await next.list();
    expect(adopted).toMatchObject({
      name: 'outliver',
      state: 'running',
      runtimeId: String(pid),
      specHash: 'spec-restart',
    });
    const exits = exitsOf(next);
    await next.stop('outliver', 5_000);
    expect(isAlive(pid)).toBe(false);
    expect(exits).toEqual([{ name: 'outliver', exitCode: null }]);
  });

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
    expect(after?.statusDescription).toMatch(/exit code unknown/);
  });

  it('an agent SIGKILLed after spawning a module but before recording its pid: the next agent adopts that process and never starts a second', async () => {
    const dir = modulesDir();
    const marker = `MODULE_MARKER=window-${randomBytes(6).toString('hex')}`;
    const fixture = new URL('./fixtures/process/agent-killed-before-pid.mjs', import.meta.url).pathname;
    const agent = await spawnProcess(process.execPath, [fixture, dir, 'window', marker.split('=')[1] ?? ''], {
      readyWhen: /spawned \d+/,
    });
    const pid = Number(/spawned (\d+)/.exec(agent.output())?.[1]);
    await agent.kill();

    // What the killed agent left: a record without a pid, but with the token the running process carries.
    const left = readInstanceRecord(dir, 'window');
    expect(left).toMatchObject({ pid: null, pidStartTime: null, exited: false, specHash: 'spec-window' });
    expect(left.instanceToken).toMatch(/^[0-9a-f]{32}$/);
    expect(isAlive(pid)).toBe(true);
    expect(processesCarrying(`OUTPOST_MODULE_INSTANCE=${left.instanceToken}`)).toEqual([pid]);

    const next = newDriver(dir);
    started.push({ driver: next, name: 'window' });
    const [adopted] = await next.list();
    expect(adopted).toMatchObject({
      name: 'window',
      state: 'running',
      runtimeId: String(pid),
      specHash: 'spec-window',
    });
    expect(adopted?.startedAt).not.toBeNull();
    // The record is completed, start time included, so later adoptions are safe against pid reuse.
    expect(readInstanceRecord(dir, 'window')).toMatchObject({
      pid,
      pidStartTime: procStartTime(pid),
      instanceToken: left.instanceToken,
      exited: false,
    });
    expect((await next.start('window')).runtimeId).toBe(String(pid));
    expect(processesCarrying(marker)).toEqual([pid]);

    // A third agent sees a plain record now, and its stop reaches the adopted process.
    const third = newDriver(dir);
    const exits = exitsOf(third);
    expect((await third.list())[0]).toMatchObject({ state: 'running', runtimeId: String(pid) });
    await third.stop('window', 5_000);
    expect(isAlive(pid)).toBe(false);
    expect(exits).toEqual([{ name: 'window', exitCode: null }]);
    expect(processesCarrying(marker)).toEqual([]);
  });

  it('createAndStart on a fresh driver replaces (not duplicates) a process whose pid was never recorded', async () => {
    const dir = modulesDir();
    const first = newDriver(dir);
    const marker = `MODULE_MARKER=replace-${randomBytes(6).toString('hex')}`;
    const module = nodeModule(forever, { env: { MODULE_MARKER: { value: marker.split('=')[1] } } });
    // Not in `started`: the closed driver no longer watches its process, the second one cleans up.
    const instance = await first.createAndStart('twice', module, 'hash-1');
    const oldPid = Number(instance.runtimeId);
    await first.close();
    // Forge the window by hand: the pid was not written yet.
    const recordFile = join(dir, 'twice', 'instance.json');
    writeFileSync(recordFile, JSON.stringify({ ...readInstanceRecord(dir, 'twice'), pid: null, pidStartTime: null }));

    const second = newDriver(dir);
    started.push({ driver: second, name: 'twice' });
    const replaced = await second.createAndStart('twice', module, 'hash-2');
    expect(replaced.runtimeId).not.toBe(String(oldPid));
    expect(isAlive(oldPid)).toBe(false);
    expect(processesCarrying(marker)).toEqual([Number(replaced.runtimeId)]);
  });

  it('every spawn gets a new instance token, which exec and a process outside the module session do not count as', async () => {
    const dir = modulesDir();
    const driver = newDriver(dir);
    const exits = exitsOf(driver);
    const first = await startModule(driver, 'tokens', nodeModule(forever));
    const token1 = readInstanceRecord(dir, 'tokens').instanceToken;
    expect(processesCarrying(`OUTPOST_MODULE_INSTANCE=${token1}`)).toEqual([Number(first.runtimeId)]);
    const exec = await driver.exec('tokens', ['sh', '-c', 'echo "token=$OUTPOST_MODULE_INSTANCE"'], 10_000);
    expect(exec.output).toBe('token=\n');
    await driver.stop('tokens', 5_000);
    await waitFor(() => exits.length === 1, { what: 'first exit' });
    const second = await driver.start('tokens');
    const token2 = readInstanceRecord(dir, 'tokens').instanceToken;
    expect(token2).toMatch(/^[0-9a-f]{32}$/);
    expect(token2).not.toBe(token1);
    expect(processesCarrying(`OUTPOST_MODULE_INSTANCE=${token2}`)).toEqual([Number(second.runtimeId)]);
    await driver.stop('tokens', 5_000);

    // A record left without a pid whose token only a process in another session carries (a leftover child of the
    // module, say): not the module, so not adopted.
    const token3 = randomBytes(16).toString('hex');
    const stray = spawn('sleep', ['1000'], {
      env: { ...process.env, OUTPOST_MODULE_INSTANCE: token3 },
      stdio: 'ignore',
    });
    try {
      await waitFor(() => processesCarrying(`OUTPOST_MODULE_INSTANCE=${token3}`).length === 1, { what: 'stray' });
      const recordFile = join(dir, 'tokens', 'instance.json');
      const record = readInstanceRecord(dir, 'tokens');
      writeFileSync(
        recordFile,
        JSON.stringify({ ...record, instanceToken: token3, pid: null, pidStartTime: null, exited: false }),
      );
      const fresh = newDriver(dir);
      expect((await fresh.list())[0]).toMatchObject({ state: 'created', runtimeId: '' });
      // A dead recorded pid with that token: exited, still not adopted.
      writeFileSync(
        recordFile,
        JSON.stringify({ ...record, instanceToken: token3, pid: process.pid, pidStartTime: '1', exited: false }),
      );
      expect((await newDriver(dir).list())[0]).toMatchObject({ state: 'exited', exitCode: null });
    } finally {
      stray.kill('SIGKILL');
    }
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
    writeFileSync(recordFile, JSON.stringify({ ...record, pid: process.pid, pidStartTime: '1', exited: false }));
    const fresh = newDriver(dir);
    expect((await fresh.list())[0]).toMatchObject({
      state: 'exited',
      exitCode: null,
      statusDescription: 'exited while the agent was not running: exit code unknown',
    });
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

const asRoot = process.getuid?.() === 0;

describe('ProcessDriver: module user', () => {
  it.runIf(asRoot)(
    'runs modules as the module user, who cannot read the agent credentials in the state dir',
    async () => {
      const root = makeTempDir();
      chmodSync(root, 0o711);
      const stateDir = join(root, 'state');
      await prepareStateDir(stateDir);
      const credsFile = join(stateDir, 'device.creds');
      const secret = 'SUAKSECRETSEEDTHATMUSTNEVERLEAK';
      writeFileSync(credsFile, `-----BEGIN USER NKEY SEED-----\n${secret}\n`, { mode: 0o600 });
      const driver = newDriver(join(stateDir, 'modules'));
      const exits = exitsOf(driver);
      const script =
        "const fs = require('fs'); console.log('uid', process.getuid());" +
        `try { process.stdout.write(fs.readFileSync(${JSON.stringify(credsFile)}, 'utf8')); } catch (e) { console.error('creds:', e.code, e.message); }` +
        `try { console.log(fs.readdirSync(${JSON.stringify(stateDir)}).join(',')); } catch (e) { console.error('list:', e.code); }`;
      await startModule(driver, 'nosy', nodeModule(script));
      await waitFor(() => exits.length > 0, { what: 'exit' });
      const lines = await driver.logs('nosy', {});
      const text = lines.map((l) => `${l.stream}: ${l.text}`).join('\n');
      expect(text).toContain('stdout: uid 65534');
      expect(text).toMatch(/stderr: creds: EACCES .*permission denied/);
      expect(text).toContain('stderr: list: EACCES');
      expect(text).not.toContain(secret);
      // And it can still write its own data dir.
      expect(statSync(join(stateDir, 'modules', 'nosy', 'data')).uid).toBe(65534);
    },
  );

  it.runIf(asRoot)('never runs a module as root, even when the manifest asks', async () => {
    const driver = newDriver(modulesDir());
    const module = ProcessModule.parse({ type: 'process', process: { command: 'true', user: 'root' } });
    await expect(startModule(driver, 'rooted', module)).rejects.toSatisfy(
      (err) =>
        err instanceof DriverError && err.code === 'MODULE_USER_ROOT' && err.message.includes('never run as root'),
    );
  });

  it.runIf(asRoot)('names the fix when the module user does not exist', async () => {
    const driver = newDriver(modulesDir(), { moduleUser: 'outpost-no-such-user' });
    await expect(startModule(driver, 'orphan', nodeModule('0'))).rejects.toSatisfy(
      (err) =>
        err instanceof DriverError &&
        err.code === 'MODULE_USER_MISSING' &&
        err.message.includes('useradd --system --no-create-home outpost-no-such-user'),
    );
  });
});

/** A module writing `count` numbered 100-byte lines; past `maxBytes` it waits for the agent to rotate its file. */
function rotatingWriter(count: number, maxBytes: number, pauseMs = 0): string {
  return `
    const fs = require('fs');
    let i = 0;
    function next() {
      if (i === ${count}) { console.log('done'); setInterval(() => {}, 1000); return; }
      if (fs.fstatSync(1).size > ${maxBytes}) return setTimeout(next, 5);
      i++;
      fs.writeSync(1, 'line-' + String(i).padStart(6, '0') + ' ' + 'x'.repeat(88) + '\\n');
      ${pauseMs > 0 ? `setTimeout(next, ${pauseMs})` : 'setImmediate(next)'};
    }
    next();`;
}

describe('ProcessDriver: logs', () => {
  it('rotates log files past the size cap, keeps N of them, and reads a tail across them', async () => {
    const dir = modulesDir();
    const maxBytes = 4096;
    const driver = newDriver(dir, { logMaxBytes: maxBytes, logMaxFiles: 2, logCheckIntervalMs: 20 });
    await startModule(driver, 'chatty', nodeModule(rotatingWriter(400, maxBytes)));
    await waitFor(async () => (await driver.logs('chatty', { contains: 'done' })).length === 1, {
      what: 'all lines written',
      timeoutMs: 60_000,
    });
    const logs = join(dir, 'chatty', 'logs');
    const files = readdirSync(logs)
      .filter((f) => f.startsWith('stdout'))
      .sort();
    expect(files).toEqual(['stdout.log', 'stdout.log.1', 'stdout.log.2']);
    for (const file of files) expect(statSync(join(logs, file)).size).toBeLessThanOrEqual(maxBytes + 100);

    const tail = await driver.logs('chatty', { tail: 60 });
    expect(tail).toHaveLength(60);
    expect(tail.at(-1)).toEqual({ at: null, stream: 'stdout', text: 'done' });
    const numbers = tail.slice(0, -1).map((l) => Number(l.text.slice(5, 11)));
    expect(numbers).toEqual(Array.from({ length: 59 }, (_, k) => 342 + k));
    // More than the current file holds: the tail spans the rotated files.
    const live = readFileSync(join(logs, 'stdout.log'), 'utf8').split('\n').filter(Boolean);
    expect(live.length).toBeLessThan(60);
    // The oldest lines are gone with the dropped files.
    expect(await driver.logs('chatty', { contains: 'line-000001 ' })).toEqual([]);
    expect(await driver.logs('chatty', { contains: 'line-000399 ' })).toHaveLength(1);
    expect(await driver.logs('chatty', { since: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);
  });

  it('since/until keep the files whose time span overlaps the window; streams are ordered by last write', async () => {
    const dir = modulesDir();
    const logs = join(dir, 'old', 'logs');
    mkdirSync(logs, { recursive: true });
    const hour = 3600_000;
    const now = Date.now();
    const files: Array<[string, string, number]> = [
      ['stdout.log.2', 'out-oldest', now - 3 * hour],
      ['stdout.log.1', 'out-older', now - 2 * hour],
      ['stderr.log', 'err-live', now - 1.5 * hour],
      ['stdout.log', 'out-live', now - hour],
    ];
    for (const [name, text, mtime] of files) {
      writeFileSync(join(logs, name), `${text}\n`);
      utimesSync(join(logs, name), new Date(mtime), new Date(mtime));
    }
    const driver = newDriver(dir);
    const texts = async (query: { since?: string; until?: string; tail?: number }) =>
      (await driver.logs('old', query)).map((l) => l.text);
    expect(await texts({})).toEqual(['out-oldest', 'out-older', 'err-live', 'out-live']);
    const at = (ms: number) => new Date(now - ms).toISOString();
    // Everything in stdout.log.2 was written before this: the file is left out.
    expect(await texts({ since: at(2.5 * hour) })).toEqual(['out-older', 'err-live', 'out-live']);
    // stdout.log was written after stdout.log.1 was rotated (2 h ago): left out.
    expect(await texts({ until: at(2.5 * hour) })).toEqual(['out-oldest', 'out-older', 'err-live']);
    expect(await texts({ tail: 2 })).toEqual(['err-live', 'out-live']);
    await expect(driver.logs('never-deployed', {})).rejects.toSatisfy(
      (err) => err instanceof DriverError && err.code === 'NOT_FOUND',
    );
  });

  it('follows new lines, across rotations, until aborted', async () => {
    const maxBytes = 2048;
    const driver = newDriver(modulesDir(), {
      logMaxBytes: maxBytes,
      logMaxFiles: 1,
      logCheckIntervalMs: 20,
      followPollMs: 20,
    });
    await startModule(driver, 'stream', nodeModule(rotatingWriter(1_000_000, maxBytes, 10)));
    await waitFor(async () => (await driver.logs('stream', {})).length > 0, { what: 'first line' });
    const abort = new AbortController();
    const seen: number[] = [];
    for await (const line of driver.followLogs('stream', abort.signal)) {
      seen.push(Number(line.text.slice(5, 11)));
      if (seen.length === 80) abort.abort();
    }
    // 80 lines of 100 bytes went through several 2 KiB rotations without a gap.
    expect(seen).toEqual(Array.from({ length: 80 }, (_, k) => (seen[0] ?? 0) + k));
  });
});

describe('ProcessDriver: resource limits', () => {
  const allocate1500MB =
    "const a = []; for (let i = 0; i < 15; i++) a.push(Buffer.alloc(100e6, 1)); console.log('allocated')";

  it('a memory limit makes a module that allocates too much fail; a larger one lets it through', async () => {
    const driver = newDriver(modulesDir());
    const exits = exitsOf(driver);
    await startModule(driver, 'hungry', nodeModule(allocate1500MB, { limits: { memoryBytes: 1_000_000_000 } }));
    await startModule(driver, 'fed', nodeModule(allocate1500MB, { limits: { memoryBytes: 4_000_000_000 } }));
    await waitFor(() => exits.length === 2, { what: 'both exits', timeoutMs: 60_000 });
    expect(exits.find((e) => e.name === 'hungry')?.exitCode).not.toBe(0);
    expect((await driver.logs('hungry', { contains: 'allocat' })).map((l) => l.stream)).not.toContain('stdout');
    expect(exits.find((e) => e.name === 'fed')?.exitCode).toBe(0);
    expect(await driver.logs('fed', {})).toEqual([{ at: null, stream: 'stdout', text: 'allocated' }]);
  });

  it('a pids limit is set on the module (RLIMIT_NPROC, counted per user, so no fork test here)', async () => {
    const driver = newDriver(modulesDir());
    const exits = exitsOf(driver);
    const module = ProcessModule.parse({
      type: 'process',
      process: { command: 'sh', args: ['-c', "grep -E 'Max (processes|address space)' /proc/self/limits"] },
      limits: { pids: 17, memoryBytes: 3_000_000_000 },
    });
    await startModule(driver, 'limited', module);
    await waitFor(() => exits.length > 0, { what: 'exit' });
    const text = (await driver.logs('limited', {})).map((l) => l.text.replace(/\s+/g, ' ').trim());
    expect(text).toEqual(
      expect.arrayContaining(['Max processes 17 17 processes', 'Max address space 3000000000 3000000000 bytes']),
    );
  });

  it('says when a cpu limit cannot be applied', async () => {
    const driver = newDriver(modulesDir());
    const instance = await startModule(driver, 'cpu', nodeModule(forever, { limits: { cpus: 0.5 } }));
    expect(instance.statusDescription).toMatch(/limits\.cpus \(0\.5\) not applied/);
    expect((await driver.list())[0]?.statusDescription).toMatch(/limits\.cpus/);
  });
});
