import { describe, expect, it } from 'vitest';
import { parseNumber } from '../src/builtins.js';
import { compileCondition, RouteSyntaxError } from '../src/index.js';
import { message } from './helpers.js';

const fixture = message({
  app: { temperature: '21.5', Site: 'Plant-A', mode: 'AUTO', cleared: null, $alert: 'app-alert' },
  system: { connectionDeviceId: 'sensor-7', alert: 'sys-alert', empty: null },
});

function evaluate(condition: string): string {
  return compileCondition(condition).evaluate(fixture);
}

describe('three-valued logic', () => {
  it.each([
    ['true', 'true'],
    ['false', 'false'],
    ['undefined', 'undefined'],
    ['', 'undefined'],
    ['   ', 'undefined'],
    ['/* only a comment */', 'undefined'],
    ['true and undefined', 'undefined'],
    ['false and undefined', 'false'],
    ['undefined and false', 'false'],
    ['true or undefined', 'true'],
    ['undefined or true', 'true'],
    ['false or undefined', 'undefined'],
    ['not (missing = "x")', 'undefined'],
    ['not false', 'true'],
    ['NOT true', 'false'],
    ['true AnD true', 'true'],
  ])('%j is %s', (condition, expected) => {
    expect(evaluate(condition)).toBe(expected);
  });

  it('treats a non-bool condition as undefined: only true fires a route', () => {
    expect(evaluate('42')).toBe('undefined');
    expect(evaluate("'text'")).toBe('undefined');
    expect(evaluate('site')).toBe('undefined');
  });

  it.each([
    ['null', 'false'],
    ['not null', 'true'],
    ['null or true', 'true'],
    ['null or false', 'false'],
    ['null and true', 'false'],
    ['(null and true) = null', 'true'],
    ['(null or null) = null', 'true'],
  ])('null follows Azure: %j is %s', (condition, expected) => {
    expect(evaluate(condition)).toBe(expected);
  });
});

describe('properties', () => {
  it.each([
    ['site = "Plant-A"', 'true'],
    ['SITE = "Plant-A"', 'true'],
    ["site = 'plant-a'", 'false'],
    ['site <> "Plant-B"', 'true'],
    ['nothing = "x"', 'undefined'],
    ['nothing <> "x"', 'undefined'],
    ['cleared = "x"', 'undefined'],
    ['is_defined(cleared)', 'true'],
    ['is_null(cleared)', 'true'],
    ['is_defined(nothing)', 'false'],
  ])('application property %j is %s', (condition, expected) => {
    expect(evaluate(condition)).toBe(expected);
  });

  it.each([
    ['$connectionDeviceId = "sensor-7"', 'true'],
    ['$CONNECTIONDEVICEID = "sensor-7"', 'true'],
    ['{$connectionDeviceId} = "sensor-7"', 'true'],
    ['{ $connectionDeviceId } = "sensor-7"', 'true'],
    // an application property literally named "$alert" wins over the system property "alert"...
    ['$alert = "app-alert"', 'true'],
    // ...unless the braces ask for the system property
    ['{$alert} = "sys-alert"', 'true'],
    ['$missing = "x"', 'undefined'],
    ['is_null($empty)', 'true'],
  ])('system property %j is %s', (condition, expected) => {
    expect(evaluate(condition)).toBe(expected);
  });

  it('property values are strings: numbers need as_number', () => {
    expect(evaluate('as_number(temperature) > 20')).toBe('true');
    expect(evaluate('as_number(temperature) = 21.5')).toBe('true');
    expect(evaluate('as_number(site) > 20')).toBe('undefined');
    expect(() => compileCondition('temperature > 20')).toThrow(RouteSyntaxError);
  });
});

describe('operators', () => {
  it.each([
    ['1 + 2 * 3 = 7', 'true'],
    ['(1 + 2) * 3 = 9', 'true'],
    ['10 - 4 - 3 = 3', 'true'],
    ['7 / 2 = 3.5', 'true'],
    ['7 % 4 = 3', 'true'],
    ['-(2 + 3) = -5', 'true'],
    ['is_defined(1 % 0)', 'false'],
    ['1 / 0 > 1000000', 'true'],
    ['0x1F = 31', 'true'],
    ['1.5e3 = 1500', 'true'],
    ['.5 = 0.5', 'true'],
    ["'a' < 'b'", 'true'],
    ["'B' < 'a'", 'true'],
    ["'abc' >= 'abc'", 'true'],
    ['3 <= 3', 'true'],
    ['3 != 3', 'false'],
    ['3 <> 4', 'true'],
    ['true = true', 'true'],
    ['false < true', 'true'],
    ["'a' || 'b' = 'ab'", 'true'],
    ["site || '/' || mode = 'Plant-A/AUTO'", 'true'],
    ["'x' || cleared = 'x'", 'true'],
    ["(nothing ?? 'fallback') = 'fallback'", 'true'],
    ["(site ?? 'fallback') = 'Plant-A'", 'true'],
    ['(1 % 0 ?? 2) = 2', 'true'],
    ['1 < 2 = true', 'true'],
    ['true or false and false', 'true'],
  ])('%j is %s', (condition, expected) => {
    expect(evaluate(condition)).toBe(expected);
  });

  it('binds prefix NOT tighter than comparisons, as Azure does', () => {
    // `not site = 'x'` is `(not site) = 'x'`: NOT of a string does not compile.
    expect(() => compileCondition("not site = 'x'")).toThrow(/NOT needs a bool/);
    expect(evaluate("not (site = 'x')")).toBe('true');
  });

  it('lexes like Azure: operators need spaces next to name characters', () => {
    // `3+4` is one identifier (a property that does not exist), `-x` is the property "-x".
    expect(evaluate('is_defined(3+4)')).toBe('false');
    expect(compileCondition('is_defined(-site)').evaluate(message({ app: { '-site': 'v' } }))).toBe('true');
    expect(evaluate('3 + 4 = 7')).toBe('true');
  });
});

describe('functions', () => {
  it.each([
    ['abs(-2) = 2', 'true'],
    ['exp(0) = 1', 'true'],
    ['power(2, 10) = 1024', 'true'],
    ['power(1, 1 / 0) = 1', 'true'],
    ['square(3) = 9', 'true'],
    ['ceiling(1.2) = 2', 'true'],
    ['floor(-1.2) = -2', 'true'],
    ['sign(-3) = -1', 'true'],
    ['sqrt(16) = 4', 'true'],
    ['is_defined(sqrt(-1))', 'false'],
    ["as_number('1,000.5') = 1000.5", 'true'],
    ["as_number(' 42 ') = 42", 'true'],
    ["as_number('(7)') = -7", 'true'],
    ["is_defined(as_number('0x10'))", 'false'],
    ['is_bool(true)', 'true'],
    ["is_bool('true')", 'false'],
    ['is_number(1)', 'true'],
    ['is_number(1 / 0)', 'false'],
    ['is_string(site)', 'true'],
    ['is_string(cleared)', 'false'],
    ['is_null(null)', 'true'],
    ['is_null(1)', 'false'],
    ["concat(site, '-', mode) = 'Plant-A-AUTO'", 'true'],
    ['is_defined(concat(site, nothing))', 'false'],
    ['length(site) = 7', 'true'],
    ["lower(mode) = 'auto'", 'true'],
    ["UPPER(site) = 'PLANT-A'", 'true'],
    ["substring(site, 6) = 'A'", 'true'],
    ["substring(site, 0, 5) = 'Plant'", 'true'],
    ['is_defined(substring(site, 8))', 'false'],
    ['is_defined(substring(site, 2, 9))', 'false'],
    ["index_of(site, '-') = 5", 'true'],
    ["index_of(site, 'z') = -1", 'true'],
    ["starts_with(site, 'Plant')", 'true'],
    ["ends_with(site, '-A')", 'true'],
    ["contains(site, 't-')", 'true'],
    ["contains(nothing, 't-')", 'undefined'],
  ])('%j is %s', (condition, expected) => {
    expect(evaluate(condition)).toBe(expected);
  });

  it('function names are case-insensitive', () => {
    expect(evaluate("Starts_With(site, 'P')")).toBe('true');
  });
});

describe('compile-time errors', () => {
  function errorOf(condition: string, options = {}): RouteSyntaxError {
    try {
      compileCondition(condition, options);
    } catch (error) {
      if (error instanceof RouteSyntaxError) return error;
      throw error;
    }
    throw new Error(`${condition} compiled`);
  }

  it('reports the position and the expected token', () => {
    const error = errorOf('site == "x"');
    expect(error.offset).toBe(6);
    expect(error.line).toBe(1);
    expect(error.column).toBe(7);
    expect(error.expected).toBe('expression');
    expect(error.found).toBe("'='");
    expect(error.message).toMatch(/line 1, column 7/);
  });

  it('counts lines and columns from 1', () => {
    const error = errorOf('site = "x"\n  and (mode = ');
    expect(error.line).toBe(2);
    expect(error.column).toBe(15);
    expect(error.found).toBe('end of input');
  });

  it.each([
    ['site = "x" mode', 'an operator or end of input'],
    ['(site = "x"', "')'"],
    ['site = "x")', 'an operator or end of input'],
    ['abs(1', "',' or ')'"],
    ['{site}', 'a $ system property'],
    ['site = @', 'expression'],
    ['where = 1', 'expression'],
  ])('%j expects %s', (condition, expected) => {
    expect(errorOf(condition).expected).toBe(expected);
  });

  it.each([
    ['3 + site', /operator \+ needs number operands, not number and string/],
    ["3 = '3'", /operator = needs operands of the same type/],
    ['site and true', /operator AND needs bool operands/],
    ['undefined and null', /null and undefined cannot be combined/],
    ["'a' || 1", /operator \|\| needs string operands/],
    ['nope(1)', /unknown function 'nope'/],
    ['length(1)', /length\(\) takes \(string\), not \(number\)/],
    ['concat("a")', /concat\(\) takes/],
    ['- site', /cannot negate a string/],
    ['"unterminated', /unterminated string/],
    ["'bad \\n escape'", /unterminated string/],
    ['$body.a = 1', /unknown|same type/],
  ])('%j does not compile', (condition, message) => {
    expect(() => compileCondition(condition)).toThrow(message);
  });

  it('rejects twin_change_includes unless enabled', () => {
    expect(() => compileCondition('twin_change_includes(properties.reported.x)')).toThrow(/twinChangeNotifications/);
    expect(() =>
      compileCondition('twin_change_includes(properties.reported.x)', { twinChangeIncludes: true }),
    ).not.toThrow();
  });

  it('rejects absurdly deep nesting instead of overflowing the stack', () => {
    const deep = `${'('.repeat(5000)}true${')'.repeat(5000)}`;
    expect(() => compileCondition(deep)).toThrow(RouteSyntaxError);
    const long = Array.from({ length: 5000 }, () => 'true').join(' and ');
    expect(() => compileCondition(long)).toThrow(RouteSyntaxError);
    const fine = Array.from({ length: 200 }, (_, i) => `p${i} = 'v'`).join(' or ');
    expect(compileCondition(fine).evaluate(message({ app: { p199: 'v' } }))).toBe('true');
  });
});

describe('compile once, evaluate many', () => {
  it('returns the same result for repeated evaluations and different messages', () => {
    const condition = compileCondition("site = 'Plant-A' and as_number(temperature) > 20");
    expect(condition.evaluate(fixture)).toBe('true');
    expect(condition.evaluate(fixture)).toBe('true');
    expect(condition.evaluate(message({ app: { site: 'Plant-A', temperature: '3' } }))).toBe('false');
    expect(condition.evaluate(message())).toBe('undefined');
    expect(condition.test(fixture)).toBe(true);
    expect(condition.text).toBe("site = 'Plant-A' and as_number(temperature) > 20");
  });

  it('never throws on odd messages', () => {
    const condition = compileCondition("site = 'x' or $body.a = 1 or $y = 'z'", { body: true });
    const odd: unknown[] = [
      null,
      undefined,
      {},
      { appProperties: null, systemProperties: 7 },
      { appProperties: { site: 3 }, systemProperties: { contentType: {} } },
      { appProperties: Object.create({ site: 'x' }) },
      {
        appProperties: new Proxy(
          {},
          {
            get() {
              throw new Error('boom');
            },
          },
        ),
      },
    ];
    for (const value of odd) {
      expect(['true', 'false', 'undefined']).toContain(condition.evaluate(value as never));
    }
  });
});

describe('as_number reads numbers the way .NET does', () => {
  it.each([
    ['3', 3],
    ['-12.5', -12.5],
    ['+5', 5],
    ['5-', -5],
    ['1E+3', 1000],
    [' 1,234 ', 1234],
    ['(7)', -7],
    ['1.', 1],
    ['.5', 0.5],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-infinity', Number.NEGATIVE_INFINITY],
    ['10e1000', Number.POSITIVE_INFINITY],
  ])('%j is %d', (text, expected) => {
    expect(parseNumber(text)).toBe(expected);
  });

  it.each(['', '.', '0x10', '1_0', '1e', 'e1', 'NaN', '- 5', '12abc', '+5-'])('%j is not a number', (text) => {
    expect(parseNumber(text)).toBeNaN();
  });
});
