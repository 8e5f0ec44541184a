import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentGoodbyeV1,
  AgentHeartbeatV1,
  AgentHelloV1,
  decodeMessage,
  type MessageData,
  subjects,
} from '@outpost/protocol';
import { type SpawnedProcess, spawnProcess, waitFor } from '@outpost/testing';
import type { NatsConnection } from 'nats';

export const CLI_PATH = new URL('../dist/cli.js', import.meta.url).pathname;

/** Temp dirs created by a test file, removed by `removeTempDirs` in afterAll. */
const tempDirs: string[] = [];

export function makeTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-agent-test-'));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Writes `content` (an object → JSON, a string → as is) to `<dir>/agent.json` and returns the path. */
export function writeConfig(dir: string, content: Record<string, unknown> | string): string {
  const path = join(dir, 'agent.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

let deviceCounter = 0;
/** A device id unique within the test run, so tests sharing a server never see each other's messages. */
export function uniqueDeviceId(label: string): string {
  deviceCounter++;
  return `${label}-${process.pid}-${deviceCounter}`;
}

/** Runs `node dist/cli.js <args>` to completion (the CLI exits on its own for these). */
export async function runCli(args: string[], cwd?: string): Promise<{ code: number | null; output: string }> {
  const proc = await spawnProcess(process.execPath, [CLI_PATH, ...args], { cwd });
  const code = await proc.exited;
  return { code, output: proc.output() };
}

/** Agents started by a test file; `killAgents` in afterEach makes sure none outlives its test. */
const agents: SpawnedProcess[] = [];

export async function killAgents(): Promise<void> {
  await Promise.all(agents.splice(0).map((proc) => proc.kill()));
}

export interface RunningAgent {
  readonly proc: SpawnedProcess;
  readonly deviceId: string;
  readonly configPath: string;
}

/** Starts `outpost-agent run` with a fresh config and state dir; resolves once it logged "agent started". */
export async function startAgent(options: {
  natsUrl: string;
  deviceId: string;
  heartbeatIntervalMs?: number;
  cliPath?: string;
}): Promise<RunningAgent> {
  const dir = makeTempDir();
  const configPath = writeConfig(dir, {
    deviceId: options.deviceId,
    natsUrl: options.natsUrl,
    stateDir: 'state',
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 200,
  });
  const proc = await spawnProcess(process.execPath, [options.cliPath ?? CLI_PATH, 'run', '--config', configPath], {
    readyWhen: /"msg":"agent started"/,
    readyTimeoutMs: 30_000,
  });
  agents.push(proc);
  return { proc, deviceId: options.deviceId, configPath };
}

export interface LogLine {
  readonly msg: string;
  readonly level: number;
  readonly [key: string]: unknown;
}

/** The agent's JSON log lines so far (stdout); anything else it printed is skipped. */
export function logLines(proc: SpawnedProcess): LogLine[] {
  return proc
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

export function logsWithMsg(proc: SpawnedProcess, msg: string): LogLine[] {
  return logLines(proc).filter((line) => line.msg === msg);
}

/** Waits until the agent has logged `msg` at least `count` times. */
export function waitForLog(proc: SpawnedProcess, msg: string, count = 1, timeoutMs = 30_000): Promise<LogLine[]> {
  return waitFor(
    () => {
      const lines = logsWithMsg(proc, msg);
      return lines.length >= count ? lines : null;
    },
    { timeoutMs, what: `${count}× log "${msg}"` },
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\n--- agent output ---\n${proc.output().slice(-3000)}`);
  });
}

export interface DeviceRecorder {
  hellos(): MessageData<typeof AgentHelloV1>[];
  heartbeats(): MessageData<typeof AgentHeartbeatV1>[];
  goodbyes(): MessageData<typeof AgentGoodbyeV1>[];
  /** Message kinds in arrival order: 'hello' | 'heartbeat' | 'goodbye' | the subject for anything else. */
  kinds(): string[];
  stop(): void;
}

/**
 * Subscribes to everything a device publishes and decodes it with the protocol codec (which throws on anything
 * malformed, failing the test that reads it). Await `nc.flush()` before starting the agent so nothing is missed.
 */
export function recordDevice(nc: NatsConnection, deviceId: string): DeviceRecorder {
  const received: Array<{ subject: string; data: Uint8Array }> = [];
  const sub = nc.subscribe(subjects.device.all(deviceId), {
    callback: (err, msg) => {
      if (!err) received.push({ subject: msg.subject, data: msg.data });
    },
  });
  const on = (subject: string) => received.filter((m) => m.subject === subject).map((m) => m.data);
  return {
    hellos: () => on(subjects.device.hello(deviceId)).map((data) => decodeMessage(AgentHelloV1, data)),
    heartbeats: () => on(subjects.device.heartbeat(deviceId)).map((data) => decodeMessage(AgentHeartbeatV1, data)),
    goodbyes: () => on(subjects.device.goodbye(deviceId)).map((data) => decodeMessage(AgentGoodbyeV1, data)),
    kinds: () =>
      received.map((m) => {
        if (m.subject === subjects.device.hello(deviceId)) return 'hello';
        if (m.subject === subjects.device.heartbeat(deviceId)) return 'heartbeat';
        if (m.subject === subjects.device.goodbye(deviceId)) return 'goodbye';
        return m.subject;
      }),
    stop: () => sub.unsubscribe(),
  };
}
