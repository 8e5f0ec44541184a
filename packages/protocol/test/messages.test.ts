import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DesiredChangedV1,
  DesiredGetReplyV1,
  DesiredGetRequestV1,
  DeviceId,
  decodeBody,
  decodeMessage,
  decodeReply,
  EnrollRequestV1,
  encodeBody,
  encodeMessage,
  encodeReply,
  LogsChunkV1,
  LogsRequestV1,
  type MessageDef,
  MethodReplyV1,
  MethodRequestV1,
  ModuleMessageV1,
  OutpostError,
  ReportedStateV1,
  TelemetryV1,
  telemetryMessageId,
} from '../src/index.js';

const at = '2026-11-30T08:00:00.000Z';

function issuesOf(def: MessageDef, data: unknown): string[] {
  const result = def.schema.safeParse(data);
  return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
}

const telemetry = {
  id: 'press-01:7',
  deviceId: 'press-01',
  seq: 7,
  source: { kind: 'child', childId: 'sensor1' },
  appProperties: { alert: 'true' },
  systemProperties: { contentType: 'application/json' },
  body: '{"t":1}',
  bodyEncoding: 'utf8',
  enqueuedAt: at,
} as const;

describe('desired state', () => {
  it('round-trips a change notification, a request and both kinds of reply', () => {
    expect(decodeMessage(DesiredChangedV1, encodeMessage(DesiredChangedV1, { version: 4, changedAt: at }))).toEqual({
      version: 4,
      changedAt: at,
    });
    expect(decodeMessage(DesiredGetRequestV1, encodeMessage(DesiredGetRequestV1, { knownVersion: null }))).toEqual({
      knownVersion: null,
    });
    const unchanged = { status: 'unchanged', version: 4 } as const;
    expect(decodeReply(DesiredGetReplyV1, encodeReply(DesiredGetReplyV1, unchanged))).toEqual(unchanged);
    const nothingDeployed = { status: 'current', version: 0, manifest: null, signature: null } as const;
    expect(decodeReply(DesiredGetReplyV1, encodeReply(DesiredGetReplyV1, nothingDeployed))).toEqual(nothingDeployed);
  });

  it('refuses a signature that is not a 64-byte ed25519 signature, and a negative version', () => {
    const reply = {
      status: 'current',
      version: 1,
      manifest: {},
      signature: { alg: 'ed25519', keyId: 'k', value: 'short' },
    };
    expect(issuesOf(DesiredGetReplyV1, reply)).toEqual(['signature.value']);
    expect(issuesOf(DesiredGetReplyV1, { ...reply, signature: { ...reply.signature, alg: 'rsa' } })).toContain(
      'signature.alg',
    );
    expect(issuesOf(DesiredChangedV1, { version: -1, changedAt: at })).toEqual(['version']);
  });
});

describe('reported state', () => {
  const report = {
    bootId: 'b1',
    seq: 1,
    reportedAt: at,
    desired: { version: 3, code: 200, description: 'applied' },
    modules: {
      sensor: {
        status: 'backoff',
        exitCode: 1,
        restartCount: 4,
        lastStartedAt: at,
        lastExitedAt: at,
      },
    },
  };

  it('accepts module runtime state keyed by module name', () => {
    expect(issuesOf(ReportedStateV1, report)).toEqual([]);
  });

  it('names a bad module name, status or desired status code', () => {
    expect(issuesOf(ReportedStateV1, { ...report, modules: { 'a.b': report.modules.sensor } })).toEqual([
      'modules.a.b',
    ]);
    expect(
      issuesOf(ReportedStateV1, { ...report, modules: { sensor: { ...report.modules.sensor, status: 'paused' } } }),
    ).toEqual(['modules.sensor.status']);
    expect(issuesOf(ReportedStateV1, { ...report, desired: { ...report.desired, code: 99 } })).toEqual([
      'desired.code',
    ]);
  });
});

describe('telemetry envelope', () => {
  it('round-trips every field', () => {
    expect(decodeMessage(TelemetryV1, encodeMessage(TelemetryV1, telemetry))).toEqual(telemetry);
  });

  it('takes its id from (deviceId, seq), the idempotency key of cloud ingest', () => {
    expect(telemetryMessageId('press-01', 1041)).toBe('press-01:1041');
    expect(() => telemetryMessageId('a.b', 1)).toThrow(OutpostError);
    expect(() => telemetryMessageId('press-01', -1)).toThrow(OutpostError);
    expect(() => telemetryMessageId('press-01', 1.5)).toThrow(OutpostError);
  });

  it('names what is wrong: source, properties, body encoding', () => {
    expect(issuesOf(TelemetryV1, { ...telemetry, source: { kind: 'module', module: 'sensor' } })).toEqual([
      'source.output',
    ]);
    expect(issuesOf(TelemetryV1, { ...telemetry, source: { kind: 'cloud' } })).toEqual(['source.kind']);
    expect(issuesOf(TelemetryV1, { ...telemetry, appProperties: { n: 1 } })).toEqual(['appProperties.n']);
    expect(issuesOf(TelemetryV1, { ...telemetry, bodyEncoding: 'base64', body: 'not base64!' })).toEqual(['body']);
    expect(issuesOf(TelemetryV1, { ...telemetry, seq: 2 ** 53 })).toEqual(['seq']);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`p${i}`, 'v']));
    expect(issuesOf(TelemetryV1, { ...telemetry, appProperties: many })).toEqual(['appProperties']);
  });

  it('carries any bytes: UTF-8 as text, anything else as base64, and gives them back', () => {
    expect(encodeBody(new TextEncoder().encode('{"t":1}'))).toEqual({ body: '{"t":1}', bodyEncoding: 'utf8' });
    expect(encodeBody(new Uint8Array([0, 1, 2, 255]))).toEqual({ body: 'AAEC/w==', bodyEncoding: 'base64' });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const body = encodeBody(bytes);
        const message = { appProperties: {}, systemProperties: {}, ...body };
        const decoded = decodeMessage(ModuleMessageV1, encodeMessage(ModuleMessageV1, message));
        expect(decodeBody(decoded)).toEqual(bytes);
      }),
    );
  });
});

describe('direct methods', () => {
  it('default the payload to null and bound the timeout to 5-300 s', () => {
    expect(MethodRequestV1.schema.parse({ timeoutMs: 5_000 })).toEqual({ payload: null, timeoutMs: 5_000 });
    expect(issuesOf(MethodRequestV1, { timeoutMs: 4_999 })).toEqual(['timeoutMs']);
    expect(issuesOf(MethodRequestV1, { timeoutMs: 300_001 })).toEqual(['timeoutMs']);
    expect(
      issuesOf(MethodRequestV1, { timeoutMs: 5_000, payload: { nested: [1, 'two', null, { three: true }] } }),
    ).toEqual([]);
  });

  it('carry the module’s status and payload back', () => {
    const reply = { status: 404, payload: { error: 'no such key' } };
    expect(decodeReply(MethodReplyV1, encodeReply(MethodReplyV1, reply))).toEqual(reply);
    expect(issuesOf(MethodReplyV1, { status: 1000, payload: null })).toEqual(['status']);
  });
});

describe('logs', () => {
  it('validate the request’s stream id, module and filters', () => {
    expect(issuesOf(LogsRequestV1, { streamId: 's1', module: 'sensor', tail: 10, since: at })).toEqual([]);
    expect(issuesOf(LogsRequestV1, { streamId: 's.1', module: 'sensor' })).toEqual(['streamId']);
    expect(issuesOf(LogsRequestV1, { streamId: 's1', module: 'sensor', tail: 0 })).toEqual(['tail']);
  });

  it('end a stream with a final chunk, which may carry an error (unknown codes read as INTERNAL)', () => {
    const chunk = {
      streamId: 's1',
      seq: 0,
      lines: [],
      final: true,
      error: { code: 'MODULE_GONE', message: 'no module sensor', details: [] },
    };
    expect(decodeMessage(LogsChunkV1, encodeMessage(LogsChunkV1, chunk)).error).toEqual({
      code: 'INTERNAL',
      message: 'no module sensor',
      details: [{ path: 'code', message: 'unknown error code MODULE_GONE' }],
    });
    expect(issuesOf(LogsChunkV1, { ...chunk, lines: [{ at: null, stream: 'stdin', text: '' }] })).toEqual([
      'lines.0.stream',
    ]);
  });
});

describe('enrolment', () => {
  it('accepts only an NKey user public key and a plausible token', () => {
    const request = { deviceId: 'press-01', token: 't'.repeat(32), publicKey: `U${'A'.repeat(55)}` };
    expect(issuesOf(EnrollRequestV1, request)).toEqual([]);
    expect(issuesOf(EnrollRequestV1, { ...request, publicKey: `S${'A'.repeat(55)}` })).toEqual(['publicKey']);
    expect(issuesOf(EnrollRequestV1, { ...request, token: 'short' })).toEqual(['token']);
  });
});

describe('device ids', () => {
  it('are single subject tokens and never a reserved name', () => {
    expect(DeviceId.safeParse('press-01').success).toBe(true);
    for (const bad of ['a.b', '*', '>', 'a b', '', '-x', 'enroll', 'x'.repeat(129)]) {
      expect(DeviceId.safeParse(bad).success, bad).toBe(false);
    }
  });
});
