import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeMessage,
  encodeMessage,
  GetModuleLogsResult,
  LogsChunkV1,
  LogsRequestV1,
  type MessageData,
  MethodReplyV1,
  MethodRequestV1,
  PingResult,
  subjects,
  tryDecodeReply,
} from '@outpost/protocol';
import { type NatsServerHandle, type SpawnedProcess, spawnProcess, startNatsServer, waitFor } from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ListResult } from '../src/control/index.js';
import { CLI_PATH, makeTempDir, removeTempDirs, runCli, uniqueDeviceId, writeConfig } from './helpers.js';

/**
 * The device CLI against a running agent binary: real process modules deployed with `outpost-agent deploy --file`
 * (allowUnsignedLocal), then list / logs / restart over the control socket, and the agent methods over real NATS.
 */
let nats: NatsServerHandle;
let cloud: NatsConnection;
let agent: SpawnedProcess;
let configPath: string;
let dir: string;
const deviceId = uniqueDeviceId('cli');

/** A process module running a node script; `marker` makes its argv unique to this test run. */
function nodeModule(script: string, version: string) {
  return {
    type: 'process',
    version,
    restartPolicy: 'always',
    process: { command: process.execPath, args: ['-e', script, `${deviceId}-marker`] },
  };
}

const MANIFEST = {
  schemaVersion: '1.0',
  modules: {
    greeter: nodeModule(
      `console.log('hello from greeter pid ' + process.pid); console.error('greeter warning'); setInterval(() => {}, 1000);`,
      '1.0.0',
    ),
    ticker: nodeModule(`let n = 0; setInterval(() => console.log('tick ' + n++), 100);`, '2.1.0'),
  },
};

beforeAll(async () => {
  nats = await startNatsServer();
  cloud = await connect({ servers: nats.url });
  dir = makeTempDir();
  configPath = writeConfig(dir, {
    deviceId,
    natsUrl: nats.url,
    stateDir: 'state',
    heartbeatIntervalMs: 500,
    allowUnsignedLocal: true,
    // Tests run as root here: modules then run as an unprivileged user, never root.
    moduleUser: 'nobody',
    // No engine here: a container module can be deployed but not run (check must then fail, not warn).
    containers: { dockerHost: `unix://${join(dir, 'no-engine.sock')}` },
  });
  agent = await spawnProcess(process.execPath, [CLI_PATH, 'run', '--config', configPath], {
    readyWhen: /"msg":"control socket listening"/,
    readyTimeoutMs: 30_000,
  });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(MANIFEST));
}, 60_000);

afterAll(async () => {
  // SIGTERM: the agent stops; its process modules are left as the driver decides on agent restarts, so remove them
  // first with an empty deployment.
  if (agent) {
    writeFileSync(join(dir, 'empty.json'), JSON.stringify({ schemaVersion: '1.0', modules: {} }));
    await runCli(['deploy', '--file', join(dir, 'empty.json'), '--config', configPath]);
    await agent.stop('SIGTERM', 15_000);
  }
  await cloud?.close();
  await nats?.stop();
  removeTempDirs();
});

async function listJson(): Promise<ListResult> {
  const { code, output } = await runCli(['list', '--config', configPath, '--json']);
  expect(code, output).toBe(0);
  return JSON.parse(output) as ListResult;
}

function moduleOf(list: ListResult, name: string) {
  const found = list.modules.find((module) => module.name === name);
  if (!found) throw new Error(`no module ${name} in ${JSON.stringify(list)}`);
  return found;
}

describe('outpost-agent CLI against a running agent', () => {
  it('deploy --file applies the manifest and list shows both modules running', async () => {
    const deploy = await runCli(['deploy', '--file', join(dir, 'manifest.json'), '--config', configPath]);
    expect(deploy.output).toMatch(/deployment applied \(200\)/);
    expect(deploy.code).toBe(0);

    await waitFor(
      async () => {
        const list = await listJson();
        return list.modules.length === 2 && list.modules.every((module) => module.status === 'running');
      },
      { timeoutMs: 60_000, what: 'both modules running' },
    );
    const list = await listJson();
    expect(list.deployment).toMatchObject({ source: 'local', code: 200 });
    expect(moduleOf(list, 'greeter')).toMatchObject({ type: 'process', version: '1.0.0', restartCount: 0 });
    expect(moduleOf(list, 'ticker')).toMatchObject({ type: 'process', version: '2.1.0' });

    const table = await runCli(['list', '--config', configPath]);
    expect(table.code).toBe(0);
    const lines = table.output.trim().split('\n');
    expect(lines.find((line) => line.startsWith('MODULE'))).toMatch(
      /^MODULE\s+TYPE\s+STATUS\s+VERSION\s+RESTARTS\s+UPTIME$/,
    );
    expect(lines.find((line) => line.startsWith('greeter'))).toMatch(
      /^greeter\s+process\s+running\s+1\.0\.0\s+0\s+\d+s$/,
    );
    expect(lines.find((line) => line.startsWith('ticker'))).toMatch(
      /^ticker\s+process\s+running\s+2\.1\.0\s+0\s+\d+s$/,
    );
  });

  it("logs prints a module's output, --tail limits it, --json parses", async () => {
    const greeter = await waitFor(
      async () => {
        const result = await runCli(['logs', 'greeter', '--config', configPath]);
        return result.output.includes('hello from greeter') && result.output.includes('greeter warning')
          ? result
          : null;
      },
      { timeoutMs: 30_000, what: "greeter's stdout and stderr in its logs" },
    );
    expect(greeter.code).toBe(0);

    await waitFor(async () => (await runCli(['logs', 'ticker', '--config', configPath])).output.includes('tick 5'), {
      what: 'ticker to have ticked a few times',
    });
    const tail = await runCli(['logs', 'ticker', '--tail', '2', '--config', configPath]);
    expect(tail.code).toBe(0);
    const tailLines = tail.output.trim().split('\n');
    expect(tailLines).toHaveLength(2);
    for (const line of tailLines) expect(line).toMatch(/^tick \d+$/);

    const json = await runCli(['logs', 'ticker', '--tail', '3', '--json', '--config', configPath]);
    const parsed = JSON.parse(json.output) as { module: string; lines: Array<{ text: string; stream: string }> };
    expect(parsed.module).toBe('ticker');
    expect(parsed.lines).toHaveLength(3);
    expect(parsed.lines.every((line) => line.stream === 'stdout' && /^tick \d+$/.test(line.text))).toBe(true);
  });

  it('logs --follow keeps printing new lines until interrupted', async () => {
    const follow = await spawnProcess(process.execPath, [
      CLI_PATH,
      'logs',
      'ticker',
      '--follow',
      '--tail',
      '1',
      '--config',
      configPath,
    ]);
    const ticks = () => [...follow.output().matchAll(/^tick (\d+)$/gm)].map((match) => Number(match[1]));
    await waitFor(() => ticks().length >= 5, { timeoutMs: 30_000, what: 'five ticks through --follow' });
    const seen = ticks();
    // Consecutive: every new line arrived, in order.
    expect(seen.slice(1)).toEqual(seen.slice(1).map((_, index) => (seen[1] as number) + index));
    expect(await follow.stop('SIGINT')).toBe(0);
  });

  it('restart restarts the module: a new process runs and lastRestartedAt moves on', async () => {
    const before = moduleOf(await listJson(), 'greeter');
    const restart = await runCli(['restart', 'greeter', '--config', configPath]);
    expect(restart.output).toMatch(/restarted greeter/);
    expect(restart.code).toBe(0);
    const after = await waitFor(
      async () => {
        const view = moduleOf(await listJson(), 'greeter');
        return view.status === 'running' && view.lastRestartedAt !== before.lastRestartedAt ? view : null;
      },
      { timeoutMs: 30_000, what: 'greeter restarted and running' },
    );
    expect(Date.parse(after.lastRestartedAt ?? '')).toBeGreaterThan(Date.parse(before.lastStartedAt ?? ''));
    await waitFor(
      async () => {
        const logs = await runCli(['logs', 'greeter', '--config', configPath]);
        return new Set([...logs.output.matchAll(/hello from greeter pid (\d+)/g)].map((m) => m[1])).size >= 2;
      },
      { timeoutMs: 30_000, what: 'a second greeter process in the logs' },
    );
  });

  it('answers agent methods over NATS from the running agent', async () => {
    const call = async (method: string, payload: unknown) => {
      const reply = await cloud.request(
        subjects.device.agentMethod(deviceId, method),
        encodeMessage(MethodRequestV1, { payload: payload as null, timeoutMs: 10_000 }),
        { timeout: 15_000, noMux: true, reply: subjects.device.reply(deviceId) },
      );
      return tryDecodeReply(MethodReplyV1, reply.data);
    };
    const ping = await call('ping', null);
    expect(ping.ok && PingResult.parse(ping.value.payload).agentVersion).toMatch(/^\d+\.\d+\.\d+/);
    const logs = await call('getModuleLogs', { module: 'greeter', tail: 50 });
    if (!logs.ok) throw new Error(JSON.stringify(logs.error));
    const result = GetModuleLogsResult.parse(logs.value.payload);
    expect(result.lines.some((line) => line.text.startsWith('hello from greeter'))).toBe(true);
    const missing = await call('restartModule', { module: 'ghost' });
    expect(missing.ok ? null : missing.error.code).toBe('NOT_FOUND');
  });

  it('streams logs.request chunks from the running agent', async () => {
    const streamId = `cli${Date.now()}`;
    const chunks: MessageData<typeof LogsChunkV1>[] = [];
    const sub = cloud.subscribe(subjects.device.logsChunk(deviceId, streamId), {
      callback: (err, msg) => {
        if (!err) chunks.push(decodeMessage(LogsChunkV1, msg.data));
      },
    });
    await cloud.flush();
    cloud.publish(
      subjects.device.logsRequest(deviceId),
      encodeMessage(LogsRequestV1, { streamId, module: 'ticker', tail: 4 }),
    );
    await waitFor(() => chunks.some((chunk) => chunk.final), { what: 'the final logs chunk' });
    sub.unsubscribe();
    expect(chunks[0]).toMatchObject({ seq: 0, lines: [], final: false });
    expect(chunks.map((chunk) => chunk.seq)).toEqual(chunks.map((_, index) => index));
    const lines = chunks.flatMap((chunk) => chunk.lines.map((line) => line.text));
    expect(lines).toHaveLength(4);
    for (const text of lines) expect(text).toMatch(/^tick \d+$/);
  });

  it('fails clearly: unknown module, refused deployment, unreadable file, bad usage', async () => {
    const ghost = await runCli(['restart', 'ghost', '--config', configPath]);
    expect(ghost.code).toBe(1);
    expect(ghost.output).toMatch(/no module "ghost".*\(NOT_FOUND\)/);
    const ghostJson = await runCli(['logs', 'ghost', '--json', '--config', configPath]);
    expect(ghostJson.code).toBe(1);
    expect(JSON.parse(ghostJson.output)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });

    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ schemaVersion: '1.0', modules: { 'bad name!': {} } }));
    const refused = await runCli(['deploy', '--file', join(dir, 'bad.json'), '--config', configPath]);
    expect(refused.code).toBe(1);
    expect(refused.output).toMatch(/deployment refused \(400\)/);
    expect(refused.output).toMatch(/modules/);
    // Nothing changed: both modules still run.
    expect((await listJson()).modules.map((module) => module.name).sort()).toEqual(['greeter', 'ticker']);

    const missingFile = await runCli(['deploy', '--file', join(dir, 'nope.json'), '--config', configPath]);
    expect(missingFile.code).toBe(2);
    expect(missingFile.output).toMatch(/nope\.json: file not found/);
    const noModule = await runCli(['logs', '--config', configPath]);
    expect(noModule.code).toBe(2);
    const badTail = await runCli(['logs', 'ticker', '--tail', 'lots', '--config', configPath]);
    expect(badTail.code).toBe(2);
    expect(badTail.output).toMatch(/--tail must be a whole number/);
  });

  it('refuses to start a second agent on the same control socket, leaving the first running', async () => {
    const second = await spawnProcess(process.execPath, [CLI_PATH, 'run', '--config', configPath]);
    const code = await second.exited;
    expect(code).not.toBe(0);
    expect(second.output()).toMatch(/control socket .*agent\.sock is in use: another outpost-agent is running/);
    const list = await listJson();
    expect(list.modules.every((module) => module.status === 'running')).toBe(true);
  });

  it('check fails the container engine line when a deployment with a container module failed for want of an engine', async () => {
    const withContainer = {
      ...MANIFEST,
      modules: { ...MANIFEST.modules, camera: { type: 'container', container: { image: 'localhost/camera:1' } } },
    };
    writeFileSync(join(dir, 'with-container.json'), JSON.stringify(withContainer));
    const deploy = await runCli(['deploy', '--file', join(dir, 'with-container.json'), '--config', configPath]);
    // Refused as a whole: the camera cannot run without an engine, and the process modules are left as they were.
    expect(deploy.code, deploy.output).toBe(1);
    expect(deploy.output).toMatch(/deployment failed \(500\): .*camera.*ENGINE_UNAVAILABLE/);
    const list = await listJson();
    expect(list.modules.map((module) => module.name).sort()).toEqual(['greeter', 'ticker']);
    expect(list.modules.every((module) => module.status === 'running')).toBe(true);

    const { code, output } = await runCli(['check', '--config', configPath, '--timeout', '3000']);
    expect(code).toBe(1);
    expect(output).toMatch(
      /^fail containers: no container engine at unix:\/\/.*no-engine\.sock.*the last deployment failed for it: v\d+ \(500\)$/m,
    );
    expect(output).toMatch(/fix: start the engine/);
    // Plain dev NATS is reachable, but only with a warning.
    expect(output).toMatch(/^warn nats nats:\/\/127\.0\.0\.1:\d+: connected without a credential \(plaintext, no TLS/m);
  });

  it('says the agent is not running, naming the socket and how to start it, once it stopped', async () => {
    const other = makeTempDir();
    const idle = writeConfig(other, { deviceId: uniqueDeviceId('idle'), natsUrl: nats.url, stateDir: 'state' });
    const { code, output } = await runCli(['list', '--config', idle]);
    expect(code).toBe(1);
    expect(output).toContain(join(other, 'state', 'agent.sock'));
    expect(output).toMatch(/not running.*outpost-agent run --config/);
  });
});
