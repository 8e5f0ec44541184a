import { describe, expect, it } from 'vitest';
import { compileCondition, RouteSyntaxError, type RoutingMessage } from '../src/index.js';
import { message } from './helpers.js';

const telemetry = {
  device: { id: 'pump-3', online: true, faults: null },
  readings: [
    { name: 'pressure', value: 4.2 },
    { name: 'flow', value: 120 },
  ],
  level: 80,
  label: 'tank 1',
  seen: '2024-05-01T10:00:00Z',
  conflict: 1,
};

const fixture = message({ json: telemetry, app: { unit: 'bar', '$body.conflict': 'from-app' } });

function evaluate(condition: string, msg: RoutingMessage = fixture): string {
  return compileCondition(condition, { body: true }).evaluate(msg);
}

describe('$body queries', () => {
  it.each([
    ['$body.level = 80', 'true'],
    ['$BODY.label = "tank 1"', 'true'],
    ['$body.device.id = "pump-3"', 'true'],
    ['$body.device.online', 'true'],
    ['NOT $body.device.online', 'false'],
    ['$body.device.online AND $body.level > 50', 'true'],
    ['$body.readings[1].value = 120', 'true'],
    ['$body.readings[0].name = "pressure"', 'true'],
    ['$body.readings[0].value + $body.readings[1].value > 124', 'true'],
    ['$body.level % 3 = 2', 'true'],
    ['- $body.level = -80', 'true'],
    ['$body.level = "80"', 'false'],
    ['$body.level < "80"', 'true'], // different types order bool < number < string < null, as in Azure
    ['$body.label = unit', 'false'],
    ['length($body.label) = 6', 'true'],
    ['upper($body.label) = "TANK 1"', 'true'],
    ['as_number($body.level) = 80', 'true'],
    ['abs($body.level - 100) = 20', 'true'],
    ['concat($body.label, "/", unit) = "tank 1/bar"', 'true'],
    ['($body.nothing ?? 7) = 7', 'false'], // a missing path is null, and null is defined
    ['($body.readings ?? 7) = 7', 'true'], // an array is not a value: undefined
  ])('%j is %s', (condition, expected) => {
    expect(evaluate(condition)).toBe(expected);
  });

  it('treats objects, arrays and date-time strings as undefined', () => {
    expect(evaluate('$body.device <> null')).toBe('undefined');
    expect(evaluate('is_defined($body.readings)')).toBe('false');
    expect(evaluate('$body.seen <> "x"')).toBe('undefined');
    expect(evaluate('is_defined($body.seen)')).toBe('false');
  });

  it('treats a path that matches nothing as null', () => {
    expect(evaluate('$body.nothing = null')).toBe('true');
    expect(evaluate('$body.device.nothing.deeper = null')).toBe('true');
    expect(evaluate('$body.readings[7] = null')).toBe('true');
    expect(evaluate('$body.level.nothing = null')).toBe('true');
    expect(evaluate('$body.nothing <> "x"')).toBe('true');
    expect(evaluate('is_defined($body.nothing)')).toBe('true');
    expect(evaluate('is_null($body.nothing)')).toBe('false');
  });

  it('is_null is true only for a JSON null', () => {
    expect(evaluate('is_null($body.device.faults)')).toBe('true');
    expect(evaluate('$body.device.faults = null')).toBe('true');
    expect(evaluate('is_null($body.level)')).toBe('false');
  });

  it('lets an application property with the exact name win, unless braces are used', () => {
    expect(evaluate('$body.conflict = "from-app"')).toBe('true');
    expect(evaluate('$BODY.CONFLICT = "from-app"')).toBe('true'); // property names are case-insensitive
    expect(evaluate('{$body.conflict} = 1')).toBe('true');
  });

  it('matches member names case-sensitively', () => {
    expect(evaluate('$body.Level = null')).toBe('true');
  });

  it('supports * as any member', () => {
    expect(evaluate('$body.device.* = "pump-3"')).toBe('undefined'); // three members: several values
    expect(compileCondition('$body.a.* = 1', { body: true }).evaluate(message({ json: { a: { only: 1 } } }))).toBe(
      'true',
    );
  });

  it('is off unless enabled: $body.x is then an ordinary system property', () => {
    expect(compileCondition('$body.conflict = "from-app"').evaluate(fixture)).toBe('true');
    expect(compileCondition('is_defined($body.level)').evaluate(fixture)).toBe('false');
    expect(compileCondition('is_defined({$body.conflict})').evaluate(fixture)).toBe('false');
  });
});

describe('message bodies Azure cannot read are undefined, never an error', () => {
  const condition = compileCondition('$body.level = 80', { body: true });
  const json = new TextEncoder().encode('{"level":80}');

  it.each<[string, RoutingMessage]>([
    ['no content type', message({ body: json, system: { contentEncoding: 'utf-8' } })],
    ['no content encoding', message({ body: json, system: { contentType: 'application/json' } })],
    ['another content type', message({ body: json, system: { contentType: 'text/plain', contentEncoding: 'utf-8' } })],
    [
      'an unknown encoding',
      message({ body: json, system: { contentType: 'application/json', contentEncoding: 'latin1' } }),
    ],
    ['no body', message({ body: null, system: { contentType: 'application/json', contentEncoding: 'utf-8' } })],
    [
      'an empty body',
      message({ body: new Uint8Array(), system: { contentType: 'application/json', contentEncoding: 'utf-8' } }),
    ],
    [
      'malformed JSON',
      message({
        body: new TextEncoder().encode('{"level":'),
        system: { contentType: 'application/json', contentEncoding: 'utf-8' },
      }),
    ],
    [
      'a JSON array',
      message({
        body: new TextEncoder().encode('[80]'),
        system: { contentType: 'application/json', contentEncoding: 'utf-8' },
      }),
    ],
    [
      'a JSON number',
      message({
        body: new TextEncoder().encode('80'),
        system: { contentType: 'application/json', contentEncoding: 'utf-8' },
      }),
    ],
    [
      'UTF-16 bytes labelled UTF-8',
      message({ body: utf16le('{"level":80}'), system: { contentType: 'application/json', contentEncoding: 'utf-8' } }),
    ],
  ])('%s', (_label, msg) => {
    expect(condition.evaluate(msg)).toBe('undefined');
  });

  it('reads UTF-16 and UTF-32 (little-endian) bodies, and content type and encoding in any case', () => {
    const system = (encoding: string) => ({ contentType: 'Application/JSON', contentEncoding: encoding });
    expect(condition.evaluate(message({ body: json, system: system('UTF-8') }))).toBe('true');
    expect(condition.evaluate(message({ body: utf16le('{"level":80}'), system: system('utf-16') }))).toBe('true');
    expect(condition.evaluate(message({ body: utf32le('{"level":80}'), system: system('utf-32') }))).toBe('true');
    expect(condition.evaluate(message({ body: utf32le('\ufeff{"level":80}'), system: system('UTF-32') }))).toBe('true');
  });

  it('reads each message body once, however many conditions query it', () => {
    const msg = message({ json: { level: 80 } });
    const a = compileCondition('$body.level = 80', { body: true });
    const b = compileCondition('$body.level > 10', { body: true });
    expect(a.evaluate(msg)).toBe('true');
    expect(b.evaluate(msg)).toBe('true');
  });
});

describe('invalid $body paths do not compile', () => {
  it.each(['$body.', '$body.a[]', '$body.a[x]', '$body.a..b', '$body.a.', '$body.a[0', '$body.123', '$body.a]'])(
    '%j',
    (condition) => {
      expect(() => compileCondition(condition, { body: true })).toThrow(RouteSyntaxError);
    },
  );

  it('points at the offending character', () => {
    try {
      compileCondition('x = "1" or $body.a[] = 2', { body: true });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RouteSyntaxError);
      expect((error as RouteSyntaxError).offset).toBe('x = "1" or $body.a['.length);
      expect((error as RouteSyntaxError).expected).toBe('an array index');
    }
  });

  it.each(['$body.root', '$body.ROOT.level1', '$body.a[0].b[12].c', '$body.123abc', '$body.a-b.$c'])(
    '%j is valid',
    (c) => {
      expect(() => compileCondition(c, { body: true })).not.toThrow();
    },
  );
});

describe('twin_change_includes', () => {
  const twin = message({
    source: '/twinChangeNotifications',
    json: { properties: { reported: { fw: { version: '1.2' }, removed: null }, $version: 3 } },
  });
  const check = (condition: string) => compileCondition(condition, { twinChangeIncludes: true }).evaluate(twin);

  it.each([
    ['twin_change_includes(properties.reported.fw)', 'true'],
    ['twin_change_includes(properties.reported.fw.version)', 'true'],
    ['TWIN_CHANGE_INCLUDES(properties.reported.removed)', 'true'],
    ['twin_change_includes(properties.reported.other)', 'false'],
    ['twin_change_includes(properties.desired.fw)', 'false'],
    ['not twin_change_includes(tags.location)', 'true'],
  ])('%j is %s', (condition, expected) => {
    expect(check(condition)).toBe(expected);
  });

  it.each([
    'twin_change_includes()',
    'twin_change_includes(properties)',
    'twin_change_includes(properties.reported)',
    'twin_change_includes(fw.version)',
    'twin_change_includes(properties.reported.a, properties.reported.b)',
    'twin_change_includes(properties.reported.)',
  ])('%j does not compile', (condition) => {
    expect(() => compileCondition(condition, { twinChangeIncludes: true })).toThrow(RouteSyntaxError);
  });

  it('is undefined when the notification body cannot be read', () => {
    const unreadable = message({ source: '/twinChangeNotifications', body: new TextEncoder().encode('{') });
    expect(compileCondition('twin_change_includes(tags.a)', { twinChangeIncludes: true }).evaluate(unreadable)).toBe(
      'undefined',
    );
  });
});

function utf16le(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    bytes[2 * i] = code & 0xff;
    bytes[2 * i + 1] = code >> 8;
  }
  return bytes;
}

function utf32le(text: string): Uint8Array {
  const codePoints = [...text].map((char) => char.codePointAt(0) ?? 0);
  const bytes = new Uint8Array(codePoints.length * 4);
  const view = new DataView(bytes.buffer);
  codePoints.forEach((codePoint, i) => {
    view.setUint32(4 * i, codePoint, true);
  });
  return bytes;
}
