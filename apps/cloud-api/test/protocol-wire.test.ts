import { decodeReply, encodeReply, OutpostError, rpc } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { isEmptyReply, ProtocolReplySerializer, ProtocolRequestDeserializer } from '../src/nats/protocol-wire.js';

const bytes = new TextEncoder().encode('{"type":"x","v":1,"data":{}}');
const serializer = new ProtocolReplySerializer();
const wire = (packet: Parameters<ProtocolReplySerializer['serialize']>[0]) =>
  JSON.parse(new TextDecoder().decode(serializer.serialize(packet).data)) as unknown;

describe('Nest packets ↔ protocol wire format', () => {
  it('makes a request (with an id) only when the message has a reply subject', () => {
    const deserializer = new ProtocolRequestDeserializer();
    expect(deserializer.deserialize(bytes, { channel: 'outpost.dev.*.agent.hello' })).toEqual({
      pattern: 'outpost.dev.*.agent.hello',
      data: bytes,
    });
    expect(deserializer.deserialize(bytes, { channel: rpc.devicesList.subject, replyTo: '_INBOX.abc.1' })).toEqual({
      pattern: rpc.devicesList.subject,
      data: bytes,
      id: '_INBOX.abc.1',
    });
  });

  it('sends a handler’s encoded reply as it is', () => {
    const reply = encodeReply(rpc.devicesList.response, { items: [], nextCursor: null });
    expect(serializer.serialize({ id: '1', response: reply, isDisposed: true }).data).toBe(reply);
  });

  it('sends errors as error replies, and never Nest’s own error shapes', () => {
    const body = { code: 'NOT_FOUND', message: 'gone', details: [] };
    expect(wire({ id: '1', err: body })).toEqual({ ok: false, error: body });
    expect(wire({ id: '1', err: 'There is no matching message handler' })).toEqual({
      ok: false,
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
