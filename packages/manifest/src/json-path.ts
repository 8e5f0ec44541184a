/**
 * JSON paths as validation errors spell them (`modules.filter.env["my.var"].value`, `process.args[0]`) and the
 * helpers the portal needs to show an error in place: parse a path, read the value at it, and find where it sits in
 * the JSON text being edited.
 */
import { positionOf } from '@outpost/routing';

/** An object key or an array index. */
export type JsonPathSegment = string | number;

/** Keys written with a dot; anything else is written as a quoted JSON string in brackets. */
const PLAIN_KEY = /^[A-Za-z0-9_$-]+$/;

/** `["modules", "filter", "env", "my.var"]` → `modules.filter.env["my.var"]`; `[]` → `""` (the whole document). */
export function formatJsonPath(segments: readonly JsonPathSegment[]): string {
  let path = '';
  for (const segment of segments) {
    if (typeof segment === 'number') path += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) path += path === '' ? segment : `.${segment}`;
    else path += `[${JSON.stringify(segment)}]`;
  }
  return path;
}

/** The inverse of formatJsonPath. Throws a SyntaxError naming the position of anything else. */
export function parseJsonPath(path: string): JsonPathSegment[] {
  const segments: JsonPathSegment[] = [];
  let index = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`invalid JSON path ${JSON.stringify(path)}: ${what} at position ${index}`);
  };
  const readPlainKey = (): void => {
    const start = index;
    while (index < path.length && PLAIN_KEY.test(path[index] ?? '')) index++;
    if (index === start) fail('expected a key');
    segments.push(path.slice(start, index));
  };
  if (path.length > 0 && path[0] !== '[') readPlainKey();
  while (index < path.length) {
    const char = path[index];
    if (char === '.') {
      index++;
      readPlainKey();
    } else if (char === '[') {
      index++;
      if (path[index] === '"') {
        const end = closingQuote(path, index);
        if (end < 0) fail('unterminated string');
        try {
          segments.push(JSON.parse(path.slice(index, end + 1)) as string);
        } catch {
          fail('malformed string');
        }
        index = end + 1;
      } else {
        const digits = /^(0|[1-9][0-9]*)/.exec(path.slice(index));
        if (digits === null) fail('expected an index or a quoted key');
        segments.push(Number(digits?.[0]));
        index += digits?.[0]?.length ?? 0;
      }
      if (path[index] !== ']') fail("expected ']'");
      index++;
    } else {
      fail("expected '.' or '['");
    }
  }
  return segments;
}

/** Index of the quote that closes the JSON string starting at `open`, or -1. */
function closingQuote(text: string, open: number): number {
  for (let i = open + 1; i < text.length; i++) {
    const char = text[i];
    if (char === '\\') i++;
    else if (char === '"') return i;
  }
  return -1;
}

function toSegments(path: string | readonly JsonPathSegment[]): readonly JsonPathSegment[] {
  return typeof path === 'string' ? parseJsonPath(path) : path;
}

/** The value at a path (own properties and array elements only), or undefined when there is none. */
export function valueAtJsonPath(value: unknown, path: string | readonly JsonPathSegment[]): unknown {
  let current: unknown = value;
  for (const segment of toSegments(path)) {
    if (typeof segment === 'number') {
      if (!Array.isArray(current) || segment >= current.length) return undefined;
      current = current[segment];
    } else {
      if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
}

/** Where a path's value sits in JSON text; offsets are 0-based UTF-16 indexes, line and column 1-based. */
export interface JsonTextLocation {
  /** The value's first character. */
  readonly start: number;
  /** One past the value's last character. */
  readonly end: number;
  readonly line: number;
  readonly column: number;
  /** The member name in quotes, when the value is an object member. */
  readonly key?: { readonly start: number; readonly end: number };
  /**
   * False when the path goes further than the text does (a missing key, an index past the end): the location is
   * then the deepest value that exists, which is where a "required" error belongs.
   */
  readonly exact: boolean;
  /** The part of the path that was found. */
  readonly found: readonly JsonPathSegment[];
}

class JsonScanError extends Error {}

/**
 * Finds a path in JSON text, e.g. to underline the value a validation error names. Returns undefined when the text
 * is not JSON up to the value (the document is being typed); duplicate keys resolve to the last one, as JSON.parse
 * does. Never throws for any text; throws a SyntaxError only for a malformed path string.
 */
export function locateJsonPath(text: string, path: string | readonly JsonPathSegment[]): JsonTextLocation | undefined {
  const segments = toSegments(path);
  const scanner = new Scanner(text);
  try {
    let start = scanner.skipWhitespace(0);
    let key: { start: number; end: number } | undefined;
    let found = 0;
    for (const segment of segments) {
      const child = scanner.child(start, segment);
      if (child === undefined) break;
      start = child.valueStart;
      key = child.key;
      found++;
    }
    const end = scanner.skipValue(start);
    const position = positionOf(text, start);
    return {
      start,
      end,
      line: position.line,
      column: position.column,
      ...(key !== undefined ? { key } : {}),
      exact: found === segments.length,
      found: segments.slice(0, found),
    };
  } catch (error) {
    if (error instanceof JsonScanError) return undefined;
    throw error;
  }
}

/** A forgiving scanner: it only needs to find values, not to prove the whole document is JSON. */
class Scanner {
  constructor(private readonly text: string) {}

  skipWhitespace(index: number): number {
    let i = index;
    while (i < this.text.length && ' \t\n\r'.includes(this.text[i] ?? '')) i++;
    return i;
  }

  /** The member or element `segment` of the container starting at `start`, or undefined when it has none. */
  child(
    start: number,
    segment: JsonPathSegment,
  ): { valueStart: number; key?: { start: number; end: number } } | undefined {
    const open = this.text[start];
    if (open === '{' && typeof segment === 'string') return this.member(start, segment);
    if (open === '[' && typeof segment === 'number') return this.element(start, segment);
    return undefined;
  }

  private member(start: number, name: string): { valueStart: number; key: { start: number; end: number } } | undefined {
    let match: { valueStart: number; key: { start: number; end: number } } | undefined;
    let i = this.skipWhitespace(start + 1);
    if (this.text[i] === '}') return undefined;
    for (;;) {
      if (this.text[i] !== '"') throw new JsonScanError();
      const keyEnd = closingQuote(this.text, i);
      if (keyEnd < 0) throw new JsonScanError();
      let keyText: unknown;
      try {
        keyText = JSON.parse(this.text.slice(i, keyEnd + 1));
      } catch {
        throw new JsonScanError();
      }
      const keyStart = i;
      i = this.skipWhitespace(keyEnd + 1);
      if (this.text[i] !== ':') throw new JsonScanError();
      const valueStart = this.skipWhitespace(i + 1);
      // Keep scanning after a match: with duplicate keys the last one is the value JSON.parse keeps.
      if (keyText === name) match = { valueStart, key: { start: keyStart, end: keyEnd + 1 } };
      i = this.skipWhitespace(this.skipValue(valueStart));
      if (this.text[i] === '}') return match;
      if (this.text[i] !== ',') throw new JsonScanError();
      i = this.skipWhitespace(i + 1);
    }
  }

  private element(start: number, index: number): { valueStart: number } | undefined {
    let i = this.skipWhitespace(start + 1);
    if (this.text[i] === ']') return undefined;
    for (let current = 0; ; current++) {
      if (current === index) return { valueStart: i };
      i = this.skipWhitespace(this.skipValue(i));
      if (this.text[i] === ']') return undefined;
      if (this.text[i] !== ',') throw new JsonScanError();
      i = this.skipWhitespace(i + 1);
    }
  }

  /** One past the end of the value starting at `start`. Iterative, so deeply nested text cannot overflow the stack. */
  skipValue(start: number): number {
    const first = this.text[start];
    if (first === undefined) throw new JsonScanError();
    if (first === '"') {
      const end = closingQuote(this.text, start);
      if (end < 0) throw new JsonScanError();
      return end + 1;
    }
    if (first === '{' || first === '[') {
      let depth = 0;
      for (let i = start; i < this.text.length; i++) {
        const char = this.text[i];
        if (char === '"') {
          i = closingQuote(this.text, i);
          if (i < 0) throw new JsonScanError();
        } else if (char === '{' || char === '[') depth++;
        else if (char === '}' || char === ']') {
          depth--;
          if (depth === 0) return i + 1;
        }
      }
      throw new JsonScanError();
    }
    let i = start;
    while (i < this.text.length && /[-+0-9.eEa-z]/.test(this.text[i] ?? '')) i++;
    if (i === start) throw new JsonScanError();
    return i;
  }
}
