/**
 * Built-in functions. Each has one or more signatures tried in order, as in Azure; the first whose parameter types
 * accept the argument types is used. Signatures marked `dynamic` also accept `$body` values for their parameters
 * and receive every argument as a dynamic value; their results are undefined when a value has the wrong type.
 */
import {
  boolOf,
  type Compiled,
  type CompiledDynamic,
  constantBool,
  type Dynamic,
  NULL_STRING,
  numberOf,
  type StaticType,
  stringOf,
  type Tri,
} from './values.js';

export type ParameterList =
  | { readonly kind: 'fixed'; readonly types: readonly StaticType[] }
  /** The last type repeats: `concat(string, string, string...)` needs at least two. */
  | { readonly kind: 'variadic'; readonly types: readonly StaticType[] }
  | { readonly kind: 'any'; readonly count: number };

export type Signature =
  | {
      readonly parameters: ParameterList;
      /** Accepts `$body` values; every argument arrives as a dynamic value. */
      readonly dynamic: true;
      readonly build: (args: readonly CompiledDynamic[]) => Compiled;
    }
  | {
      readonly parameters: ParameterList;
      /** Arguments must have exactly the parameter types and arrive as they are. */
      readonly dynamic: false;
      readonly build: (args: readonly Compiled[]) => Compiled;
    };

/** Types a dynamic value may stand in for. */
const DYNAMIC_COMPATIBLE: ReadonlySet<StaticType> = new Set<StaticType>(['null', 'number', 'string', 'bool']);

/** Whether an argument of type `given` fits a parameter of type `expected`. */
export function argumentFits(expected: StaticType, given: StaticType, allowDynamic: boolean): boolean {
  if (expected === given) return true;
  if (!allowDynamic) return false;
  return (
    (given === 'dynamic' && DYNAMIC_COMPATIBLE.has(expected)) ||
    (expected === 'dynamic' && DYNAMIC_COMPATIBLE.has(given))
  );
}

export function signatureFits(signature: Signature, given: readonly StaticType[]): boolean {
  const { parameters, dynamic } = signature;
  switch (parameters.kind) {
    case 'any':
      return given.length === parameters.count;
    case 'fixed':
      return (
        given.length === parameters.types.length &&
        parameters.types.every((type, i) => argumentFits(type, given[i] as StaticType, dynamic))
      );
    case 'variadic': {
      const required = parameters.types.length - 1;
      const repeated = parameters.types[required] as StaticType;
      return (
        given.length >= required &&
        given.every((type, i) => {
          const expected = i < required ? (parameters.types[i] as StaticType) : repeated;
          return type === expected || (dynamic && type === 'dynamic');
        })
      );
    }
  }
}

export function describeParameters(parameters: ParameterList): string {
  switch (parameters.kind) {
    case 'any':
      return `${parameters.count} argument${parameters.count === 1 ? '' : 's'} of any type`;
    case 'fixed':
      return `(${parameters.types.join(', ')})`;
    case 'variadic':
      return `(${parameters.types.join(', ')}, ...)`;
  }
}

function fixed(...types: StaticType[]): ParameterList {
  return { kind: 'fixed', types };
}

/** `f(number) -> number` on a dynamic argument: NaN (undefined) unless the value is a number. */
function math(fn: (x: number) => number): Signature {
  return {
    parameters: fixed('number'),
    dynamic: true,
    build: (args) => {
      const x = args[0]!.run;
      return numberOf((m) => {
        const value = x(m);
        return typeof value === 'number' ? fn(value) : Number.NaN;
      }, args);
    },
  };
}

/** .NET's Math.Pow follows IEEE 754: 1 to any power and -1 to an infinite power are 1 (JavaScript says NaN). */
function power(base: number, exponent: number): number {
  if (base === 1 || (base === -1 && !Number.isFinite(exponent))) return 1;
  return base ** exponent;
}

/**
 * .NET `double.TryParse(s, NumberStyles.Any, InvariantCulture)`: surrounding whitespace, a leading or trailing sign,
 * parentheses for negatives, `,` thousands separators, a decimal point and an exponent; also Infinity and NaN.
 */
export function parseNumber(text: string): number {
  if (isPlainDecimal(text)) return Number(text);
  let body = text.replace(/^[\t-\r ]+|[\t-\r ]+$/g, '');
  let negative = false;
  if (body.startsWith('(') && body.endsWith(')')) {
    negative = true;
    body = body.slice(1, -1);
  }
  const match = /^([+-]?)(\d[\d,]*)?(\.\d*)?(?:[eE]([+-]?\d+))?([+-]?)$/.exec(body);
  if (match === null) {
    const special = /^([+-]?)(infinity|\u221E)$/i.exec(body);
    if (special === null || negative) return Number.NaN;
    return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  const [, leadingSign = '', integer = '', fraction = '', exponent, trailingSign = ''] = match;
  if (integer === '' && fraction.length <= 1) return Number.NaN;
  if (leadingSign !== '' && trailingSign !== '') return Number.NaN;
  if (negative && (leadingSign !== '' || trailingSign !== '')) return Number.NaN;
  const magnitude = Number(
    `${integer.replaceAll(',', '') || '0'}${fraction === '.' ? '' : fraction}e${exponent ?? '0'}`,
  );
  const sign = negative || leadingSign === '-' || trailingSign === '-' ? -1 : 1;
  return sign * magnitude;
}

/**
 * Fast path for the common case, `-12.5` or `3e4`: `[+-]digits[.digits][e[+-]digits]`, which JavaScript's Number()
 * reads exactly like .NET. Avoids the regular expressions of the general case.
 */
function isPlainDecimal(text: string): boolean {
  let at = 0;
  const length = text.length;
  const sign = text.charCodeAt(0);
  if (sign === 43 || sign === 45) at++;
  const integerStart = at;
  while (at < length && isDigitCode(text.charCodeAt(at))) at++;
  if (at === integerStart) return false;
  if (text.charCodeAt(at) === 46) {
    const fractionStart = ++at;
    while (at < length && isDigitCode(text.charCodeAt(at))) at++;
    if (at === fractionStart) return false;
  }
  const e = text.charCodeAt(at);
  if (e === 101 || e === 69) {
    at++;
    const exponentSign = text.charCodeAt(at);
    if (exponentSign === 43 || exponentSign === 45) at++;
    const exponentStart = at;
    while (at < length && isDigitCode(text.charCodeAt(at))) at++;
    if (at === exponentStart) return false;
  }
  return at === length;
}

function isDigitCode(code: number): boolean {
  return code >= 48 && code <= 57;
}

function stringPredicate(test: (text: string, fragment: string) => boolean): Signature {
  return {
    parameters: fixed('string', 'string'),
    dynamic: true,
    build: (args) => {
      const text = args[0]!.run;
      const fragment = args[1]!.run;
      return boolOf((m) => {
        const a = text(m);
        const b = fragment(m);
        return typeof a === 'string' && typeof b === 'string' ? test(a, b) : undefined;
      }, args);
    },
  };
}

function stringMap(fn: (text: string) => string): Signature {
  return {
    parameters: fixed('string'),
    dynamic: true,
    build: (args) => {
      const text = args[0]!.run;
      return stringOf((m) => {
        const value = text(m);
        return typeof value === 'string' ? fn(value) : undefined;
      }, args);
    },
  };
}

/** `is_xxx(value)` that is false for any argument not of the checked type. */
function alwaysFalse(): Signature {
  return { parameters: { kind: 'any', count: 1 }, dynamic: false, build: () => constantBool(false) };
}

function typeCheck(type: StaticType, test: (value: Dynamic) => Tri): Signature {
  return {
    parameters: fixed(type),
    dynamic: true,
    build: (args) => {
      const value = args[0]!.run;
      return boolOf((m) => test(value(m)), args);
    },
  };
}

/** Exactly one parameter of exactly `type` (no dynamic conversion). */
function exact<T extends StaticType>(type: T, build: (arg: Extract<Compiled, { type: T }>) => Compiled): Signature {
  return { parameters: fixed(type), dynamic: false, build: (args) => build(args[0] as Extract<Compiled, { type: T }>) };
}

function substringFrom(text: string, start: number): string | undefined {
  return start >= 0 && start <= text.length ? text.substring(Math.trunc(start)) : undefined;
}

function substringOfLength(text: string, start: number, length: number): string | undefined {
  const valid = start >= 0 && start < text.length && length >= 0 && length <= text.length - start;
  if (!valid) return undefined;
  const from = Math.trunc(start);
  return text.substring(from, from + Math.trunc(length));
}

/** Built-in functions by lower-case name (names are case-insensitive). `twin_change_includes` is compiled apart. */
export const BUILTINS: ReadonlyMap<string, readonly Signature[]> = new Map<string, readonly Signature[]>([
  ['abs', [math(Math.abs)]],
  ['exp', [math(Math.exp)]],
  [
    'power',
    [
      {
        parameters: fixed('number', 'number'),
        dynamic: true,
        build: (args) => {
          const base = args[0]!.run;
          const exponent = args[1]!.run;
          return numberOf((m) => {
            const x = base(m);
            const y = exponent(m);
            return typeof x === 'number' && typeof y === 'number' ? power(x, y) : Number.NaN;
          }, args);
        },
      },
    ],
  ],
  ['square', [math((x) => x * x)]],
  ['ceiling', [math(Math.ceil)]],
  ['floor', [math(Math.floor)]],
  ['sign', [math((x) => (x > 0 ? 1 : x < 0 ? -1 : 0))]],
  ['sqrt', [math(Math.sqrt)]],
  [
    'as_number',
    [
      {
        parameters: fixed('string'),
        dynamic: true,
        build: (args) => {
          const value = args[0]!.run;
          return numberOf((m) => {
            const v = value(m);
            return typeof v === 'string' ? parseNumber(v) : typeof v === 'number' ? v : Number.NaN;
          }, args);
        },
      },
      exact('number', (arg) => arg),
    ],
  ],
  ['is_bool', [typeCheck('bool', (v) => (v === undefined ? undefined : typeof v === 'boolean')), alwaysFalse()]],
  [
    'is_defined',
    [
      exact('string', (arg) => definedTest(arg)),
      exact('number', (arg) => definedTest(arg)),
      exact('bool', (arg) => definedTest(arg)),
      exact('undefined', () => constantBool(false)),
      exact('null', () => constantBool(true)),
      exact('dynamic', (arg) => definedTest(arg)),
    ],
  ],
  [
    'is_null',
    [
      exact('string', (arg) => {
        const run = arg.run;
        return boolOf((m) => run(m) === null, [arg]);
      }),
      // Azure answers true for every defined $body value here (a reference-comparison bug); we answer whether
      // the value is JSON null. A path that matched nothing is not null, as in Azure.
      exact('dynamic', (arg) => {
        const run = arg.run;
        return boolOf(
          (m) => {
            const v = run(m);
            return v === undefined ? undefined : v === null || v === NULL_STRING;
          },
          [arg],
        );
      }),
      exact('null', () => constantBool(true)),
      alwaysFalse(),
    ],
  ],
  ['is_number', [typeCheck('number', (v) => typeof v === 'number' && Number.isFinite(v)), alwaysFalse()]],
  ['is_string', [typeCheck('string', (v) => typeof v === 'string'), alwaysFalse()]],
  [
    'concat',
    [
      {
        parameters: { kind: 'variadic', types: ['string', 'string', 'string'] },
        dynamic: true,
        build: (args) => {
          const parts = args.map((arg) => arg.run);
          return stringOf((m) => {
            let result = '';
            for (const part of parts) {
              const value = part(m);
              if (typeof value === 'string') result += value;
              else if (value !== NULL_STRING) return undefined; // null strings concatenate as empty, as in .NET
            }
            return result;
          }, args);
        },
      },
    ],
  ],
  [
    'length',
    [
      {
        parameters: fixed('string'),
        dynamic: true,
        build: (args) => {
          const text = args[0]!.run;
          return numberOf((m) => {
            const value = text(m);
            return typeof value === 'string' ? value.length : Number.NaN;
          }, args);
        },
      },
    ],
  ],
  ['lower', [stringMap((text) => text.toLowerCase())]],
  ['upper', [stringMap((text) => text.toUpperCase())]],
  [
    'substring',
    [
      {
        parameters: fixed('string', 'number'),
        dynamic: true,
        build: (args) => {
          const text = args[0]!.run;
          const start = args[1]!.run;
          return stringOf((m) => {
            const t = text(m);
            const s = start(m);
            return typeof t === 'string' && typeof s === 'number' ? substringFrom(t, s) : undefined;
          }, args);
        },
      },
      {
        parameters: fixed('string', 'number', 'number'),
        dynamic: true,
        build: (args) => {
          const text = args[0]!.run;
          const start = args[1]!.run;
          const length = args[2]!.run;
          return stringOf((m) => {
            const t = text(m);
            const s = start(m);
            const l = length(m);
            return typeof t === 'string' && typeof s === 'number' && typeof l === 'number'
              ? substringOfLength(t, s, l)
              : undefined;
          }, args);
        },
      },
    ],
  ],
  [
    'index_of',
    [
      {
        parameters: fixed('string', 'string'),
        dynamic: true,
        build: (args) => {
          const text = args[0]!.run;
          const fragment = args[1]!.run;
          return numberOf((m) => {
            const a = text(m);
            const b = fragment(m);
            return typeof a === 'string' && typeof b === 'string' ? a.indexOf(b) : Number.NaN;
          }, args);
        },
      },
    ],
  ],
  ['starts_with', [stringPredicate((text, fragment) => text.startsWith(fragment))]],
  ['ends_with', [stringPredicate((text, fragment) => text.endsWith(fragment))]],
  ['contains', [stringPredicate((text, fragment) => text.includes(fragment))]],
]);

/** is_defined for each static type: undefined strings, NaN numbers and unknown bools are not defined. */
export function definedTest(arg: Compiled): Compiled {
  switch (arg.type) {
    case 'string': {
      const run = arg.run;
      return boolOf((m) => run(m) !== undefined, [arg]);
    }
    case 'number': {
      const run = arg.run;
      return boolOf((m) => !Number.isNaN(run(m)), [arg]);
    }
    case 'bool': {
      const run = arg.run;
      return boolOf((m) => run(m) !== undefined, [arg]);
    }
    case 'dynamic': {
      const run = arg.run;
      return boolOf((m) => run(m) !== undefined, [arg]);
    }
    case 'null':
      return constantBool(true);
    case 'undefined':
      return constantBool(false);
  }
}
