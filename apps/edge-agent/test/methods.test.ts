import { readFileSync } from 'node:fs';
import {
  decodeMessage,
  encodeMessage,
  GetModuleLogsResult,
  LogsChunkV1,
  LogsRequestV1,
  type MessageData,
  MethodReplyV1,
  MethodRequestV1,
  OutpostError,
  PingResult,
  subjects,
  tryDecodeReply,
} from '@outpost/protocol';
import { type SecureNatsServerHandle, startSecureNatsServer, waitFor } from '@outpost/testing';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConnection } from '../src/connection/index.js';
import { AgentMethods } from '../src/methods/index.js';
import { InMemoryRuntime } from './control-fixtures.js';
import { uniqueDeviceId } from './helpers.js';

/**
 * Agent methods on a real nats-server in operator/TLS mode: the agent side runs on the device's own credential (so
 * its permissions are the production ones), the cloud side on the cloud API's.
 */
let secure: SecureNatsServerHandle;
let cloud: NatsConnection;
let connection: AgentConnection;
let methods: AgentMethods;
const runtime = new InMemoryRuntime();
const deviceId = uniqueDeviceId('methods');
const BOOT_ID = '3f1c7a52-6a8e-4c1e-9d3a-0f0a1b2c3d4e';

beforeAll(async () => {
  secure = await startSecureNatsServer();
  cloud = await connect({
    servers: secure.url,
    tls: { caFile: secure.caFile },
    authenticator: credsAuthenticator(readFileSync(secure.serviceCreds.cloudApi)),
    inboxPrefix: subjects.cloudApi.inboxPrefix,
  });
  const creds = await secure.mintDeviceCreds(deviceId);
  const log = pino({ level: 'silent' });
  connection = new AgentConnection({
    servers: [secure.url],
    name: `methods-test ${deviceId}`,
    inboxPrefix: subjects.device.inboxPrefix(deviceId),
    credsFile: creds.credsFile,
    caFile: secure.caFile,
    log,
  });
  methods = new AgentMethods({ deviceId, agentVersion: '1.2.3', bootId: BOOT_ID, connection, runtime, log });
  methods.start();
  const connected = new Promise<void>((resolve) => connection.onConnected(() => resolve()));
  connection.start();
  await connected;
  runtime.addModule('sensor');
  for (let i = 0; i < 5; i++) runtime.write('sensor', `line ${i}`);
});

afterAll(async () => {
  methods?.stop();
  await connection?.close();
  await cloud?.close();
  await secure?.stop();
});

type Reply = ReturnType<typeof tryDecodeReply<typeof MethodReplyV1>>;

/** A cloud → device method call the way the API makes it: reply subject inside the device's space. */
async function call(method: string, payload: unknown, raw?: Uint8Array): Promise<Reply> {
  const reply = await cloud.request(
    subjects.device.agentMethod(deviceId, method),
    raw ?? encodeMessage(MethodRequestV1, { payload: payload as null, timeoutMs: 10_000 }),
    { timeout: 15_000, noMux: true, reply: subjects.device.reply(deviceId) },
  );
  return tryDecodeReply(MethodReplyV1, reply.data);
}

function okPayload(reply: Reply): unknown {
  if (!reply.ok) throw OutpostError.fromBody(reply.error);
  expect(reply.value.status).toBe(200);
  return reply.value.payload;
}

function errorOf(reply: Reply) {
  if (reply.ok) throw new Error(`expected an error reply, got ${JSON.stringify(reply.value)}`);
  expect(reply.fromPeer).toBe(true);
  return reply.error;
}

describe('agent direct methods', () => {
  it('ping answers with the agent version, boot id and uptime', async () => {
    const result = PingResult.parse(okPayload(await call('ping', null)));
    expect(result).toMatchObject({ agentVersion: '1.2.3', bootId: BOOT_ID });
    expect(result.uptimeSecs).toBeGreaterThanOrEqual(0);
  });

  it('restartModule restarts the module', async () => {
    const before = runtime.views.get('sensor')?.restartCount ?? 0;
    okPayload(await call('restartModule', { module: 'sensor' }));
    expect(runtime.views.get('sensor')?.restartCount).toBe(before + 1);
  });

  it('getModuleLogs returns the last lines asked for', async () => {
    const result = GetModuleLogsResult.parse(okPayload(await call('getModuleLogs', { module: 'sensor', tail: 2 })));
    expect(result.module).toBe('sensor');
    expect(result.lines.map((line) => line.text)).toEqual(['line 3', 'line 4']);
  });

  it('answers NOT_FOUND for an unknown method or module', async () => {
    const method = errorOf(await call('reboot', null));
    expect(method.code).toBe('NOT_FOUND');
    expect(method.message).toMatch(/no agent method "reboot".*ping, restartModule, getModuleLogs/);

    const restart = errorOf(await call('restartModule', { module: 'ghost' }));
    expect(restart.code).toBe('NOT_FOUND');
    expect(restart.message).toMatch(/"ghost"/);
    const logs = errorOf(await call('getModuleLogs', { module: 'ghost' }));
    expect(logs.code).toBe('NOT_FOUND');
  });

  it('answers BAD_MESSAGE naming the problem for a malformed request or payload', async () => {
    const payload = errorOf(await call('restartModule', { modul: 'sensor' }));
    expect(payload.code).toBe('BAD_MESSAGE');
    expect(payload.details.map((d) => d.path)).toContain('payload.module');

    const tail = errorOf(await call('getModuleLogs', { module: 'sensor', tail: 0 }));
    expect(tail.code).toBe('BAD_MESSAGE');
    expect(tail.message).toMatch(/payload\.tail/);

    const notJson = errorOf(await call('ping', null, new TextEncoder().encode('{oops')));
    expect(notJson.code).toBe('BAD_MESSAGE');
    expect(notJson.message).toMatch(/not valid JSON/);

    const noTimeout = errorOf(
      await call(
        'ping',
        null,
        new TextEncoder().encode(JSON.stringify({ type: 'method.request', v: '1.0', data: {} })),
      ),
    );
    expect(noTimeout.code).toBe('BAD_MESSAGE');
    expect(noTimeout.details.map((d) => d.path)).toContain('data.timeoutMs');
  });
});

type Chunk = MessageData<typeof LogsChunkV1>;

/** Sends a logs.request and collects chunks up to the final one. */
async function requestLogs(request: Omit<MessageData<typeof LogsRequestV1>, 'streamId'>): Promise<Chunk[]> {
  const streamId = `s${Math.random().toString(36).slice(2, 10)}`;
  const chunks: Chunk[] = [];
  const sub = cloud.subscribe(subjects.device.logsChunk(deviceId, streamId), {
    callback: (err, msg) => {
      if (!err) chunks.push(decodeMessage(LogsChunkV1, msg.data));
    },
  });
  await cloud.flush();
  cloud.publish(subjects.device.logsRequest(deviceId), encodeMessage(LogsRequestV1, { streamId, ...request }));
  try {
    await waitFor(() => chunks.some((chunk) => chunk.final), { what: `the final chunk of ${streamId}` });
  } finally {
    sub.unsubscribe();
  }
  for (const chunk of chunks) expect(chunk.streamId).toBe(streamId);
  return chunks;
}

describe('logs.request streams', () => {
  it('sends an empty first chunk at once, then the lines in order, the last chunk final', async () => {
    runtime.addModule('chatty');
    for (let i = 0; i < 2_500; i++) runtime.write('chatty', `chatty ${i}`);
    const chunks = await requestLogs({ module: 'chatty' });
    expect(chunks.map((chunk) => chunk.seq)).toEqual(chunks.map((_, index) => index));
    expect(chunks[0]).toMatchObject({ seq: 0, lines: [], final: false });
    expect(chunks.filter((chunk) => chunk.final)).toHaveLength(1);
    expect(chunks.at(-1)?.final).toBe(true);
    expect(chunks.length).toBeGreaterThanOrEqual(4); // 2,500 lines, at most 1,000 per chunk
    const texts = chunks.flatMap((chunk) => chunk.lines.map((line) => line.text));
    expect(texts).toHaveLength(2_500);
    expect(texts[0]).toBe('chatty 0');
    expect(texts.at(-1)).toBe('chatty 2499');
    expect(chunks.every((chunk) => chunk.error === undefined)).toBe(true);
  });

  it('applies tail, and ends with a final empty chunk when there is nothing', async () => {
    const tail = await requestLogs({ module: 'sensor', tail: 2 });
    expect(tail.flatMap((chunk) => chunk.lines.map((line) => line.text))).toEqual(['line 3', 'line 4']);

    runtime.addModule('quiet');
    const empty = await requestLogs({ module: 'quiet' });
    expect(empty.map((chunk) => [chunk.seq, chunk.lines.length, chunk.final])).toEqual([
      [0, 0, false],
      [1, 0, true],
    ]);
  });

  it('answers an unknown module with one final chunk carrying NOT_FOUND', async () => {
    const chunks = await requestLogs({ module: 'ghost' });
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatchObject({ seq: 0, final: true, lines: [], error: { code: 'NOT_FOUND' } });
    expect(chunks[0]?.error?.message).toMatch(/"ghost"/);
  });
});

describe('across a server restart', () => {
  it('still answers methods once the agent has reconnected', async () => {
    await secure.restart();
    await waitFor(
      async () => {
        try {
          return PingResult.safeParse(okPayload(await call('ping', null))).success;
        } catch {
          return false;
        }
      },
      { timeoutMs: 60_000, what: 'ping answered after the restart' },
    );
  });
});
