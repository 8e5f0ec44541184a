import { describe, expect, it } from 'vitest';
import {
  AgentHeartbeatV1,
  AgentHelloV1,
  decodeMessage,
  decodeReply,
  deviceIdFromSubject,
  encodeErrorReply,
  encodeMessage,
  encodeReply,
  OutpostError,
  rpc,
  subjects,
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
  it('round-trips a message with its type and version on the wire', () => {
    const wire = encodeMessage(AgentHelloV1, hello);
    expect(JSON.parse(new TextDecoder().decode(wire))).toEqual({ type: 'agent.hello', v: 1, data: hello });
    expect(decodeMessage(AgentHelloV1, wire)).toEqual(hello);
  });

  it('refuses to encode invalid data, naming the field', () => {
    const err = caught(() => encodeMessage(AgentHelloV1, { ...hello, heartbeatIntervalMs: -1 }));
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details.map((d) => d.path)).toEqual(['data.heartbeatIntervalMs']);
  });

  it('rejects non-JSON, non-UTF-8, wrong type and unknown versions with clear codes', () => {
    expect(caught(() => decodeMessage(AgentHelloV1, bytes('{nope'))).code).toBe('BAD_MESSAGE');
    expect(caught(() => decodeMessage(AgentHelloV1, new Uint8Array([0xff, 0xfe]))).message).toMatch(/UTF-8/);
    const wrongType = caught(() => decodeMessage(AgentHelloV1, bytes({ type: 'agent.heartbeat', v: 1, data: {} })));
    expect(wrongType.details[0]?.path).toBe('type');
    const future = caught(() => decodeMessage(AgentHelloV1, bytes({ type: 'agent.hello', v: 9, data: hello })));
    expect(future.message).toMatch(/version 9/);
    const noEnvelope = caught(() => decodeMessage(AgentHeartbeatV1, bytes([1, 2])));
    expect(noEnvelope.code).toBe('BAD_MESSAGE');
  });

  it('names every bad field of a payload', () => {
    const err = caught(() =>
      decodeMessage(AgentHeartbeatV1, bytes({ type: 'agent.heartbeat', v: 1, data: { seq: 'x', bootId: 'b' } })),
    );
    expect(err.code).toBe('VALIDATION_FAILED');
    expect(err.details.map((d) => d.path)).toEqual(
      expect.arrayContaining(['data.seq', 'data.agentVersion', 'data.sentAt']),
    );
  });
});

describe('reply codec', () => {
  it('returns data for ok replies and throws the sent error otherwise', () => {
    const page = { items: [], nextCursor: null };
    expect(decodeReply(rpc.devicesList.response, encodeReply(rpc.devicesList.response, page))).toEqual(page);
    const err = caught(() =>
      decodeReply(
        rpc.devicesGet.response,
        encodeErrorReply({ code: 'NOT_FOUND', message: 'Device x not found', details: [] }),
      ),
    );
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe('Device x not found');
  });

  it('coerces list query strings the way HTTP sends them', () => {
    expect(rpc.devicesList.request.schema.parse({ limit: '10' })).toEqual({ limit: 10 });
    expect(rpc.devicesList.request.schema.parse({})).toEqual({ limit: 50 });
    expect(rpc.devicesList.request.schema.safeParse({ limit: '0' }).success).toBe(false);
  });
});

describe('subjects', () => {
  it('builds device subjects and reads the device id back', () => {
    expect(subjects.device.hello('dev-device-01')).toBe('outpost.dev.dev-device-01.agent.hello');
    expect(deviceIdFromSubject('outpost.dev.dev-device-01.agent.heartbeat')).toBe('dev-device-01');
    expect(deviceIdFromSubject('outpost.api.v1.devices.list')).toBeNull();
    expect(deviceIdFromSubject('outpost.dev.a')).toBeNull();
  });

  it('refuses device ids that would break or widen a subject', () => {
    for (const bad of ['a.b', '*', '>', 'a b', '', '-x']) {
      expect(() => subjects.device.hello(bad)).toThrow();
    }
  });
});
