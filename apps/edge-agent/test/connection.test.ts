import {
  DesiredGetReplyV1,
  DesiredGetRequestV1,
  decodeReply,
  encodeMessage,
  encodeReply,
  subjects,
} from '@outpost/protocol';
import { type NatsServerHandle, startNatsServer, waitFor } from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConnection } from '../src/connection/index.js';
import { uniqueDeviceId } from './helpers.js';

let server: NatsServerHandle;
let cloud: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  cloud = await connect({ servers: server.url });
});

afterAll(async () => {
  await cloud?.close();
  await server?.stop();
});

describe('agent connection', () => {
  it('receives replies under its own inbox prefix, which a device credential can be limited to', async () => {
    const deviceId = uniqueDeviceId('inbox');
    const replySubjects: string[] = [];
    // A stand-in for the cloud answering the agent's desired-state request; it notes where the answer went.
    cloud.subscribe(subjects.device.desiredGet(deviceId), {
      callback: (_err, msg) => {
        replySubjects.push(msg.reply ?? '');
        msg.respond(encodeReply(DesiredGetReplyV1, { status: 'unchanged', version: 3 }));
      },
    });
    await cloud.flush();

    const connection = new AgentConnection({
      servers: [server.url],
      name: `outpost-agent ${deviceId}`,
      inboxPrefix: subjects.device.inboxPrefix(deviceId),
      log: pino({ level: 'silent' }),
    });
    connection.start();
    try {
      const nc = await waitFor(() => connection.current(), { what: 'the agent to connect' });
      const reply = await nc.request(
        subjects.device.desiredGet(deviceId),
        encodeMessage(DesiredGetRequestV1, { knownVersion: 3 }),
      );
      expect(decodeReply(DesiredGetReplyV1, reply.data)).toEqual({ status: 'unchanged', version: 3 });
      expect(replySubjects).toHaveLength(1);
      expect(replySubjects[0]?.startsWith(`_INBOX_${deviceId}.`)).toBe(true);
    } finally {
      await connection.close();
    }
  });
});
