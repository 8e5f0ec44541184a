/**
 * Property-based tests: validateManifest never throws, whatever it is given, and every rejection says where the
 * problem is. Mutated manifests start valid and get exactly one change, so each error must point at (or next to) the
 * value that was changed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AzureImportError,
  canonicalJson,
  diffManifests,
  fromAzureManifest,
  type JsonPathSegment,
  type ManifestIssue,
  parseJsonPath,
  type ValidationResult,
  validateManifest,
} from '../src/index.js';

const MUTATED_RUNS = 10_000;
/**
 * Each property takes one to three seconds here; the limit only keeps a slow, shared CI machine from failing them on
 * vitest's default 5 s.
 */
const FUZZ_TIMEOUT_MS = 60_000;

// --- valid manifests -----------------------------------------------------------------------------------------------

const moduleName = fc.constantFrom('sensor', 'filter', 'alerts', 'Temp-Sensor_2', '0day', 'x');
const text = fc.string({ minLength: 1, maxLength: 12 });
const seconds = fc.integer({ min: 1, max: 100_000 });
const jsonObject = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });

const common = {
  version: fc.option(text, { nil: undefined }),
  status: fc.option(fc.constantFrom('running', 'stopped'), { nil: undefined }),
  restartPolicy: fc.option(fc.constantFrom('never', 'on-failure', 'on-unhealthy', 'always'), { nil: undefined }),
  startupOrder: fc.option(fc.nat({ max: 4_294_967_295 }), { nil: undefined }),
  env: fc.option(
    fc.dictionary(
      fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/),
      fc.record(
        { value: fc.string({ maxLength: 10 }), secret: fc.option(fc.boolean(), { nil: undefined }) },
        { requiredKeys: ['value'] },
      ),
      { maxKeys: 3 },
    ),
    { nil: undefined },
  ),
  health: fc.option(
    fc.oneof(
      fc.record({
        type: fc.constant('exec'),
        command: fc.array(text, { minLength: 1, maxLength: 3 }),
        intervalSecs: seconds,
      }),
      fc.record({ type: fc.constant('http'), port: fc.integer({ min: 1, max: 65535 }), path: fc.constant('/health') }),
      fc.record({
        type: fc.constant('tcp'),
        port: fc.integer({ min: 1, max: 65535 }),
        failureThreshold: fc.integer({ min: 1, max: 10 }),
      }),
      fc.record({ type: fc.constant('heartbeat'), timeoutSecs: seconds }),
    ),
    { nil: undefined },
  ),
  limits: fc.option(
    fc.record(
      {
        memoryBytes: fc.integer({ min: 1, max: 2 ** 40 }),
        cpus: fc.double({ min: 0.01, max: 64, noNaN: true }),
        pids: fc.integer({ min: 1, max: 10_000 }),
      },
      { requiredKeys: [] },
    ),
    { nil: undefined },
  ),
  desiredProperties: fc.option(jsonObject, { nil: undefined }),
};

const containerModule = fc.record(
  {
    type: fc.constant('container'),
    ...common,
    container: fc.record(
      {
        image: fc.stringMatching(/^[a-z0-9./:-]{1,20}$/),
        createOptions: fc.option(jsonObject, { nil: undefined }),
        pullPolicy: fc.option(fc.constantFrom('on-create', 'never'), { nil: undefined }),
        registryCredentialsRef: fc.option(text, { nil: undefined }),
      },
      { requiredKeys: ['image'] },
    ),
  },
  { requiredKeys: ['type', 'container'] },
);

const processModule = fc.record(
  {
    type: fc.constant('process'),
    ...common,
    process: fc.record(
      {
        artifact: fc.option(fc.record({ ref: text, sha256: fc.stringMatching(/^[0-9a-f]{64}$/) }), { nil: undefined }),
        command: text,
        args: fc.option(fc.array(fc.string({ maxLength: 6 }), { maxLength: 3 }), { nil: undefined }),
        workingDir: fc.option(text, { nil: undefined }),
        user: fc.option(text, { nil: undefined }),
      },
      { requiredKeys: ['command'] },
    ),
  },
  { requiredKeys: ['type', 'process'] },
);

/** A route chosen before the module names are known; `module` picks one of them, whichever exist. */
const routeTemplate = fc.record({
  from: fc.constantFrom('all', 'root', 'module'),
  where: fc.constantFrom('', " WHERE site = 'a'", ' WHERE $body.temperature > 30', ' WHERE is_defined(level)'),
  into: fc.constantFrom('upstream', 'module'),
  module: fc.nat(),
  form: fc.option(
    fc.record({ priority: fc.integer({ min: 0, max: 9 }), timeToLiveSecs: fc.nat(86_400) }, { requiredKeys: [] }),
    {
      nil: undefined,
    },
  ),
});

/** Routes only between modules that exist (or upstream), so a valid manifest has no warnings either. */
type RouteTemplate = typeof routeTemplate extends fc.Arbitrary<infer T> ? T : never;

function routeFor(template: RouteTemplate, modules: readonly string[]): string | Record<string, unknown> {
  const module = modules.length > 0 ? modules[template.module % modules.length] : undefined;
  const from =
    template.from === 'root'
      ? '/*'
      : template.from === 'module' && module !== undefined
        ? `/messages/modules/${module}/outputs/*`
        : '/messages';
  const into =
    template.into === 'module' && module !== undefined
      ? `BrokeredEndpoint("/modules/${module}/inputs/in")`
      : '$upstream';
  const route = `FROM ${from}${template.where} INTO ${into}`;
  return template.form === undefined ? route : { route, ...template.form };
}

const validManifest = fc
  .record(
    {
      schemaVersion: fc.constantFrom('1.0', '1.3'),
      modules: fc.dictionary(moduleName, fc.oneof(containerModule, processModule), { maxKeys: 3 }),
      routes: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 8 }).filter((name) => name !== '__proto__'),
        routeTemplate,
        { maxKeys: 3 },
      ),
      storeAndForward: fc.record(
        {
          timeToLiveSecs: seconds,
          maxBytes: fc.integer({ min: 1, max: 2 ** 40 }),
          whenFull: fc.constantFrom('reject-new', 'drop-oldest'),
        },
        { requiredKeys: [] },
      ),
      agent: fc.record(
        {
          restartBackoffUnitSecs: fc.integer({ min: 0, max: 10 }),
          restartBackoffCapSecs: fc.integer({ min: 10, max: 600 }),
          maxRestarts: fc.integer({ min: 1, max: 50 }),
          healthyWithinSecs: seconds,
        },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: ['schemaVersion'] },
  )
  .map(({ routes, ...manifest }) => {
    const names = Object.keys(manifest.modules ?? {});
    const resolved =
      routes === undefined
        ? undefined
        : Object.fromEntries(Object.entries(routes).map(([name, template]) => [name, routeFor(template, names)]));
    // fc.record leaves out optional keys or sets them to undefined; JSON has no undefined.
    return JSON.parse(JSON.stringify({ ...manifest, routes: resolved })) as Record<string, unknown>;
  });

// --- mutations -----------------------------------------------------------------------------------------------------

/** Every path to a value in a JSON document, the root included. */
function allPaths(value: unknown, prefix: JsonPathSegment[] = []): JsonPathSegment[][] {
  const paths: JsonPathSegment[][] = [prefix];
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) paths.push(...allPaths(item, [...prefix, index]));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) paths.push(...allPaths(item, [...prefix, key]));
  }
  return paths;
}

const hostileValue = fc.anything({
  maxDepth: 2,
  withBigInt: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withSparseArray: true,
  withNullPrototype: true,
  withBoxedValues: true,
  withTypedArray: true,
});

type Mutation =
  | { kind: 'replace'; value: unknown }
  | { kind: 'delete' }
  | { kind: 'add-key'; key: string; value: unknown }
  | { kind: 'rename'; key: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), value: hostileValue }),
  fc.record({
    kind: fc.constant('replace' as const),
    value: fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.integer({ min: -10, max: 100_000 }),
      fc.double(),
      fc.constantFrom(
        '2.0',
        '1.x',
        'running',
        'docker',
        'FROM /messages INTO',
        '',
        ' ',
        'a.b',
        -1,
        0,
        1.5,
        1e300,
        null,
        true,
        [],
        {},
      ),
    ),
  }),
  fc.record({ kind: fc.constant('delete' as const) }),
  fc.record({
    kind: fc.constant('add-key' as const),
    key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('restartpolicy', 'Image', '__proto__', 'a.b')),
    value: fc.jsonValue({ maxDepth: 1 }),
  }),
  fc.record({
    kind: fc.constant('rename' as const),
    key: fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('SENSOR', 'Filter', 'a b', 'x*', '-y')),
  }),
);

/** Applies the mutation in place; returns the path of the value it changed. */
function mutate(
  document: Record<string, unknown>,
  path: JsonPathSegment[],
  change: Mutation,
): { root: unknown; at: JsonPathSegment[] } {
  if (path.length === 0) {
    return change.kind === 'replace' ? { root: change.value, at: [] } : { root: document, at: [] };
  }
  const parentPath = path.slice(0, -1);
  const last = path[path.length - 1] as JsonPathSegment;
  let parent = document as Record<JsonPathSegment, unknown>;
  for (const segment of parentPath) parent = parent[segment] as Record<JsonPathSegment, unknown>;
  switch (change.kind) {
    case 'replace':
      parent[last] = change.value;
      return { root: document, at: path };
    case 'delete':
      if (Array.isArray(parent)) (parent as unknown[]).splice(Number(last), 1);
      else delete parent[last];
      return { root: document, at: path };
    case 'add-key': {
      const target = parent[last];
      if (typeof target !== 'object' || target === null || Array.isArray(target)) {
        parent[last] = change.value;
        return { root: document, at: path };
      }
      // Defined as an own property, as JSON.parse would, even for "__proto__".
      Object.defineProperty(target, change.key, {
        value: change.value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      return { root: document, at: [...path, change.key] };
    }
    case 'rename': {
      if (Array.isArray(parent) || typeof last !== 'string') return { root: document, at: path };
      const value = parent[last];
      delete parent[last];
      Object.defineProperty(parent, change.key, { value, enumerable: true, writable: true, configurable: true });
      return { root: document, at: [...parentPath, change.key] };
    }
  }
}

/**
 * The manifests that get mutated: a pool generated once (seeded, so failures reproduce) rather than per run, because
 * generating a rich manifest costs several times more than validating one and 10,000 runs must stay fast.
 */
const basePool = fc.sample(validManifest, { numRuns: 500, seed: 20_261_130 });

/** A manifest from the pool, one of its paths (chosen by index, modulo their number) and a change to make there. */
const mutatedManifest = fc.tuple(fc.constantFrom(...basePool), fc.nat(), mutation);

function pickPath(document: unknown, selector: number): JsonPathSegment[] {
  const paths = allPaths(document);
  return paths[selector % paths.length] ?? [];
}

// --- checks --------------------------------------------------------------------------------------------------------

/** A plain call: if validateManifest threw, the property would fail with the exception and the input. */
function validateWithoutThrowing(input: unknown, options?: { layer?: boolean }): ValidationResult<unknown> {
  return validateManifest(input, options);
}

/** Every error has a parseable path and a message; returns the parsed paths. Plain checks: this runs 10,000s of times. */
function checkErrors(errors: readonly ManifestIssue[]): JsonPathSegment[][] {
  if (errors.length === 0) throw new Error('a rejection without errors');
  return errors.map((error) => {
    if (typeof error.path !== 'string' || typeof error.message !== 'string' || error.message === '') {
      throw new Error(`malformed error ${JSON.stringify(error)}`);
    }
    return error.path === '' ? [] : parseJsonPath(error.path);
  });
}

const startsWith = (path: readonly JsonPathSegment[], prefix: readonly JsonPathSegment[]) =>
  prefix.length <= path.length && prefix.every((segment, index) => path[index] === segment);

describe('fuzzing validateManifest', () => {
  it(
    'accepts every generated valid manifest, idempotently and without warnings',
    () => {
      fc.assert(
        fc.property(validManifest, (input) => {
          const result = validateWithoutThrowing(input);
          if (!result.ok) expect.fail(JSON.stringify({ input, errors: result.errors }, null, 2));
          expect(result.warnings).toEqual([]);
          const again = validateManifest(result.manifest);
          expect(again.ok && canonicalJson(again.manifest)).toBe(canonicalJson(result.manifest));
          expect(diffManifests(result.manifest as never, result.manifest as never).unchanged).toBe(true);
        }),
        { numRuns: 1000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    `never throws on ${MUTATED_RUNS} mutated manifests, and every error points at the change`,
    () => {
      let rejected = 0;
      fc.assert(
        fc.property(mutatedManifest, ([manifest, selector, change]) => {
          const { root, at } = mutate(structuredClone(manifest), pickPath(manifest, selector), change);
          const result = validateWithoutThrowing(root);
          if (result.ok) return;
          rejected++;
          const parent = at.slice(0, -1);
          for (const [index, errorPath] of checkErrors(result.errors).entries()) {
            const related = startsWith(errorPath, parent) || startsWith(at, errorPath);
            if (!related)
              expect.fail(
                `error ${JSON.stringify(result.errors[index])} is unrelated to the change at ${JSON.stringify(at)}`,
              );
          }
        }),
        { numRuns: MUTATED_RUNS },
      );
      // Most single changes break a manifest; if few did, the mutations would not be testing much.
      expect(rejected).toBeGreaterThan(MUTATED_RUNS / 3);
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'never throws on arbitrary values, as a manifest or as a layer',
    () => {
      fc.assert(
        fc.property(hostileValue, fc.boolean(), (input, layer) => {
          const result = validateWithoutThrowing(input, { layer });
          if (!result.ok) checkErrors(result.errors);
        }),
        { numRuns: 2000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'never throws on objects with manifest keys and arbitrary values',
    () => {
      const key = fc.constantFrom(
        'schemaVersion',
        'modules',
        'routes',
        'storeAndForward',
        'agent',
        'moduleDesiredProperties',
        '$schema',
      );
      const shaped = fc.dictionary(key, fc.oneof(hostileValue, fc.dictionary(moduleName, hostileValue)));
      fc.assert(
        fc.property(shaped, fc.boolean(), (input, layer) => {
          const result = validateWithoutThrowing({ schemaVersion: '1.0', ...input }, { layer });
          if (!result.ok) checkErrors(result.errors);
        }),
        { numRuns: 1000 },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

describe('fuzzing fromAzureManifest', () => {
  /** Mostly `usual`, sometimes one of `unusual`: documents that are nearly valid exercise the most code. */
  const mostly = <T>(usual: T, ...unusual: T[]) =>
    fc.oneof(
      { arbitrary: fc.constant(usual), weight: 20 },
      { arbitrary: fc.constantFrom(usual, ...unusual), weight: 1 },
    );

  const azureDocument = fc.record({
    modulesContent: fc.record({
      $edgeAgent: fc.record({
        'properties.desired': fc.record({
          schemaVersion: mostly<unknown>('1.1', '1.0', '1.2', 7),
          modules: fc.dictionary(
            moduleName,
            fc.record({
              type: mostly('docker', 'vm'),
              status: mostly('running', 'stopped', 'paused'),
              settings: fc.record({
                image: mostly('x/y:1', '$upstream:443/z', 'mcr.microsoft.com/azureiotedge-hub:1.5'),
                createOptions: mostly('{}', '', '{"a":', '[]'),
              }),
              env: fc.dictionary(
                fc.stringMatching(/^[A-Za-z_]{1,6}$/),
                fc.record({
                  value: fc.oneof(
                    { arbitrary: fc.string(), weight: 10 },
                    { arbitrary: fc.jsonValue({ maxDepth: 1 }), weight: 1 },
                  ),
                }),
                { maxKeys: 2 },
              ),
            }),
            { maxKeys: 3 },
          ),
        }),
      }),
      $edgeHub: fc.record({
        'properties.desired': fc.record({
          schemaVersion: mostly('1.1', '1.0', '1.3', '2.0'),
          routes: fc.dictionary(
            fc.string({ maxLength: 6 }),
            fc.oneof(
              { arbitrary: fc.constant('FROM /* INTO $upstream'), weight: 20 },
              { arbitrary: fc.string(), weight: 1 },
              {
                arbitrary: fc.record({
                  route: fc.constant('FROM /messages INTO $upstream'),
                  priority: fc.oneof(
                    { arbitrary: fc.integer({ min: 0, max: 9 }), weight: 10 },
                    { arbitrary: fc.constantFrom(-1, 12), weight: 1 },
                  ),
                }),
                weight: 4,
              },
            ),
            { maxKeys: 3 },
          ),
        }),
      }),
    }),
  });

  // Seeded pool, as for manifests above: generating the documents costs more than converting them.
  const azurePool = fc.sample(azureDocument, { numRuns: 300, seed: 20_261_130 });

  it(
    'starts from documents of which some convert and some are refused',
    () => {
      const outcomes = { converted: 0, rejected: 0 };
      for (const document of azurePool) {
        try {
          fromAzureManifest(document);
          outcomes.converted++;
        } catch (error) {
          if (!(error instanceof AzureImportError)) throw error;
          outcomes.rejected++;
        }
      }
      expect(outcomes.converted).toBeGreaterThan(azurePool.length / 4);
      expect(outcomes.rejected).toBeGreaterThan(azurePool.length / 10);
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'converts or fails with AzureImportError, never anything else',
    () => {
      const outcomes = { converted: 0, rejected: 0 };
      fc.assert(
        fc.property(fc.constantFrom(...azurePool), fc.nat(), mutation, (document, selector, change) => {
          const { root } = mutate(structuredClone(document), pickPath(document, selector), change);
          try {
            const result = fromAzureManifest(root);
            expect(validateManifest(result.manifest, { layer: result.kind === 'layer' }).ok).toBe(true);
            outcomes.converted++;
          } catch (error) {
            if (!(error instanceof AzureImportError)) throw error;
            checkErrors(error.errors);
            outcomes.rejected++;
          }
        }),
        { numRuns: 1000 },
      );
      // Mutations break most documents; both outcomes must still occur, or the property would test little.
      expect(outcomes.converted).toBeGreaterThan(0);
      expect(outcomes.rejected).toBeGreaterThan(0);
    },
    FUZZ_TIMEOUT_MS,
  );
});
