import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes } from '../src/index.js';
import { validSample } from './helpers.js';

describe('canonicalJson (RFC 8785)', () => {
  it('sorts keys at every level and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('orders keys by UTF-16 code units, as RFC 8785 requires', () => {
    // The RFC's own sorting example: "\u20ac" (€), "\r", "\ufb33", "1", "\ud83d\ude00" (😀), "\u0080", "\u00f6".
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // Read the keys from the text: Object.keys would list the integer-like key "1" first whatever the text says.
    const keys = [...canonicalJson(value).matchAll(/"((?:[^"\\]|\\.)*)":/g)].map((match) =>
      JSON.parse(`"${match[1]}"`),
    );
    expect(keys).toEqual(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
  });

  it('writes numbers and strings as ECMAScript does', () => {
    expect(canonicalJson([1e21, 1e-7, -0, 0.1, 100, 'é\n"\u2028', true])).toBe(
      '[1e+21,1e-7,0,0.1,100,"é\\n\\"\u2028",true]',
    );
  });

  it('gives the same bytes for the same manifest written in any key order', () => {
    const manifest = validSample();
    const reversed = JSON.parse(JSON.stringify(manifest), (_key, value) =>
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).reverse())
        : value,
    );
    expect(canonicalJson(reversed)).toBe(canonicalJson(manifest));
    expect(canonicalJsonBytes(manifest)).toEqual(new TextEncoder().encode(canonicalJson(manifest)));
  });

  it('round-trips any JSON value: parsing the output gives the same value back', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses what JSON cannot represent exactly, naming where it is', () => {
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow('cannot canonicalise a[1]: NaN is not a JSON number');
    expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow('a: Infinity is not a JSON number');
    expect(() => canonicalJson([undefined])).toThrow('cannot canonicalise [0]: undefined is not a JSON value');
    // biome-ignore lint/suspicious/noSparseArray: the hole is what is being tested
    expect(() => canonicalJson([1, , 3])).toThrow('[1]: undefined is not a JSON value');
    expect(() => canonicalJson({ when: new Date(0) })).toThrow('when: Date is not a plain JSON object');
    expect(() => canonicalJson({ n: 10n })).toThrow('n: bigint is not a JSON value');
    expect(() => canonicalJson(() => 1)).toThrow('the value: function is not a JSON value');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow('self: it contains itself');
  });

  it('leaves out members whose value is undefined, and accepts shared (non-cyclic) references', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: undefined, b: shared, c: shared })).toBe('{"b":{"x":1},"c":{"x":1}}');
    expect(canonicalJson(Object.assign(Object.create(null), { z: 1 }))).toBe('{"z":1}');
  });
});
