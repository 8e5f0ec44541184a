/**
 * Canonical JSON for signing: the same manifest always serialises to the same bytes, whatever order its keys were
 * written in. Follows RFC 8785 (JSON Canonicalization Scheme): object keys sorted by UTF-16 code units, no
 * whitespace, numbers and strings as ECMAScript's JSON.stringify writes them.
 */
import { formatJsonPath, type JsonPathSegment } from './json-path.js';

/**
 * Serialises a JSON value canonically. Object members whose value is undefined are left out, as JSON.stringify
 * does. Throws a TypeError naming the path of anything JSON cannot represent exactly (NaN, Infinity, undefined in
 * an array, bigint, functions, symbols, class instances such as Date, cycles), because signing an approximation
 * would make signatures fail to verify after a round trip.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, [], new Set<object>(), parts);
  return parts.join('');
}

/** The UTF-8 bytes of canonicalJson(value): what a signature is computed over. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}

function write(value: unknown, path: JsonPathSegment[], ancestors: Set<object>, parts: string[]): void {
  const fail = (what: string): never => {
    const where = path.length === 0 ? 'the value' : formatJsonPath(path);
    throw new TypeError(`cannot canonicalise ${where}: ${what}`);
  };
  switch (typeof value) {
    case 'string':
    case 'boolean':
      parts.push(JSON.stringify(value));
      return;
    case 'number':
      if (!Number.isFinite(value)) fail(`${value} is not a JSON number`);
      parts.push(JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      fail(`${typeof value} is not a JSON value`);
  }
  if (value === null) {
    parts.push('null');
    return;
  }
  const container = value as object;
  if (ancestors.has(container)) fail('it contains itself');
  const prototype = Object.getPrototypeOf(container);
  const isArray = Array.isArray(container);
  if (!isArray && prototype !== Object.prototype && prototype !== null) {
    fail(`${prototype?.constructor?.name ?? 'this object'} is not a plain JSON object`);
  }
  ancestors.add(container);
  if (isArray) {
    parts.push('[');
    // A for loop rather than forEach, which would skip the holes of a sparse array instead of rejecting them.
    for (let index = 0; index < container.length; index++) {
      if (index > 0) parts.push(',');
      write(container[index], [...path, index], ancestors, parts);
    }
    parts.push(']');
  } else {
    const record = container as Record<string, unknown>;
    // Default sort compares UTF-16 code units, which is exactly RFC 8785's key order.
    const keys = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort();
    parts.push('{');
    keys.forEach((key, index) => {
      if (index > 0) parts.push(',');
      parts.push(JSON.stringify(key), ':');
      write(record[key], [...path, key], ancestors, parts);
    });
    parts.push('}');
  }
  ancestors.delete(container);
}
