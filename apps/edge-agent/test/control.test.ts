import { lstatSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { spawnProcess, waitFor } from '@outpost/testing';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ControlClient, ControlError, ControlServer } from '../src/control/index.js';
import type { DeploymentOutcome } from '../src/runtime/contracts.js';
import { InMemoryRuntime } from './control-fixtures.js';
import { makeTempDir, removeTempDirs } from './helpers.js';

const silent = pino({ level: 'silent' });

const servers: ControlServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(removeTempDirs);

async function startServer(options: { socketPath?: string; runtime?: InMemoryRuntime } = {}) {
  const runtime = options.runtime ?? new InMemoryRuntime();
  const socketPath = options.socketPath ?? join(makeTempDir(), 'agent.sock');
  const deployed: unknown[] = [];
  const server = new ControlServer({
    socketPath,
    runtime,
    applyLocal: async (input): Promise<DeploymentOutcome> => {
      deployed.push(input);
      const modules = (input as { modules?: unknown } | null)?.modules;
      if (typeof modules !== 'object' || modules === null) {
        return { code: 400, description: 'invalid manifest', errors: [{ path: 'modules', message: 'required' }] };
      }
      return { code: 200, description: 'applied local deployment' };
    },
    status: () => ({
      deviceId: 'dev-1',
      agentVersion: '9.9.9',
      pid: process.pid,
      startedAt: new Date().toISOString(),
      uptimeSecs: 1,
      connected: false,
    }),
    log: silent,
  });
  await server.start();
  servers.push(server);
  return { server, runtime, socketPath, client: new ControlClient(socketPath), deployed };
}

/** Sends raw lines and collects the first `count` response lines (for malformed requests the client never sends). */
function rawExchange(socketPath: string, payload: string, count = 1): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let buffer = '';
    const responses: unknown[] = [];
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) if (line) responses.push(JSON.parse(line));
      if (responses.length >= count) {
        socket.destroy();
        resolve(responses);
      }
    });
    socket.on('error', reject);
    socket.write(payload);
  });
}

async function expectControlError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ControlError);
  expect((err as ControlError).code).toBe(code);
  expect((err as ControlError).message).toMatch(message);
}

describe('control socket', () => {
  it('is created 0600 and answers list with each module, its uptime and the deployment', async () => {
    const { client, runtime, socketPath } = await startServer();
    runtime.addModule('sensor');
    runtime.addModule('uploader', { status: 'backoff', type: 'container', restartCount: 4, lastStartedAt: null });

    expect(lstatSync(socketPath).isSocket()).toBe(true);
    expect(lstatSync(socketPath).mode & 0o777).toBe(0o600);

    const list = await client.request({ op: 'list' });
    expect(list.deployment).toEqual({ source: 'local', id: 'dep-1', version: 3, code: 200, description: 'applied' });
    const sensor = list.modules.find((m) => m.name === 'sensor');
    expect(sensor?.status).toBe('running');
    expect(sensor?.uptimeSecs).toBeGreaterThanOrEqual(90);
    const uploader = list.modules.find((m) => m.name === 'uploader');
    expect(uploader).toMatchObject({ type: 'container', status: 'backoff', restartCount: 4, uptimeSecs: null });
  });

  it('answers status with the agent facts and the deployment', async () => {
    const { client, runtime } = await startServer();
    runtime.addModule('a');
    const status = await client.request({ op: 'status' });
    expect(status).toMatchObject({ deviceId: 'dev-1', agentVersion: '9.9.9', pid: process.pid, modules: 1 });
    expect(status.deployment.version).toBe(3);
  });

  it('returns logs with tail and since, and restarts a module', async () => {
    const { client, runtime } = await startServer();
    runtime.addModule('sensor');
    runtime.write('sensor', 'old', '2026-01-01T00:00:00.000Z');
    runtime.write('sensor', 'one', '2026-06-01T00:00:00.000Z');
    runtime.write('sensor', 'two', '2026-06-01T00:00:01.000Z');
    runtime.write('sensor', 'three', '2026-06-01T00:00:02.000Z');

    const tail = await client.request({ op: 'logs', module: 'sensor', tail: 2 });
    expect(tail.lines.map((l) => l.text)).toEqual(['two', 'three']);
    const since = await client.request({ op: 'logs', module: 'sensor', since: '2026-03-01T00:00:00Z' });
    expect(since.lines.map((l) => l.text)).toEqual(['one', 'two', 'three']);

    await client.request({ op: 'restart', module: 'sensor' });
    await client.request({ op: 'restart', module: 'sensor' });
    expect(runtime.views.get('sensor')?.restartCount).toBe(2);
  });

  it('streams new lines with follow until the client closes, then stops following', async () => {
    const { client, runtime } = await startServer();
    runtime.addModule('sensor');
    runtime.write('sensor', 'before-1');
    runtime.write('sensor', 'before-2');

    const abort = new AbortController();
    const received: string[] = [];
    const reading = (async () => {
      for await (const line of client.followLogs('sensor', { tail: 1 }, abort.signal)) received.push(line.text);
    })();
    await waitFor(() => received.includes('before-2'), { what: 'the backlog line' });
    await waitFor(() => runtime.activeFollows === 1, { what: 'the server to follow the module' });
    runtime.write('sensor', 'live-1');
    runtime.write('sensor', 'live-2');
    await waitFor(() => received.includes('live-2'), { what: 'the followed lines' });
    expect(received).toEqual(['before-2', 'live-1', 'live-2']);

    abort.abort();
    await reading;
    await waitFor(() => runtime.activeFollows === 0, { what: 'the server to stop following after the client left' });
  });

  it('refuses unknown modules with NOT_FOUND naming the modules there are', async () => {
    const { client, runtime } = await startServer();
    runtime.addModule('sensor');
    await expectControlError(client.request({ op: 'restart', module: 'nope' }), 'NOT_FOUND', /"nope".*sensor/);
    await expectControlError(client.request({ op: 'logs', module: 'nope' }), 'NOT_FOUND', /"nope"/);
    const abort = new AbortController();
    const follow = (async () => {
      for await (const _ of client.followLogs('nope', {}, abort.signal)) {
        // no lines expected
      }
    })();
    await expectControlError(follow, 'NOT_FOUND', /"nope"/);
  });

  it('answers malformed, unversioned and unknown requests with BAD_REQUEST / UNSUPPORTED_VERSION, and keeps serving', async () => {
    const { socketPath, runtime } = await startServer();
    runtime.addModule('sensor');
    const responses = await rawExchange(
      socketPath,
      `${[
        'not json',
        JSON.stringify({ op: 'list' }),
        JSON.stringify({ v: 2, op: 'list' }),
        JSON.stringify({ v: 1, op: 'explode' }),
        JSON.stringify({ v: 1, op: 'logs', module: 'sensor', tail: -3 }),
        JSON.stringify({ v: 1, op: 'list' }),
      ].join('\n')}\n`,
      6,
    );
    const errors = responses.slice(0, 5) as Array<{ ok: false; error: { code: string; message: string } }>;
    expect(errors.map((r) => r.error.code)).toEqual([
      'BAD_REQUEST',
      'UNSUPPORTED_VERSION',
      'UNSUPPORTED_VERSION',
      'BAD_REQUEST',
      'BAD_REQUEST',
    ]);
    expect(errors[0]?.error.message).toMatch(/not valid JSON/);
    expect(errors[2]?.error.message).toMatch(/version 2 .*v1/);
    expect(errors[4]?.error.message).toMatch(/tail/);
    expect(responses[5]).toMatchObject({ v: 1, ok: true, data: { modules: [{ name: 'sensor' }] } });
  });

  it('passes a deploy input to applyLocal and returns the outcome, refusals included', async () => {
    const { client, deployed } = await startServer();
    const applied = await client.request({ op: 'deploy', input: { modules: {} } });
    expect(applied).toEqual({ code: 200, description: 'applied local deployment' });
    const refused = await client.request({ op: 'deploy', input: { nothing: true } });
    expect(refused.code).toBe(400);
    expect(refused.errors).toEqual([{ path: 'modules', message: 'required' }]);
    expect(deployed).toEqual([{ modules: {} }, { nothing: true }]);
  });

  it('replaces a stale socket left by a killed agent', async () => {
    const socketPath = join(makeTempDir(), 'agent.sock');
    const holder = await spawnProcess(
      process.execPath,
      [
        '-e',
        `require('node:net').createServer().listen(${JSON.stringify(socketPath)}, () => console.log('listening'))`,
      ],
      { readyWhen: /listening/ },
    );
    await holder.kill();
    expect(lstatSync(socketPath).isSocket()).toBe(true); // SIGKILL leaves the file behind

    const { client, runtime } = await startServer({ socketPath });
    runtime.addModule('sensor');
    expect((await client.request({ op: 'list' })).modules).toHaveLength(1);
  });

  it('refuses to start a second server on a socket another one answers on, leaving the first serving', async () => {
    const { socketPath, client, runtime } = await startServer();
    runtime.addModule('sensor');
    const second = new ControlServer({
      socketPath,
      runtime: new InMemoryRuntime(),
      applyLocal: async () => ({ code: 500, description: 'unused' }),
      status: () => ({ deviceId: 'x', agentVersion: 'x', pid: 0, startedAt: '', uptimeSecs: 0, connected: false }),
      log: silent,
    });
    await expectControlError(second.start(), 'CONTROL_SOCKET_IN_USE', /in use: another outpost-agent is running/);
    expect((await client.request({ op: 'list' })).modules.map((m) => m.name)).toEqual(['sensor']);
  });

  it('never deletes a regular file that sits where the socket should be', async () => {
    const socketPath = join(makeTempDir(), 'agent.sock');
    writeFileSync(socketPath, 'precious');
    const server = new ControlServer({
      socketPath,
      runtime: new InMemoryRuntime(),
      applyLocal: async () => ({ code: 500, description: 'unused' }),
      status: () => ({ deviceId: 'x', agentVersion: 'x', pid: 0, startedAt: '', uptimeSecs: 0, connected: false }),
      log: silent,
    });
    await expectControlError(server.start(), 'CONTROL_SOCKET_IN_USE', /not a socket/);
    expect(readFileSync(socketPath, 'utf8')).toBe('precious');
  });

  it('removes the socket on close, after which the client says the agent is not running and how to start it', async () => {
    const { server, socketPath, client } = await startServer();
    await server.close();
    expect(lstatSync(socketPath, { throwIfNoEntry: false })).toBeUndefined();
    await expectControlError(
      client.request({ op: 'list' }),
      'AGENT_NOT_RUNNING',
      new RegExp(`not running.*${socketPath.replaceAll('/', '\\/')}.*outpost-agent run --config`),
    );
  });
});
