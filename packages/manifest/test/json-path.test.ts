import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatJsonPath, locateJsonPath, parseJsonPath, validateManifest, valueAtJsonPath } from '../src/index.js';

describe('formatJsonPath / parseJsonPath', () => {
  it.each([
    [[], ''],
    [['modules', 'filter', 'restartPolicy'], 'modules.filter.restartPolicy'],
    [['modules', 'temp-sensor', 'process', 'args', 0], 'modules.temp-sensor.process.args[0]'],
    [['modules', 'a.b'], 'modules["a.b"]'],
    [['env', 'has space', 'value'], 'env["has space"].value'],
    [['modulesContent', '$edgeAgent', 'properties.desired'], 'modulesContent.$edgeAgent["properties.desired"]'],
    [[0, 'x'], '[0].x'],
    [['quote"d', ''], '["quote\\"d"][""]'],
    [['0'], '0'],
  ])('%j ⇄ %s', (segments, text) => {
    expect(formatJsonPath(segments)).toBe(text);
    expect(parseJsonPath(text)).toEqual(segments);
  });

  it('round-trips any path', () => {
    const segment = fc.oneof(fc.string(), fc.nat());
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 6 }), (segments) => {
        expect(parseJsonPath(formatJsonPath(segments))).toEqual(segments);
      }),
      { numRuns: 1000 },
    );
  });

  it('rejects malformed paths with the position', () => {
    expect(() => parseJsonPath('a..b')).toThrow('invalid JSON path "a..b": expected a key at position 2');
    expect(() => parseJsonPath('a[x]')).toThrow('expected an index or a quoted key at position 2');
    expect(() => parseJsonPath('a["x]')).toThrow('unterminated string');
    expect(() => parseJsonPath('a[1')).toThrow("expected ']'");
    expect(() => parseJsonPath('a b')).toThrow("expected '.' or '['");
  });
});

describe('valueAtJsonPath', () => {
  const value = { modules: { f: { args: ['x', 'y'] } }, 'a.b': 1 };
  it('reads own members and elements', () => {
    expect(valueAtJsonPath(value, 'modules.f.args[1]')).toBe('y');
    expect(valueAtJsonPath(value, ['a.b'])).toBe(1);
    expect(valueAtJsonPath(value, '')).toBe(value);
  });
  it('returns undefined for what is not there', () => {
    expect(valueAtJsonPath(value, 'modules.f.args[2]')).toBeUndefined();
    expect(valueAtJsonPath(value, 'modules.g')).toBeUndefined();
    expect(valueAtJsonPath(value, 'modules.f.args.length')).toBeUndefined();
    expect(valueAtJsonPath(value, 'toString')).toBeUndefined();
  });
});

describe('locateJsonPath', () => {
  const text = `{
  "schemaVersion": "1.0",
  "modules": {
    "filter": { "type": "process", "restartPolicy": "sometimes",
      "process": { "command": "x", "args": ["a", 7] } }
  }
}`;

  it('finds the value an error names, with its key', () => {
    const location = locateJsonPath(text, 'modules.filter.restartPolicy');
    expect(location).toMatchObject({ line: 4, column: 53, exact: true });
    expect(text.slice(location?.start, location?.end)).toBe('"sometimes"');
    expect(text.slice(location?.key?.start, location?.key?.end)).toBe('"restartPolicy"');
    const element = locateJsonPath(text, ['modules', 'filter', 'process', 'args', 1]);
    expect(text.slice(element?.start, element?.end)).toBe('7');
    expect(element?.key).toBeUndefined();
  });

  it('points every error from validateManifest at its value', () => {
    const result = validateManifest(JSON.parse(text));
    expect(result.ok).toBe(false);
    for (const error of result.ok ? [] : result.errors) {
      const location = locateJsonPath(text, error.path);
      expect(location, error.path).toBeDefined();
    }
  });

  it('falls back to the deepest existing value for a missing key', () => {
    const location = locateJsonPath(text, 'modules.filter.process.workingDir');
    expect(location?.exact).toBe(false);
    expect(location?.found).toEqual(['modules', 'filter', 'process']);
    expect(text.slice(location?.start, location?.end)).toBe('{ "command": "x", "args": ["a", 7] }');
  });

  it('resolves duplicate keys to the last one, like JSON.parse', () => {
    const duplicated = '{"a": 1, "a": 2}';
    const location = locateJsonPath(duplicated, 'a');
    expect(duplicated.slice(location?.start, location?.end)).toBe('2');
  });

  it('handles escaped keys and strings containing brackets', () => {
    const tricky = '{"x": "]}", "k\\"ey": {"b": [ "[", {"c" : true} ]}}';
    const location = locateJsonPath(tricky, ['k"ey', 'b', 1, 'c']);
    expect(tricky.slice(location?.start, location?.end)).toBe('true');
  });

  it('returns undefined for text that is not JSON up to the value, and never throws on any text', () => {
    expect(locateJsonPath('{"a": ', 'a')).toBeUndefined();
    expect(locateJsonPath('', 'a')).toBeUndefined();
    expect(locateJsonPath('[', [0])).toBeUndefined();
    expect(locateJsonPath('['.repeat(100_000), [0, 0, 0])).toBeUndefined();
    fc.assert(
      fc.property(
        fc.string(),
        fc.array(fc.oneof(fc.string({ maxLength: 3 }), fc.nat(3)), { maxLength: 3 }),
        (anyText, path) => {
          locateJsonPath(anyText, path);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
