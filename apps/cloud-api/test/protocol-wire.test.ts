import {
  AgentHelloV1,
  decodeReply,
  encodeMessage,
  encodeReply,
  OutpostError,
  rpc,
  type SubjectDef,
  subjectMap,
  subjects,
} from '@outpost/protocol';
import { headers } from 'nats';
import { describe, expect, it } from 'vitest';
import {
  isEmptyReply,
  ProtocolReplySerializer,
  ProtocolRequestDeserializer,
  type ProtocolRoute,
} from '../src/nats/protocol-wire.js';

const serializer = new ProtocolReplySerializer();
const wire = (packet: Parameters<ProtocolReplySerializer['serialize']>[0]) =>
  JSON.parse(new TextDecoder().decode(serializer.serialize(packet).data)) as unknown;

const routes = new Map<string, ProtocolRoute>(
  [subjectMap.agentHello, subjectMap.apiDevicesList].map((row: ProtocolRoute) => [row.wildcard(), row]),
);
const deserializer = new ProtocolRequestDeserializer((channel) => routes.get(channel));
const helloChannel = subjects.fleet.hello;
const hello = {
  agentVersion: '1.2.3',
  bootId: 'boot-1',
  startedAt: '2026-11-30T00:00:00.000Z',
  heartbeatIntervalMs: 5000,
};

describe('Nest packets ↔ protocol wire format', () => {
  it('decodes an event against its route: data, subject parameters, version and headers', () => {
    const h = headers();
    const bytes = encodeMessage(AgentHelloV1, hello, { headers: h, msgId: 'm-1' });
    const packet = deserializer.deserialize(bytes, {
      channel: helloChannel,
      subject: subjects.device.hello('press-01'),
      headers: h,
    });
    expect(packet).toEqual({
      accepted: true,
      pattern: helloChannel,
      data: {
        data: hello,
        params: { deviceId: 'press-01' },
        subject: 'outpost.dev.press-01.agent.hello',
        version: '1.0',
        headers: { msgId: 'm-1', contentType: 'application/json' },
      },
    });
  });

  it('makes a request (with an id) only when the message has a reply subject', () => {
    const bytes = encodeMessage(rpc.devicesList.request, { limit: 5 });
    const packet = deserializer.deserialize(bytes, {
      channel: rpc.devicesList.subject,
      subject: rpc.devicesList.subject,
      replyTo: '_INBOX.abc.1',
    });
    expect(packet).toMatchObject({ accepted: true, id: '_INBOX.abc.1', data: { data: { limit: 5 } } });
  });

  it('rejects, without throwing, a subject with no valid device id, a malformed payload and an unknown major', () => {
    const options = { channel: helloChannel, subject: subjects.device.hello('press-01') };
    const badSubject = deserializer.deserialize(encodeMessage(AgentHelloV1, hello), {
      ...options,
      subject: 'outpost.dev.-bad.agent.hello',
    });
    expect(badSubject).toMatchObject({ accepted: false, error: { code: 'BAD_MESSAGE' } });
    const notJson = deserializer.deserialize(new TextEncoder().encode('{nope'), options);
    expect(notJson).toMatchObject({ accepted: false, error: { code: 'BAD_MESSAGE' } });
    const future = new TextEncoder().encode(JSON.stringify({ type: 'agent.hello', v: '2.0', data: hello }));
    expect(deserializer.deserialize(future, options)).toMatchObject({
      accepted: false,
      error: { code: 'UNSUPPORTED_VERSION', message: expect.stringContaining('2.0') },
    });
    const request = deserializer.deserialize(new Uint8Array([0xff]), {
      channel: rpc.devicesList.subject,
      subject: rpc.devicesList.subject,
      replyTo: '_INBOX.abc.2',
    });
    expect(request).toMatchObject({ accepted: false, id: '_INBOX.abc.2', error: { code: 'BAD_MESSAGE' } });
  });

  it('refuses a handler without a protocol route as an internal error', () => {
    const unrouted: SubjectDef = subjectMap.devicePresence;
    const packet = deserializer.deserialize(new Uint8Array(), {
      channel: unrouted.wildcard(),
      subject: unrouted.wildcard(),
    });
    expect(packet).toMatchObject({ accepted: false, error: { code: 'INTERNAL' } });
  });

  it('sends a handler’s encoded reply as it is', () => {
    const reply = encodeReply(rpc.devicesList.response, { items: [], nextCursor: null });
    expect(serializer.serialize({ id: '1', response: reply, isDisposed: true }).data).toBe(reply);
  });

  it('sends errors as error replies, and never Nest’s own error shapes', () => {
    const body = { code: 'NOT_FOUND', message: 'gone', details: [] };
    expect(wire({ id: '1', err: body })).toEqual({ ok: false, type: 'error', v: '1.0', error: body });
    expect(wire({ id: '1', err: 'There is no matching message handler' })).toEqual({
      ok: false,
      type: 'error',
      v: '1.0',
      error: { code: 'INTERNAL', message: 'Internal error', details: [] },
    });
    const decoded = (() => {
      try {
        decodeReply(rpc.devicesList.response, serializer.serialize({ id: '1', response: { items: [] } }).data);
      } catch (err) {
        return err;
      }
    })();
    expect(decoded).toBeInstanceOf(OutpostError);
    expect((decoded as OutpostError).code).toBe('INTERNAL');
  });

  it('publishes nothing for packets without a reply', () => {
    expect(isEmptyReply({ id: '1', isDisposed: true })).toBe(true);
    expect(isEmptyReply({ id: '1', response: undefined, isDisposed: true })).toBe(true);
    expect(isEmptyReply({ id: '1', err: { code: 'INTERNAL' } })).toBe(false);
    expect(isEmptyReply({ id: '1', response: new Uint8Array() })).toBe(false);
  });
});
