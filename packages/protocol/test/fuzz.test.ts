import fc from 'fast-check';
import { headers } from 'nats';
import { describe, expect, it } from 'vitest';
import {
  type DecodeFailure,
  type HeaderCarrier,
  messageCatalog,
  readHeaders,
  TelemetryV1,
  tryDecodeMessage,
  tryDecodeReply,
} from '../src/index.js';

/*
 * The safe decoders promise never to throw, whatever arrives: random bytes, random JSON, envelopes with random
 * versions and payloads, hostile headers. Each property runs every message kind in the catalog.
 */

const encoder = new TextEncoder();
const defs = fc.constantFrom(...messageCatalog);
const types = fc.oneof(fc.constantFrom(...messageCatalog.map((def) => def.type)), fc.string());
const versions = fc.oneof(
  fc.constantFrom('1.0', '1.1', '1.99', '2.0', '0.1', '1', '', 1, 2, 0, -1, 1.5, null),
  fc.string(),
  fc.integer(),
  fc.double(),
);
const json = fc.json({ depthSize: 'medium' }).map((text) => JSON.parse(text) as unknown);

function expectWellFormedFailure(result: { ok: boolean; error?: DecodeFailure['error'] }): void {
  if (result.ok) return;
  expect(typeof result.error?.code).toBe('string');
  expect(typeof result.error?.message).toBe('string');
  expect(Array.isArray(result.error?.details)).toBe(true);
}

describe('safe decoders never throw', () => {
  it('on random bytes', () => {
    fc.assert(
      fc.property(defs, fc.uint8Array({ maxLength: 512 }), (def, bytes) => {
        const message = tryDecodeMessage(def, bytes);
        const reply = tryDecodeReply(def, bytes);
        expectWellFormedFailure(message);
        expectWellFormedFailure(reply);
      }),
      { numRuns: 2_000 },
    );
  });

  it('on random JSON', () => {
    fc.assert(
      fc.property(defs, json, (def, value) => {
        const bytes = encoder.encode(JSON.stringify(value));
        expectWellFormedFailure(tryDecodeMessage(def, bytes));
        expectWellFormedFailure(tryDecodeReply(def, bytes));
      }),
      { numRuns: 1_000 },
    );
  });

  it('on envelopes with random types, versions and payloads', () => {
    fc.assert(
      fc.property(defs, types, versions, json, fc.boolean(), (def, type, v, data, ok) => {
        const message = encoder.encode(JSON.stringify({ type, v, data }));
        const reply = encoder.encode(JSON.stringify(ok ? { ok, type, v, data } : { ok, type, v, error: data }));
        const decoded = tryDecodeMessage(def, message);
        expectWellFormedFailure(decoded);
        expectWellFormedFailure(tryDecodeReply(def, reply));
        // Whatever got through is of the definition's major.
        if (decoded.ok) expect(decoded.version.startsWith(`${def.major}.`)).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('on random headers', () => {
    const headerNames = fc.constantFrom(
      'Content-Type',
      'content-type',
      'Outpost-Msg-Id',
      'Nats-Msg-Id',
      'Outpost-Correlation-Id',
      'X-Other',
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(headerNames, fc.string())), (entries) => {
        const carrier: HeaderCarrier = headers();
        for (const [name, value] of entries) {
          try {
            carrier.set(name, value);
          } catch {
            // nats.js refuses some values itself (CR/LF); such a message cannot arrive.
          }
        }
        const result = readHeaders(carrier);
        expectWellFormedFailure(result);
        expectWellFormedFailure(tryDecodeMessage(TelemetryV1, encoder.encode('{}'), carrier));
      }),
    );
  });

  it('on adversarial inputs: deep nesting, huge numbers, prototype keys', () => {
    const inputs = [
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
      `{"type":"telemetry","v":"1.0","data":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`,
      `{"type":"method.request","v":"1.0","data":{"timeoutMs":5000,"payload":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
      `{"ok":true,"type":"method.reply","v":"1.0","data":{"status":200,"payload":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}}`,
      '{"type":"telemetry","v":"1e999","data":{}}',
      '{"__proto__":{"ok":true},"type":"telemetry","v":"1.0","data":{"__proto__":{"seq":1}}}',
      '{"ok":false,"error":{"__proto__":{"code":"INTERNAL"}}}',
      '\uFEFF{"type":"telemetry","v":"1.0","data":{}}',
    ];
    for (const text of inputs) {
      for (const def of messageCatalog) {
        expectWellFormedFailure(tryDecodeMessage(def, encoder.encode(text)));
        expectWellFormedFailure(tryDecodeReply(def, encoder.encode(text)));
      }
    }
    expect(({} as Record<string, unknown>).ok).toBeUndefined();
  });
});
