import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Module, type ModuleInput } from '@outpost/manifest';
import type { LogLine } from '@outpost/protocol';
import { type ContainerEngineHandle, startContainerEngine, waitFor } from '@outpost/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerPolicy } from '../src/config/schema.js';
import {
  ContainerDriver,
  type ContainerDriverOptions,
  containerPolicyErrors,
  containerPolicyProblems,
  resolveDockerHost,
} from '../src/drivers/container/index.js';
import { DriverError } from '../src/runtime/contracts.js';

// Real podman (`podman system service`) through the fixture; no engine → the fixture throws CONTAINER ENGINE UNAVAILABLE.
let engine: ContainerEngineHandle;
let stateDir: string;
const logLines: string[] = [];
const drivers: ContainerDriver[] = [];
const DEVICE_ID = 'container-driver-test';

const POLICY: ContainerPolicy = {
  dockerHost: null,
  allowPrivileged: false,
  allowHostPid: false,
  allowCapAdd: false,
  registryCredentials: {},
};

function driver(overrides: Partial<ContainerDriverOptions> = {}): ContainerDriver {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  const created = new ContainerDriver({
    dockerHost: engine.dockerHost,
    policy: POLICY,
    deviceId: DEVICE_ID,
    log: pino({ level: 'debug' }, sink),
    stateDir,
    pollIntervalMs: 200,
    ...overrides,
  });
  drivers.push(created);
  return created;
}

interface ModuleOptions {
  env?: Record<string, string>;
  image?: string;
  pullPolicy?: 'never' | 'on-create';
  createOptions?: Record<string, unknown>;
  registryCredentialsRef?: string;
  limits?: { memoryBytes?: number; cpus?: number; pids?: number };
}

/** A container module as the manifest schema parses it (defaults applied). */
function containerModule(command: string[], options: ModuleOptions = {}): Module {
  const input: ModuleInput = {
    type: 'container',
    ...(options.env
      ? { env: Object.fromEntries(Object.entries(options.env).map(([key, value]) => [key, { value }])) }
      : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    container: {
      image: options.image ?? engine.image,
      pullPolicy: options.pullPolicy ?? 'never',
      createOptions: { Cmd: command, ...(options.createOptions ?? {}) },
      ...(options.registryCredentialsRef ? { registryCredentialsRef: options.registryCredentialsRef } : {}),
    },
  };
  return Module.parse(input);
}

async function inspect(name: string): Promise<{
  Config: { Labels: Record<string, string>; Env: string[] };
  State: { Status: string; ExitCode: number };
  HostConfig: {
    CapAdd: string[] | null;
    Privileged: boolean;
    Memory: number;
    NanoCpus: number;
    PidsLimit: number;
    RestartPolicy: { Name: string };
  };
}> {
  const [info] = JSON.parse(await engine.podman(['inspect', `outpost-${name}`]));
  return info;
}

async function containerNames(): Promise<string[]> {
  return (await engine.podman(['ps', '--all', '--format', '{{.Names}}'])).split('\n').filter(Boolean);
}

async function imagePresent(ref: string): Promise<boolean> {
  return engine
    .podman(['image', 'exists', ref])
    .then(() => true)
    .catch(() => false);
}

async function refusal(promise: Promise<unknown>): Promise<DriverError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DriverError);
  return err as DriverError;
}

beforeAll(async () => {
  engine = await startContainerEngine();
  stateDir = mkdtempSync(join(tmpdir(), 'outpost-container-driver-'));
}, 120_000);

afterAll(async () => {
  for (const each of drivers) await each.close();
  await engine?.stop();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

describe('ContainerDriver against podman', () => {
  it('creates and starts a labelled container from a local image, passes env, and records its exit code', async () => {
    const subject = driver();
    const exits: [string, number | null][] = [];
    subject.onExit((name, code) => exits.push([name, code]));
    const module = containerModule(['sh', '-c', 'echo "greeting=$GREETING"; exit 3'], { env: { GREETING: 'hello' } });
    await subject.prepare('exiter', module);
    const instance = await subject.createAndStart('exiter', module, 'spec-exiter-1');
    expect(instance).toMatchObject({ name: 'exiter', type: 'container', specHash: 'spec-exiter-1' });

    const info = await inspect('exiter');
    expect(info.Config.Labels).toMatchObject({
      'io.outpost.managed': 'true',
      'io.outpost.module': 'exiter',
      'io.outpost.spec-hash': 'spec-exiter-1',
      'io.outpost.device-id': DEVICE_ID,
    });
    expect(info.Config.Env).toContain('GREETING=hello');
    // The agent decides restarts, never the engine.
    expect(info.HostConfig.RestartPolicy.Name).toMatch(/^(no)?$/);

    await waitFor(() => exits.find(([name]) => name === 'exiter'), { timeoutMs: 30_000, what: 'onExit for exiter' });
    expect(exits.filter(([name]) => name === 'exiter')).toEqual([['exiter', 3]]);
    const listed = (await subject.list()).find((each) => each.name === 'exiter');
    expect(listed).toMatchObject({ state: 'exited', exitCode: 3, specHash: 'spec-exiter-1' });
    expect(listed?.exitedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const lines = await subject.logs('exiter', {});
    expect(lines.map((line) => line.text)).toContain('greeting=hello');

    // start() runs the same container again, and its new exit is reported again.
    await subject.start('exiter');
    await waitFor(() => exits.filter(([name]) => name === 'exiter').length === 2, {
      timeoutMs: 30_000,
      what: 'a second onExit for exiter',
    });
    await subject.remove('exiter', 0);
  });

  it('stops a container that ignores SIGTERM by killing it after the grace period', async () => {
    const subject = driver();
    const module = containerModule([
      'sh',
      '-c',
      "trap 'echo term-ignored' TERM; echo ready; while true; do sleep 0.2; done",
    ]);
    await subject.createAndStart('stubborn', module, 'spec-stubborn');
    await waitFor(async () => (await subject.logs('stubborn', {})).some((line) => line.text === 'ready'), {
      what: 'stubborn to print ready',
    });
    const began = Date.now();
    await subject.stop('stubborn', 2_000);
    const took = Date.now() - began;
    const listed = (await subject.list()).find((each) => each.name === 'stubborn');
    // 137 = 128 + SIGKILL: the engine had to kill it once the grace period was over.
    expect(listed).toMatchObject({ state: 'exited', exitCode: 137 });
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect((await subject.logs('stubborn', {})).map((line) => line.text)).toContain('term-ignored');

    await subject.stop('stubborn', 2_000); // stopping a stopped container is a no-op
    await subject.remove('stubborn', 1_000);
    expect(await containerNames()).not.toContain('outpost-stubborn');
    expect((await subject.list()).map((each) => each.name)).not.toContain('stubborn');
    await subject.remove('stubborn', 1_000); // and removing an absent one too
  });

  it('lets a second driver instance (an agent restart) adopt a running container and see its exit', async () => {
    const first = driver();
    await first.createAndStart('survivor', containerModule(['sh', '-c', 'while true; do sleep 0.2; done']), 'spec-s-7');
    await first.close();

    const second = driver();
    const exits: [string, number | null][] = [];
    second.onExit((name, code) => exits.push([name, code]));
    const adopted = (await second.list()).find((each) => each.name === 'survivor');
    expect(adopted).toMatchObject({ state: 'running', specHash: 'spec-s-7', exitCode: null, exitedAt: null });
    expect(adopted?.startedAt).toMatch(/^\d{4}-/);
    await engine.podman(['kill', '--signal', 'KILL', 'outpost-survivor']);
    await waitFor(() => exits.find(([name]) => name === 'survivor'), { what: 'onExit of the adopted container' });
    expect(exits).toEqual([['survivor', 137]]);
    await second.remove('survivor', 0);
  });

  it('reads logs (tail, contains, stdout and stderr with times) and follows new lines', async () => {
    const subject = driver();
    await subject.createAndStart(
      'talker',
      containerModule([
        'sh',
        '-c',
        'for i in 1 2 3 4 5; do echo "out $i"; done; echo "oops" >&2; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.3; done',
      ]),
      'spec-talker',
    );
    // A few ticks in, so the tail is a tick whatever order the engine read the two pipes in at the start.
    await waitFor(async () => (await subject.logs('talker', { contains: 'tick' })).length >= 3, {
      what: 'talker to tick three times',
    });
    const all = await subject.logs('talker', {});
    // Order holds within a stream; stdout and stderr are separate pipes, so their relative order is not kept.
    expect(all.filter((line) => line.text.startsWith('out')).map((line) => [line.stream, line.text])).toEqual([
      ['stdout', 'out 1'],
      ['stdout', 'out 2'],
      ['stdout', 'out 3'],
      ['stdout', 'out 4'],
      ['stdout', 'out 5'],
    ]);
    expect(all.filter((line) => line.stream === 'stderr').map((line) => line.text)).toEqual(['oops']);
    for (const line of all) expect(Number.isNaN(Date.parse(line.at ?? ''))).toBe(false);
    expect((await subject.logs('talker', { contains: 'out', tail: 2 })).map((line) => line.text)).toEqual([
      'out 4',
      'out 5',
    ]);
    const tail = await subject.logs('talker', { tail: 1 });
    expect(tail).toHaveLength(1);
    expect(tail[0]?.text).toMatch(/^tick \d+$/);
    expect(await subject.logs('talker', { until: '2000-01-01T00:00:00Z' })).toEqual([]);

    const controller = new AbortController();
    const followed: LogLine[] = [];
    for await (const line of subject.followLogs('talker', controller.signal)) {
      followed.push(line);
      if (followed.length === 2) controller.abort();
    }
    expect(followed.map((line) => line.text)).toEqual([expect.stringMatching(/^tick/), expect.stringMatching(/^tick/)]);
    // Only new lines: a followed tick is later than the first tick.
    expect(followed[0]?.text).not.toBe('tick 1');
    await subject.remove('talker', 0);
  });

  it('runs exec probes in the container and answers a probe address that reaches its port', async () => {
    const subject = driver();
    await subject.createAndStart(
      'web',
      containerModule(
        ['sh', '-c', 'mkdir -p /www && echo "it works" > /www/index.html && exec httpd -f -p 8080 -h /www'],
        { env: { ANSWER: '42' }, limits: { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pids: 50 } },
      ),
      'spec-web',
    );
    // The manifest's resource limits reach the engine.
    expect((await inspect('web')).HostConfig).toMatchObject({
      Memory: 67_108_864,
      NanoCpus: 500_000_000,
      PidsLimit: 50,
    });
    const result = await subject.exec('web', ['sh', '-c', 'echo "answer=$ANSWER"; echo err >&2; exit 4'], 10_000);
    expect(result).toEqual({ exitCode: 4, output: 'answer=42\nerr\n', timedOut: false });
    expect(await subject.exec('web', ['true'], 10_000)).toMatchObject({ exitCode: 0, timedOut: false });
    expect(await subject.exec('web', ['sleep', '30'], 500)).toMatchObject({ exitCode: null, timedOut: true });

    const host = await subject.probeHost('web');
    const body = await waitFor(
      async () => {
        const res = await fetch(`http://${host}:8080/index.html`, { signal: AbortSignal.timeout(2_000) });
        return res.ok ? res.text() : null;
      },
      { what: `httpd in the container on ${host}:8080` },
    );
    expect(body).toBe('it works\n');

    const missing = await refusal(subject.exec('no-such-module', ['true'], 1_000));
    expect(missing.code).toBe('NOT_FOUND');
    await subject.remove('web', 0);
  });

  it('refuses Privileged, host PID and added capabilities unless the device allows them', async () => {
    const risky = containerModule(['sleep', '30'], {
      createOptions: { HostConfig: { Privileged: true, PidMode: 'host', CapAdd: ['NET_ADMIN'] } },
    });
    expect(containerPolicyErrors('risky', risky, POLICY).map((error) => error.path)).toEqual([
      'modules.risky.container.createOptions.HostConfig.Privileged',
      'modules.risky.container.createOptions.HostConfig.PidMode',
      'modules.risky.container.createOptions.HostConfig.CapAdd',
    ]);
    const problems = containerPolicyProblems(risky, POLICY, 'risky');
    expect(problems[0]).toMatch(/Privileged: privileged containers are refused .*allowPrivileged: true/);
    expect(problems[2]).toMatch(/NET_ADMIN/);

    const strict = driver();
    const refused = await refusal(strict.createAndStart('risky', risky, 'spec-risky'));
    expect(refused.code).toBe('POLICY_REFUSED');
    expect(refused.message).toContain('modules.risky.container.createOptions.HostConfig.PidMode');
    expect(await containerNames()).not.toContain('outpost-risky');

    const permissive = driver({
      policy: { ...POLICY, allowPrivileged: true, allowHostPid: true, allowCapAdd: true },
    });
    expect(
      containerPolicyErrors('risky', risky, {
        ...POLICY,
        allowPrivileged: true,
        allowHostPid: true,
        allowCapAdd: true,
      }),
    ).toEqual([]);
    const capOnly = containerModule(['sleep', '30'], { createOptions: { HostConfig: { CapAdd: ['NET_ADMIN'] } } });
    await permissive.createAndStart('capable', capOnly, 'spec-capable');
    expect((await inspect('capable')).HostConfig.CapAdd).toEqual(
      expect.arrayContaining([expect.stringMatching(/NET_ADMIN/)]),
    );
    await permissive.createAndStart('risky', risky, 'spec-risky');
    expect((await inspect('risky')).HostConfig.Privileged).toBe(true);
    await permissive.remove('capable', 0);
    await permissive.remove('risky', 0);
  });

  it('fails clearly when an image is missing (never) or cannot be pulled (on-create), without leaking the password', async () => {
    const passwordFile = join(stateDir, 'registry-password');
    writeFileSync(passwordFile, 's3cret-registry-password\n', { mode: 0o600 });
    const subject = driver({
      policy: {
        ...POLICY,
        registryCredentials: {
          private: { serveraddress: 'registry.outpost-test.invalid', username: 'robot', passwordFile },
        },
      },
    });
    const absent = containerModule(['true'], { image: 'localhost/outpost-test/absent:9' });
    const notFound = await refusal(subject.prepare('absent', absent));
    expect(notFound.code).toBe('IMAGE_NOT_FOUND');
    expect(notFound.message).toContain('localhost/outpost-test/absent:9');
    expect((await refusal(subject.createAndStart('absent', absent, 'h'))).code).toBe('IMAGE_NOT_FOUND');

    const withCredentials = containerModule(['true'], {
      image: 'registry.outpost-test.invalid/sensor:1',
      pullPolicy: 'on-create',
      registryCredentialsRef: 'private',
    });
    const pullFailed = await refusal(subject.prepare('sensor', withCredentials));
    expect(pullFailed.code).toBe('IMAGE_PULL_FAILED');
    expect(pullFailed.message).toContain('registry.outpost-test.invalid/sensor:1');
    expect(pullFailed.message).not.toContain('s3cret');
    expect(logLines.join('')).not.toContain('s3cret');
    expect(await containerNames()).not.toContain('outpost-sensor');

    const unknownRef = containerModule(['true'], {
      image: 'registry.outpost-test.invalid/sensor:1',
      pullPolicy: 'on-create',
      registryCredentialsRef: 'nope',
    });
    const refused = await refusal(subject.prepare('sensor', unknownRef));
    expect(refused.message).toContain("registry credentials 'nope' are not configured");
  });

  it('cleans up images it used that no kept module uses, and keeps the others', async () => {
    await engine.importImage('localhost/outpost-test/old:1');
    await engine.importImage('localhost/outpost-test/not-ours:1');
    const subject = driver();
    const oldModule = containerModule(['sleep', '30'], { image: 'localhost/outpost-test/old:1' });
    const currentModule = containerModule(['sleep', '30']);
    await subject.createAndStart('old-version', oldModule, 'spec-old');
    await subject.createAndStart('current', currentModule, 'spec-current');
    const record = JSON.parse(readFileSync(join(stateDir, 'container-images.json'), 'utf8'));
    expect(record.images).toEqual(expect.arrayContaining(['localhost/outpost-test/old:1', engine.image]));

    // While a container of it exists, an image is kept even if the deployment no longer lists it.
    await subject.cleanup(new Map([['current', currentModule]]));
    expect(await imagePresent('localhost/outpost-test/old:1')).toBe(true);

    await subject.remove('old-version', 0);
    // A restarted agent (a new instance) knows from the record which images Outpost used.
    const restarted = driver();
    await restarted.cleanup(new Map([['current', currentModule]]));
    expect(await imagePresent('localhost/outpost-test/old:1')).toBe(false);
    expect(await imagePresent(engine.image)).toBe(true);
    expect(await imagePresent('localhost/outpost-test/not-ours:1')).toBe(true);
    await restarted.remove('current', 0);
  });

  it('says which engine it could not reach', async () => {
    const subject = driver({ dockerHost: `unix://${join(stateDir, 'no-engine.sock')}` });
    const err = await refusal(subject.list());
    expect(err.code).toBe('ENGINE_UNAVAILABLE');
    expect(err.message).toContain('no-engine.sock');
    expect(existsSync(join(stateDir, 'no-engine.sock'))).toBe(false);
    expect(resolveDockerHost(null, {})).toBe('unix:///var/run/docker.sock');
    expect(resolveDockerHost(null, { DOCKER_HOST: 'tcp://10.0.0.2:2375' })).toBe('tcp://10.0.0.2:2375');
    expect(resolveDockerHost('unix:///run/podman/podman.sock', { DOCKER_HOST: 'tcp://x:1' })).toBe(
      'unix:///run/podman/podman.sock',
    );
  });
});
