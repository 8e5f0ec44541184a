import { headers } from 'nats';
import { describe, expect, it } from 'vitest';
import {
  AgentHeartbeatV1,
  AgentHelloV1,
  decodeMessage,
  decodeReply,
  ErrorReplyV1,
  encodeErrorReply,
  encodeMessage,
  encodeReply,
  MethodRequestV1,
  OutpostError,
  rpc,
  toErrorBody,
  tryDecodeMessage,
  tryDecodeReply,
} from '../src/index.js';

const hello = {
  agentVersion: '0.1.0',
  bootId: 'b1',
  startedAt: '2026-11-30T00:00:00.000Z',
  heartbeatIntervalMs: 5000,
};

function bytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
}

function wireOf(data: Uint8Array): unknown {
  return JSON.parse(new TextDecoder().decode(data));
}

function caught(fn: () => unknown): OutpostError {
  try {
    fn();
  } catch (err) {
    if (err instanceof OutpostError) return err;
    throw err;
  }
  throw new Error('expected an OutpostError');
}

describe('message codec', () => {
  it('round-trips a message with its type and "major.minor" version on the wire', () => {
    const wire = encodeMessage(AgentHelloV1, hello);
    expect(wireOf(wire)).toEqual({ type: 'agent.hello', v: '1.0', data: hello });
    expect(tryDecodeMessage(AgentHelloV1, wire)).toEqual({ ok: true, value: hello, version: '1.0', headers: {} });
    expect(decodeMessage(AgentHelloV1, wire)).toEqual(hello);
  });

  it('refuses to encode invalid data, naming the field', () => {
    const err = caught(() => encodeMessage(AgentHelloV1, { ...hello, heartbeatIntervalMs: -1 }));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details.map((d) => d.path)).toEqual(['data.heartbeatIntervalMs']);
  });

  it('returns typed errors for non-JSON, non-UTF-8, wrong type and non-envelopes, never throwing', () => {
    const cases: Array<[Uint8Array, string, RegExp]> = [
      [bytes('{nope'), 'BAD_MESSAGE', /not valid JSON/],
      [new Uint8Array([0xff, 0xfe]), 'BAD_MESSAGE', /UTF-8/],
      [bytes({ type: 'agent.heartbeat', v: '1.0', data: {} }), 'BAD_MESSAGE', /Expected a agent.hello message/],
      [bytes([1, 2]), 'BAD_MESSAGE', /not an Outpost envelope/],
      [bytes('null'), 'BAD_MESSAGE', /not an Outpost envelope/],
      [new Uint8Array(), 'BAD_MESSAGE', /not valid JSON/],
    ];
    for (const [input, code, message] of cases) {
      const result = tryDecodeMessage(AgentHelloV1, input);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.code).toBe(code);
        expect(result.error.message).toMatch(message);
      }
      // The throwing form throws exactly that error.
      expect(caught(() => decodeMessage(AgentHelloV1, input)).code).toBe(code);
    }
    const wrongType = tryDecodeMessage(AgentHelloV1, bytes({ type: 'agent.heartbeat', v: '1.0', data: {} }));
    expect(wrongType.ok ? null : wrongType.error.details[0]?.path).toBe('type');
  });

  it('names every bad field of a payload', () => {
    const result = tryDecodeMessage(
      AgentHeartbeatV1,
      bytes({ type: 'agent.heartbeat', v: '1.0', data: { seq: 'x', bootId: 'b' } }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.code).toBe('VALIDATION_FAILED');
    expect(result.error.details.map((d) => d.path)).toEqual(
      expect.arrayContaining(['data.seq', 'data.agentVersion', 'data.sentAt']),
    );
  });

  it('refuses a message nested too deeply for the schema, instead of overflowing the stack', () => {
    // A method payload is any JSON; zod's recursive JSON schema overflows the stack on this.
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const wire = bytes(`{"type":"method.request","v":"1.0","data":{"timeoutMs":5000,"payload":${deep}}}`);
    expect(tryDecodeMessage(MethodRequestV1, wire)).toEqual({
      ok: false,
      error: {
        code: 'BAD_MESSAGE',
        message: 'Message nested too deeply',
        details: [{ path: '', message: 'nested too deeply' }],
      },
    });
  });

  it('writes and reads headers: content type, message id and correlation id', () => {
    const h = headers();
    const wire = encodeMessage(AgentHelloV1, hello, { headers: h, msgId: 'msg-1', correlationId: 'op-7' });
    expect(h.get('Content-Type')).toBe('application/json');
    expect(h.get('Outpost-Msg-Id')).toBe('msg-1');
    expect(h.get('Outpost-Correlation-Id')).toBe('op-7');
    expect(tryDecodeMessage(AgentHelloV1, wire, h)).toMatchObject({
      ok: true,
      headers: { msgId: 'msg-1', correlationId: 'op-7', contentType: 'application/json' },
    });
  });

  it('refuses a message whose headers say it is not JSON', () => {
    const h = headers();
    h.set('Content-Type', 'application/octet-stream');
    const result = tryDecodeMessage(AgentHelloV1, encodeMessage(AgentHelloV1, hello), h);
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'BAD_MESSAGE', details: [{ path: 'headers.Content-Type' }] },
    });
  });
});

describe('reply codec', () => {
  const page = { items: [], nextCursor: null };

  it('returns data for ok replies', () => {
    const wire = encodeReply(rpc.devicesList.response, page);
    expect(wireOf(wire)).toEqual({ ok: true, type: 'api.devices.page', v: '1.0', data: page });
    expect(tryDecodeReply(rpc.devicesList.response, wire)).toEqual({
      ok: true,
      value: page,
      version: '1.0',
      headers: {},
    });
    expect(decodeReply(rpc.devicesList.response, wire)).toEqual(page);
  });

  it('returns the peer’s error for error replies, which carry their own type and version', () => {
    const body = { code: 'NOT_FOUND' as const, message: 'Device x not found', details: [] };
    const wire = encodeErrorReply(body);
    expect(wireOf(wire)).toEqual({ ok: false, type: ErrorReplyV1.type, v: '1.0', error: body });
    expect(tryDecodeReply(rpc.devicesGet.response, wire)).toEqual({ ok: false, fromPeer: true, error: body });
    const err = caught(() => decodeReply(rpc.devicesGet.response, wire));
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe('Device x not found');
  });

  it('reads error replies without type and version, as Foundation builds sent them', () => {
    const wire = bytes({ ok: false, error: { code: 'TIMEOUT', message: 'slow', details: [] } });
    expect(tryDecodeReply(rpc.devicesGet.response, wire)).toMatchObject({
      ok: false,
      fromPeer: true,
      error: { code: 'TIMEOUT' },
    });
  });

  it('reads an error code it does not know as INTERNAL, naming the code', () => {
    const wire = bytes({
      ok: false,
      type: 'error',
      v: '1.3',
      error: { code: 'QUOTA_EXCEEDED', message: 'too much', details: [{ path: 'x', message: 'y' }] },
    });
    expect(tryDecodeReply(rpc.devicesGet.response, wire)).toEqual({
      ok: false,
      fromPeer: true,
      error: {
        code: 'INTERNAL',
        message: 'too much',
        details: [
          { path: 'code', message: 'unknown error code QUOTA_EXCEEDED' },
          { path: 'x', message: 'y' },
        ],
      },
    });
  });

  it('tells a reply it cannot read (fromPeer: false) from an error the peer sent', () => {
    for (const input of [
      bytes('{"hello":"world"}'),
      bytes({ ok: false, error: { code: 'NOT_FOUND' } }),
      bytes({ ok: false, type: 'error', v: '2.0', error: { code: 'NOT_FOUND', message: 'x', details: [] } }),
      bytes({ ok: true, type: 'api.devices.page', v: '1.0', data: { items: [{ id: 'x' }] } }),
    ]) {
      const result = tryDecodeReply(rpc.devicesList.response, input);
      expect(result).toMatchObject({ ok: false, fromPeer: false });
    }
  });

  it('answers INTERNAL rather than sending an invalid error body', () => {
    const invalid = { code: 'NOPE', message: 'x', details: [] } as never;
    expect(wireOf(encodeErrorReply(invalid))).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
  });

  it('coerces list query strings the way HTTP sends them', () => {
    expect(rpc.devicesList.request.schema.parse({ limit: '10' })).toEqual({ limit: 10 });
    expect(rpc.devicesList.request.schema.parse({})).toEqual({ limit: 50 });
    expect(rpc.devicesList.request.schema.safeParse({ limit: '0' }).success).toBe(false);
  });
});

describe('toErrorBody', () => {
  it('keeps an OutpostError and hides anything else behind INTERNAL', () => {
    const known = new OutpostError('CONFLICT', 'taken', [{ path: 'id', message: 'exists' }]);
    expect(toErrorBody(known)).toEqual({
      code: 'CONFLICT',
      message: 'taken',
      details: [{ path: 'id', message: 'exists' }],
    });
    expect(toErrorBody(new Error('secret connection string'))).toEqual({
      code: 'INTERNAL',
      message: 'Internal error',
      details: [],
    });
  });
});
