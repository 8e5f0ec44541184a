import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AgentHeartbeatV1,
  AgentHelloV1,
  decodeReply,
  defineMessage,
  encodeMessage,
  encodeReply,
  type MessageDef,
  messageCatalog,
  parseWireVersion,
  tryDecodeMessage,
  tryDecodeReply,
} from '../src/index.js';

/*
 * The compatibility promise (docs/adr/0005): a reader accepts every minor of its major, so an agent one release behind
 * (or ahead) keeps working. Two kinds of evidence: an evolving example message, and the frozen wire fixtures in
 * test/fixtures/wire — one per message and released version, never edited once released — which every later build
 * of the same major must still read.
 */

const encoder = new TextEncoder();
const bytes = (value: unknown) => encoder.encode(JSON.stringify(value));

// One message, two minors: 1.1 adds an optional field, as the rules allow.
const ExampleV1_0 = defineMessage('test.example', '1.0', z.object({ name: z.string() }));
const ExampleV1_1 = defineMessage(
  'test.example',
  '1.1',
  z.object({ name: z.string(), colour: z.enum(['red', 'blue']).optional() }),
);

describe('minor versions', () => {
  it('a 1.0 payload decodes with a 1.1 decoder, which reports the version it was sent as', () => {
    const decoded = tryDecodeMessage(ExampleV1_1, encodeMessage(ExampleV1_0, { name: 'a' }));
    expect(decoded).toMatchObject({ ok: true, value: { name: 'a' }, version: '1.0' });
  });

  it('a 1.1 payload decodes with a 1.0 decoder, which drops the field it does not know', () => {
    const decoded = tryDecodeMessage(ExampleV1_0, encodeMessage(ExampleV1_1, { name: 'a', colour: 'red' }));
    expect(decoded).toEqual({ ok: true, value: { name: 'a' }, version: '1.1', headers: {} });
  });

  it('the same holds for replies', () => {
    expect(decodeReply(ExampleV1_1, encodeReply(ExampleV1_0, { name: 'a' }))).toEqual({ name: 'a' });
    expect(decodeReply(ExampleV1_0, encodeReply(ExampleV1_1, { name: 'a', colour: 'blue' }))).toEqual({ name: 'a' });
  });

  it('a 2.x payload is refused with UNSUPPORTED_VERSION naming the version', () => {
    for (const v of ['2.0', '2.7', 2]) {
      const result = tryDecodeMessage(ExampleV1_1, bytes({ type: 'test.example', v, data: { name: 'a' } }));
      expect(result.ok).toBe(false);
      if (result.ok) continue;
      expect(result.error.code).toBe('UNSUPPORTED_VERSION');
      expect(result.error.message).toContain(`version ${typeof v === 'number' ? `${v}.0` : v}`);
      expect(result.error.message).toContain('1.x');
      expect(result.error.details).toEqual([{ path: 'v', message: expect.stringContaining('is not 1.x') }]);
    }
    const reply = tryDecodeReply(ExampleV1_0, bytes({ ok: true, type: 'test.example', v: '3.0', data: { name: 'a' } }));
    expect(reply).toMatchObject({ ok: false, fromPeer: false, error: { code: 'UNSUPPORTED_VERSION' } });
  });

  it('reads a bare integer `v` (what Foundation builds sent) as <n>.0', () => {
    expect(parseWireVersion(1)).toEqual({ major: 1, minor: 0 });
    const decoded = tryDecodeMessage(ExampleV1_1, bytes({ type: 'test.example', v: 1, data: { name: 'a' } }));
    expect(decoded).toMatchObject({ ok: true, version: '1.0' });
  });

  it('refuses a `v` that is no version with BAD_MESSAGE', () => {
    for (const v of ['1', '1.0.0', 'v1.0', '01.0', '0.1', '1.x', 1.5, 0, -1, null, true, {}, undefined]) {
      expect(parseWireVersion(v)).toBeNull();
      const result = tryDecodeMessage(ExampleV1_0, bytes({ type: 'test.example', v, data: { name: 'a' } }));
      expect(result).toMatchObject({ ok: false, error: { code: 'BAD_MESSAGE', details: [{ path: 'v' }] } });
    }
  });

  it('refuses to define a message with an unreadable version or type', () => {
    expect(() => defineMessage('test.example', '1' as never, z.object({}))).toThrow(/<major>.<minor>/);
    expect(() => defineMessage('Test Example', '1.0', z.object({}))).toThrow(/dotted lower-case/);
  });
});

interface Fixture {
  file: string;
  type: string;
  wire: Record<string, unknown>;
}

const FIXTURES_DIR = new URL('./fixtures/wire/', import.meta.url);
const fixtures: Fixture[] = readdirSync(FIXTURES_DIR)
  .filter((file) => file.endsWith('.json'))
  .map((file) => ({
    file,
    type: file.slice(0, file.indexOf('@')),
    wire: JSON.parse(readFileSync(new URL(file, FIXTURES_DIR), 'utf8')) as Record<string, unknown>,
  }));

function defFor(type: string): MessageDef {
  const def = messageCatalog.find((candidate) => candidate.type === type);
  if (!def) throw new Error(`no catalog message for fixture type ${type}`);
  return def;
}

function decodeFixture(def: MessageDef, wire: Record<string, unknown>, raw = bytes(wire)) {
  return 'ok' in wire ? tryDecodeReply(def, raw) : tryDecodeMessage(def, raw);
}

describe('frozen wire fixtures', () => {
  it('exist for every message in the catalog at the version this build writes', () => {
    const frozen = new Set(fixtures.map((fixture) => fixture.file));
    const missing = messageCatalog.map((def) => `${def.type}@${def.version}.json`).filter((name) => !frozen.has(name));
    expect(missing).toEqual([]);
  });

  it.each(fixtures)('$file still decodes with this build', ({ type, wire }) => {
    const def = defFor(type);
    const result = decodeFixture(def, wire);
    if (type === 'error') {
      // An error fixture decodes as the peer's error, whatever reply it answered.
      expect(result).toMatchObject({ ok: false, fromPeer: true, error: wire.error as object });
      return;
    }
    expect(result).toMatchObject({ ok: true });
  });

  it.each(fixtures.filter((f) => f.type !== 'error'))(
    '$file decodes when a newer minor added a field it does not know',
    ({ type, wire }) => {
      const def = defFor(type);
      const data = wire.data as Record<string, unknown>;
      const newer = { ...wire, v: `${def.major}.${def.minor + 1}`, data: { ...data, addedInANewerMinor: 'x' } };
      const result = decodeFixture(def, newer);
      expect(result.ok).toBe(true);
      if (result.ok) expect(result.value).not.toHaveProperty('addedInANewerMinor');
    },
  );

  it('Foundation agents (integer v) still register presence with this build', () => {
    const hello = fixtures.find((f) => f.file === 'agent.hello@1-foundation.json');
    const heartbeat = fixtures.find((f) => f.file === 'agent.heartbeat@1-foundation.json');
    expect(tryDecodeMessage(AgentHelloV1, bytes(hello?.wire))).toMatchObject({ ok: true, version: '1.0' });
    expect(tryDecodeMessage(AgentHeartbeatV1, bytes(heartbeat?.wire))).toMatchObject({ ok: true, version: '1.0' });
  });
});
