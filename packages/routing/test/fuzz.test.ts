/**
 * Property-based tests: random text must either compile or be rejected with a positioned RouteSyntaxError, and
 * nothing that compiled may throw or return anything but 'true' | 'false' | 'undefined' on any message.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileCondition,
  compileRoutes,
  evaluateRoutes,
  parseRoute,
  RouteSyntaxError,
  type RoutingMessage,
  sourceMatches,
} from '../src/index.js';

const RUNS = { numRuns: 400 };
const RESULTS = ['true', 'false', 'undefined'];
const encoder = new TextEncoder();

/** Compiles or returns the positioned error; any other exception fails the property. */
function tryCompile(text: string, options = {}): ReturnType<typeof compileCondition> | RouteSyntaxError {
  try {
    return compileCondition(text, options);
  } catch (error) {
    if (!(error instanceof RouteSyntaxError)) throw error;
    expect(error.offset).toBeGreaterThanOrEqual(0);
    expect(error.offset).toBeLessThanOrEqual(text.length);
    expect(error.line).toBeGreaterThanOrEqual(1);
    expect(error.column).toBeGreaterThanOrEqual(1);
    expect(error.expected.length).toBeGreaterThan(0);
    return error;
  }
}

// --- generators -------------------------------------------------------------------------------------------------

const names = fc.constantFrom('temp', 'TEMP', 'site', 'mode', 'cleared', 'missing', 'a', 'b');
const bodyPath = fc
  .array(fc.tuple(fc.constantFrom('a', 'b', 'level', 'items', 'x', '*'), fc.option(fc.nat(3), { nil: undefined })), {
    minLength: 1,
    maxLength: 4,
  })
  .map((segments) => segments.map(([name, index]) => (index === undefined ? name : `${name}[${index}]`)).join('.'));

const quoted = fc.string({ maxLength: 8 }).map((s) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`);

const leaf = fc.oneof(
  fc.constantFrom('true', 'false', 'null', 'undefined', '0', '1', '-2', '3.5', '1e3', '0x10'),
  fc.integer({ min: -1000, max: 1000 }).map(String),
  quoted,
  names,
  names.map((name) => `$${name}`),
  names.map((name) => `{$${name}}`),
  bodyPath.map((path) => `$body.${path}`),
);

const FUNCTIONS = [
  'abs',
  'exp',
  'power',
  'square',
  'ceiling',
  'floor',
  'sign',
  'sqrt',
  'as_number',
  'is_bool',
  'is_defined',
  'is_null',
  'is_number',
  'is_string',
  'concat',
  'length',
  'lower',
  'upper',
  'substring',
  'index_of',
  'starts_with',
  'ends_with',
  'contains',
];
const BINARY = ['+', '-', '*', '/', '%', '||', '<', '<=', '>', '>=', '=', '!=', '<>', 'AND', 'or', '??'];

/** Syntactically valid conditions (they may still be ill-typed). */
const { expression } = fc.letrec<{ expression: string }>((tie) => ({
  expression: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.tuple(tie('expression'), fc.constantFrom(...BINARY), tie('expression')).map(([a, op, b]) => `${a} ${op} ${b}`),
    tie('expression').map((e) => `not ${e}`),
    tie('expression').map((e) => `- ${e}`),
    tie('expression').map((e) => `(${e})`),
    fc
      .tuple(fc.constantFrom(...FUNCTIONS), fc.array(tie('expression'), { maxLength: 3 }))
      .map(([name, args]) => `${name}(${args.join(', ')})`),
  ),
}));

/** Conditions without $body, where AND / OR follow plain Kleene logic. */
const plainExpression = expression.filter((text) => !text.includes('$body'));

const TOKENS = [
  ...BINARY,
  ...FUNCTIONS,
  '(',
  ')',
  ',',
  '{',
  '}',
  'not',
  'true',
  'null',
  '"s"',
  "'s",
  '$x',
  '$body.a[1]',
  '3',
  '-',
  'where',
  'INTO',
  '/*',
  '*/',
  '\\',
  '@',
];
const tokenSoup = fc
  .tuple(fc.array(fc.constantFrom(...TOKENS, 'temp', 'site'), { maxLength: 12 }), fc.constantFrom(' ', '', '\n'))
  .map(([tokens, separator]) => tokens.join(separator));

const anyText = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), tokenSoup);

const propertyValue = fc.option(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('3', '21.5', '-1', 'x')), {
  nil: null,
});
const propertyBag = fc.dictionary(
  fc.oneof(
    names,
    names.map((n) => `$${n}`),
    fc.string({ maxLength: 5 }),
  ),
  propertyValue,
  {
    maxKeys: 6,
  },
);
const jsonBody = fc
  .oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({
      a: fc.jsonValue({ maxDepth: 2 }),
      level: fc.oneof(fc.integer(), fc.string()),
      items: fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
    }),
  )
  .map((value) => encoder.encode(JSON.stringify(value)));
const messages: fc.Arbitrary<RoutingMessage> = fc.record({
  source: fc.constantFrom('/messages', '/messages/modules/m/outputs/o', '/twinChangeNotifications', '', 'x'),
  body: fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 24 }), jsonBody),
  appProperties: propertyBag,
  systemProperties: fc
    .tuple(
      propertyBag,
      fc.record(
        {
          contentType: fc.constantFrom('application/json', 'APPLICATION/JSON', 'text/plain', ''),
          contentEncoding: fc.constantFrom('utf-8', 'UTF-16', 'utf-32', 'latin1'),
        },
        { requiredKeys: [] },
      ),
    )
    .map(([bag, content]) => ({ ...bag, ...content })),
});

// --- properties -------------------------------------------------------------------------------------------------

describe('fuzz: conditions', () => {
  it('random text compiles or is rejected with a position, and compiled conditions never throw', () => {
    fc.assert(
      fc.property(anyText, messages, fc.boolean(), (text, msg, body) => {
        const compiled = tryCompile(text, { body });
        if (compiled instanceof RouteSyntaxError) return;
        expect(RESULTS).toContain(compiled.evaluate(msg));
      }),
      RUNS,
    );
  });

  it('generated conditions type-check or are rejected with a position; evaluation never throws', () => {
    fc.assert(
      fc.property(expression, fc.array(messages, { minLength: 1, maxLength: 3 }), (text, batch) => {
        const compiled = tryCompile(text, { body: true });
        if (compiled instanceof RouteSyntaxError) {
          // Generated text is always syntactically valid, so only type errors are possible.
          expect(compiled.found).not.toBe('end of input');
          return;
        }
        for (const msg of batch) {
          const first = compiled.evaluate(msg);
          expect(RESULTS).toContain(first);
          expect(compiled.evaluate(msg)).toBe(first); // deterministic, even with the body cached
        }
      }),
      RUNS,
    );
  });

  it('NOT negates in three-valued logic', () => {
    const negate = { true: 'false', false: 'true', undefined: 'undefined' } as const;
    fc.assert(
      fc.property(expression, messages, (text, msg) => {
        const plain = tryCompile(`(${text})`, { body: true });
        const negated = tryCompile(`not (${text})`, { body: true });
        if (plain instanceof RouteSyntaxError || negated instanceof RouteSyntaxError) return;
        expect(negated.evaluate(msg)).toBe(negate[plain.evaluate(msg)]);
      }),
      RUNS,
    );
  });

  it("De Morgan's laws hold (without $body, whose AND/OR are stricter)", () => {
    fc.assert(
      fc.property(plainExpression, plainExpression, messages, (a, b, msg) => {
        const left = tryCompile(`not ((${a}) and (${b}))`);
        const right = tryCompile(`(not (${a})) or (not (${b}))`);
        if (left instanceof RouteSyntaxError || right instanceof RouteSyntaxError) return;
        expect(left.evaluate(msg)).toBe(right.evaluate(msg));
      }),
      RUNS,
    );
  });

  it('random message bodies never break $body queries', () => {
    fc.assert(
      fc.property(bodyPath, fc.constantFrom('= 1', '<> "x"', '= null', '> 0'), messages, (path, tail, msg) => {
        const compiled = compileCondition(`$body.${path} ${tail} or is_defined($body.${path})`, { body: true });
        expect(RESULTS).toContain(compiled.evaluate(msg));
      }),
      RUNS,
    );
  });
});

describe('fuzz: routes', () => {
  it('random text parses or is rejected with a position', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyText,
          anyText.map((text) => `FROM /messages WHERE ${text} INTO $upstream`),
        ),
        (text) => {
          try {
            const route = parseRoute(text);
            expect(route.source.startsWith('/')).toBe(true);
          } catch (error) {
            if (!(error instanceof RouteSyntaxError)) throw error;
            expect(error.offset).toBeLessThanOrEqual(text.length);
          }
        },
      ),
      RUNS,
    );
  });

  it('gives back the WHERE text exactly as written', () => {
    fc.assert(
      fc.property(expression, (condition) => {
        const route = parseRoute(
          `FROM /messages/* WHERE   ${condition}   INTO BrokeredEndpoint("/modules/m/inputs/i")`,
        );
        expect(route.condition).toBe(condition);
        expect(route.source).toBe('/messages');
      }),
      RUNS,
    );
  });

  it('route tables of generated routes evaluate without throwing', () => {
    const route = fc
      .tuple(
        fc.constantFrom('/*', '/messages', '/messages/modules/m/*', '/twinChangeNotifications'),
        expression,
        fc.boolean(),
      )
      .map(
        ([source, condition, upstream]) =>
          `FROM ${source} WHERE ${condition} INTO ${upstream ? '$upstream' : 'BrokeredEndpoint("/modules/m/inputs/i")'}`,
      );
    fc.assert(
      fc.property(fc.array(route, { maxLength: 4 }), messages, (texts, msg) => {
        let table: ReturnType<typeof compileRoutes>;
        try {
          table = compileRoutes(
            Object.fromEntries(texts.map((text, i) => [`r${i}`, { route: text, priority: i % 10 }])),
          );
        } catch (error) {
          if (error instanceof RouteSyntaxError) return;
          throw error;
        }
        const matches = evaluateRoutes(table, msg);
        const sinks = matches.map((match) => JSON.stringify(match.sink));
        expect(new Set(sinks).size).toBe(sinks.length); // one winner per sink
      }),
      { numRuns: 200 },
    );
  });

  it('a route source matches itself, its sub-paths, and / matches everything', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/);
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.array(segment, { maxLength: 2 }),
        (path, more) => {
          const source = `/${path.join('/')}`;
          expect(sourceMatches(source, source)).toBe(true);
          expect(sourceMatches(`${source}/*`, source)).toBe(true);
          expect(sourceMatches(source.toUpperCase(), [source, ...more].join('/'))).toBe(true);
          expect(sourceMatches('/', source)).toBe(true);
          expect(sourceMatches(`${source}x`, source)).toBe(false);
        },
      ),
      RUNS,
    );
  });
});
