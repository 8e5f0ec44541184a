import { describe, expect, it } from 'vitest';
import {
  compileRoutes,
  DEFAULT_ROUTE_PRIORITY,
  evaluateRoutes,
  parseRoute,
  RouteConfigError,
  RouteSyntaxError,
  sourceMatches,
} from '../src/index.js';
import { message } from './helpers.js';

describe('parseRoute', () => {
  it('splits a route into source, condition and sink', () => {
    expect(
      parseRoute(
        'FROM /messages/modules/sensor/outputs/* WHERE temp > 30 INTO BrokeredEndpoint("/modules/alerts/inputs/in1")',
      ),
    ).toEqual({
      source: '/messages/modules/sensor/outputs',
      condition: 'temp > 30',
      sink: {
        type: 'function',
        name: 'BrokeredEndpoint',
        address: '/modules/alerts/inputs/in1',
        module: 'alerts',
        input: 'in1',
      },
    });
  });

  it('defaults the condition to "true" and keeps WHERE text as written, trimmed', () => {
    expect(parseRoute('FROM /* INTO $upstream')).toEqual({
      source: '/',
      condition: 'true',
      sink: { type: 'upstream' },
    });
    expect(
      parseRoute('  select * from /messages where   a = "x"  AND ( b <> \'y\' )   into $UPSTREAM  ').condition,
    ).toBe('a = "x"  AND ( b <> \'y\' )');
  });

  it('accepts keywords in any case and addresses in either quote style', () => {
    const route = parseRoute("from /messages into brokeredendpoint('/modules/m/inputs/i')");
    expect(route.sink).toMatchObject({ type: 'function', name: 'brokeredendpoint', module: 'm', input: 'i' });
    expect(parseRoute('FROM /messages INTO BrokeredEndpoint("/modules/it\'s/inputs/x")').sink).toMatchObject({
      module: "it's",
    });
  });

  it.each([
    ['', 'SELECT or FROM'],
    ['FORM /messages INTO $upstream', 'SELECT or FROM'],
    ['SELECT FROM /messages INTO $upstream', "'*'"],
    ['FROM INTO $upstream', "a path starting with '/'"],
    ['FROM /messages/ INTO $upstream', 'a path segment or *'],
    ['FROM /messages WHERE INTO $upstream', 'expression'],
    ['FROM /messages WHERE a == 1 INTO $upstream', 'expression'],
    ['FROM /messages WHERE a = 1', 'an operator or INTO'],
    ['FROM /messages $upstream', "'/', WHERE or INTO"],
    ['FROM /messages INTO', '$upstream or BrokeredEndpoint("/modules/<module>/inputs/<input>")'],
    ['FROM /messages INTO upstream', "'('"],
    ['FROM /messages INTO $downstream', '$upstream'],
    ['FROM /messages INTO BrokeredEndpoint("/modules/a/inputs/b"', "')'"],
    ['FROM /messages INTO BrokeredEndpoint(/modules/a/inputs/b)', '"/modules/<module>/inputs/<input>"'],
    ['FROM /messages INTO BrokeredEndpoint("/modules/a/inputs/b\')', 'closing quote'],
    ['FROM /messages INTO OtherEndpoint("/modules/a/inputs/b")', 'BrokeredEndpoint'],
    ['FROM /messages INTO $upstream extra', 'end of route'],
  ])('rejects %j, expecting %s', (route, expected) => {
    try {
      parseRoute(route);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RouteSyntaxError);
      expect((error as RouteSyntaxError).expected).toBe(expected);
      expect((error as RouteSyntaxError).offset).toBeLessThanOrEqual(route.length);
    }
  });

  it('reports where the error is', () => {
    try {
      parseRoute('FROM /messages\nWHERE a == 1\nINTO $upstream');
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ line: 2, column: 10, offset: 24, found: "'='" });
    }
  });
});

describe('sink addresses (EndpointFactory rules)', () => {
  const sinkOf = (address: string) => parseRoute(`FROM /messages INTO BrokeredEndpoint("${address}")`).sink;

  it.each([
    ['/modules/alertLogic/inputs/in1', 'alertLogic', 'in1'],
    ['modules/alertLogic/inputs/in1', 'alertLogic', 'in1'],
    ['/modules/alertLogic/inputs/in1/', 'alertLogic', 'in1'],
    [' /modules/alertLogic/inputs/in1 ', 'alertLogic', 'in1'],
    // segments 0 and 2 are not checked by name
    ['/a/b/c/d', 'b', 'd'],
  ])('%j is module %s, input %s', (address, module, input) => {
    expect(sinkOf(address)).toMatchObject({ type: 'function', address, module, input });
  });

  it.each([
    '/modules/mod1',
    'mod1, in1',
    '/modules///alertLogic/inputs/in1',
    '//modules/alertLogic/inputs/in1',
    '/modules/alertLogic/inputs/in1//',
    '/modules//inputs/in1',
    '',
    '   ',
  ])('rejects %j', (address) => {
    expect(() => sinkOf(address)).toThrow(RouteSyntaxError);
  });

  it('matches $upstream case-insensitively and nothing else', () => {
    expect(parseRoute('FROM /messages INTO $UpStream').sink).toEqual({ type: 'upstream' });
    expect(() => parseRoute('FROM /messages INTO $cloud')).toThrow(/unknown system endpoint/);
  });
});

describe('sourceMatches', () => {
  const moduleOutput = '/messages/modules/ModId1/outputs/Op1';

  it.each([
    ['/', '/messages', true],
    ['/*', '/twinChangeNotifications', true],
    ['/messages', '/messages', true],
    ['/messages/*', '/messages', true],
    ['/MESSAGES', '/messages', true],
    ['/messages', moduleOutput, true],
    ['/messages/modules/*', moduleOutput, true],
    ['/messages/modules/modid1', moduleOutput, true],
    ['/messages/modules/ModId1/outputs/Op1', moduleOutput, true],
    ['/messages/modules', '/messages', false],
    ['/message', '/messages', false],
    ['/messages/modules/ModId', moduleOutput, false],
    ['/messages/modules/ModId1/outputs/Op2', moduleOutput, false],
    ['/*/messages/*', '/messages', false],
    ['/messages', '/twinChangeNotifications', false],
    ['', '/messages', false],
  ])('%j vs %j is %s', (routeSource, messageSource, expected) => {
    expect(sourceMatches(routeSource, messageSource)).toBe(expected);
  });
});

// Route evaluation semantics, after Azure's EvaluatorTest (routing-semantics.md B7).
describe('evaluateRoutes', () => {
  const message1 = message({ app: { key1: 'value1', key2: 'value2' } });
  const message4 = message({ app: { key1: 'value4', key2: 'value2' } });
  const invalidMessage = message({ source: '/invalid/message/path', app: { key1: 'value3', key2: 'value2' } });
  const sinkNames = (routes: ReturnType<typeof compileRoutes>, msg: typeof message1) =>
    evaluateRoutes(routes, msg).map((match) => (match.sink.type === 'upstream' ? '$upstream' : match.sink.module));

  it('routes only where the condition is true (smoke test)', () => {
    const routes = compileRoutes({
      r1: 'FROM /messages WHERE false INTO BrokeredEndpoint("/modules/e1/inputs/in")',
      r2: 'FROM /messages WHERE true INTO BrokeredEndpoint("/modules/e2/inputs/in")',
    });
    expect(evaluateRoutes(routes, message1)).toEqual([
      {
        sink: {
          type: 'function',
          name: 'BrokeredEndpoint',
          address: '/modules/e2/inputs/in',
          module: 'e2',
          input: 'in',
        },
        priority: DEFAULT_ROUTE_PRIORITY,
        timeToLiveSecs: 0,
        route: 'r2',
      },
    ]);
  });

  it('matches the message source', () => {
    const routes = compileRoutes({
      r1: 'FROM /messages INTO BrokeredEndpoint("/modules/e1/inputs/in")',
      r3: 'FROM /invalid/message/path INTO BrokeredEndpoint("/modules/e3/inputs/in")',
    });
    expect(sinkNames(routes, message1)).toEqual(['e1']);
    expect(sinkNames(routes, invalidMessage)).toEqual(['e3']);
  });

  it('drops messages no route matches (there is no fallback route)', () => {
    const routes = compileRoutes({ r1: "FROM /messages WHERE key1 = 'value1' INTO $upstream" });
    expect(sinkNames(routes, message1)).toEqual(['$upstream']);
    expect(evaluateRoutes(routes, message4)).toEqual([]);
  });

  it('per sink, the matching route with the lowest priority number wins and its TTL applies', () => {
    const routes = compileRoutes({
      id1: {
        route: 'FROM /messages WHERE key1 = \'value1\' INTO BrokeredEndpoint("/modules/e1/inputs/in")',
        priority: 1,
        timeToLiveSecs: 3600,
      },
      id2: {
        route: 'FROM /messages WHERE key1 = \'value1\' INTO BrokeredEndpoint("/modules/e1/inputs/in")',
        priority: 0,
        timeToLiveSecs: 7200,
      },
      id3: {
        route: 'FROM /messages WHERE key1 = \'value1\' INTO BrokeredEndpoint("/modules/e1/inputs/in")',
        priority: 2,
        timeToLiveSecs: 60,
      },
      id4: { route: "FROM /messages WHERE key1 = 'value1' INTO $upstream", priority: 0, timeToLiveSecs: 120 },
    });
    const matches = evaluateRoutes(routes, message1).map(({ route, priority, timeToLiveSecs }) => ({
      route,
      priority,
      timeToLiveSecs,
    }));
    expect(matches).toEqual([
      { route: 'id2', priority: 0, timeToLiveSecs: 7200 },
      { route: 'id4', priority: 0, timeToLiveSecs: 120 },
    ]);
  });

  it('a losing route only loses when its condition matched: a better route that does not match leaves it the winner', () => {
    const routes = compileRoutes({
      best: { route: "FROM /messages WHERE key1 = 'nope' INTO $upstream", priority: 0, timeToLiveSecs: 10 },
      other: { route: 'FROM /messages INTO $upstream', priority: 5, timeToLiveSecs: 20 },
    });
    expect(evaluateRoutes(routes, message1)).toMatchObject([{ route: 'other', priority: 5, timeToLiveSecs: 20 }]);
  });

  it('treats the same module input written differently as one sink, and different inputs as different sinks', () => {
    const routes = compileRoutes({
      a: 'FROM /messages INTO BrokeredEndpoint("/modules/m/inputs/in1")',
      b: { route: "FROM /messages INTO BrokeredEndpoint('modules/m/inputs/in1/')", priority: 3 },
      c: 'FROM /messages INTO BrokeredEndpoint("/modules/m/inputs/in2")',
    });
    expect(evaluateRoutes(routes, message1).map((match) => match.route)).toEqual(['b', 'c']);
  });

  it('breaks priority ties by declaration order', () => {
    const routes = compileRoutes({
      first: { route: 'FROM /* INTO $upstream', priority: 1, timeToLiveSecs: 1 },
      second: { route: 'FROM /* INTO $upstream', priority: 1, timeToLiveSecs: 2 },
    });
    expect(evaluateRoutes(routes, message1)).toMatchObject([{ route: 'first', timeToLiveSecs: 1 }]);
  });

  it('enables $body queries, and twin_change_includes for twin change routes only', () => {
    const routes = compileRoutes({
      hot: 'FROM /messages WHERE $body.temp > 30 INTO $upstream',
      twin: 'FROM /twinChangeNotifications WHERE twin_change_includes(properties.reported.fw) INTO BrokeredEndpoint("/modules/ota/inputs/twin")',
    });
    expect(evaluateRoutes(routes, message({ json: { temp: 31 } })).map((m) => m.route)).toEqual(['hot']);
    expect(evaluateRoutes(routes, message({ json: { temp: 29 } }))).toEqual([]);
    const twinChange = message({ source: '/twinChangeNotifications', json: { properties: { reported: { fw: '2' } } } });
    expect(evaluateRoutes(routes, twinChange).map((m) => m.route)).toEqual(['twin']);
    expect(() => compileRoutes({ bad: 'FROM /* WHERE twin_change_includes(tags.a) INTO $upstream' })).toThrow(
      /twinChangeNotifications/,
    );
  });

  it('never throws on odd messages', () => {
    const routes = compileRoutes({ r: "FROM /messages WHERE key1 = 'value1' OR $body.a = 1 INTO $upstream" });
    for (const odd of [null, {}, { source: 5 }, { source: '/messages', appProperties: 'x' }]) {
      expect(() => evaluateRoutes(routes, odd as never)).not.toThrow();
    }
  });
});

describe('compileRoutes rejects bad route tables at compile time', () => {
  it('names the route and points into its text', () => {
    try {
      compileRoutes({ ok: 'FROM /* INTO $upstream', broken: 'FROM /messages WHERE temp > 30 INTO $upstream' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RouteSyntaxError);
      const syntax = error as RouteSyntaxError;
      expect(syntax.routeName).toBe('broken');
      expect(syntax.offset).toBe('FROM /messages WHERE temp '.length);
      expect(syntax.message).toMatch(/^route 'broken': operator > needs operands of the same type/);
    }
  });

  it.each([
    [{ '': 'FROM /* INTO $upstream' }, /name cannot be empty/],
    [{ r: '' }, /text cannot be empty/],
    [{ r: { route: '' } }, /text cannot be empty/],
    [{ r: { route: 'FROM /* INTO $upstream', priority: 50 } }, /priority must be an integer from 0 to 9/],
    [{ r: { route: 'FROM /* INTO $upstream', priority: 1.5 } }, /priority/],
    [{ r: { route: 'FROM /* INTO $upstream', timeToLiveSecs: -1 } }, /timeToLiveSecs/],
  ])('%j', (table, message) => {
    expect(() => compileRoutes(table)).toThrow(RouteConfigError);
    expect(() => compileRoutes(table)).toThrow(message);
  });

  it('uses the default priority and TTL 0 when a route does not set them', () => {
    const [route] = compileRoutes({ r: { route: 'FROM /* INTO $upstream' } }).routes;
    expect(route).toMatchObject({ priority: DEFAULT_ROUTE_PRIORITY, timeToLiveSecs: 0 });
  });
});
