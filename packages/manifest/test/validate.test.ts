import { describe, expect, it } from 'vitest';
import {
  DEFAULTS,
  formatJsonPath,
  MAX_NESTING_DEPTH,
  type ManifestIssue,
  moduleNameProblem,
  REDACTED,
  redactSecrets,
  validateManifest,
  valueAtJsonPath,
} from '../src/index.js';
import { edited, expectErrors, expectValid, put, REMOVE, sampleInput, validSample } from './helpers.js';

function errorAt(errors: readonly ManifestIssue[], path: string): string {
  const found = errors.filter((error) => error.path === path);
  if (found.length === 0) expect.fail(`no error at ${path}; errors: ${JSON.stringify(errors, null, 2)}`);
  return found.map((error) => error.message).join(' | ');
}

/** A copy of the sample with changes applied, each `{ path: value }` (REMOVE deletes). */
function sampleWith(changes: Record<string, unknown>): unknown {
  return edited(sampleInput(), changes);
}

describe('validateManifest: valid manifests', () => {
  it('accepts a complete manifest and fills in defaults', () => {
    const manifest = validSample();
    const sensor = manifest.modules.sensor;
    expect(sensor?.status).toBe('running');
    expect(sensor?.restartPolicy).toBe('always');
    expect(sensor?.type === 'container' && sensor.container.pullPolicy).toBe('on-create');
    expect(sensor?.health).toEqual({ type: 'heartbeat', intervalSecs: 15, timeoutSecs: 5, failureThreshold: 3 });
    expect(manifest.modules.filter?.restartPolicy).toBe('on-failure');
    expect(manifest.agent).toEqual({
      restartBackoffUnitSecs: 10,
      restartBackoffCapSecs: 300,
      maxRestarts: 5,
      healthyResetSecs: 600,
      healthyWithinSecs: 300,
    });
  });

  it('accepts the smallest manifest: just a schema version', () => {
    const manifest = expectValid(validateManifest({ schemaVersion: '1.0' }));
    expect(manifest).toEqual({
      schemaVersion: '1.0',
      modules: {},
      routes: {},
      storeAndForward: { timeToLiveSecs: DEFAULTS.storeAndForwardTimeToLiveSecs, whenFull: 'drop-oldest' },
      agent: {
        restartBackoffUnitSecs: 10,
        restartBackoffCapSecs: 300,
        maxRestarts: 20,
        healthyResetSecs: 600,
        healthyWithinSecs: 300,
      },
    });
  });

  it('accepts any 1.x minor version and a $schema key for editors', () => {
    for (const schemaVersion of ['1.0', '1.1', '1.17']) {
      expectValid(validateManifest({ $schema: './schema/manifest-1.json', schemaVersion }));
    }
  });

  it('returns a manifest that validates again to itself', () => {
    const once = validSample();
    expect(expectValid(validateManifest(once))).toEqual(once);
  });

  it('never reports warnings for a self-contained manifest', () => {
    const result = validateManifest(sampleInput());
    expect(result.ok && result.warnings).toEqual([]);
  });
});

describe('validateManifest: schema version', () => {
  it('rejects an unknown major version by name, and only that', () => {
    const errors = expectErrors(validateManifest({ schemaVersion: '2.0', modules: 'not even an object' }));
    expect(errors).toEqual([
      {
        path: 'schemaVersion',
        message: 'schema version "2.0" is not supported: this version of Outpost reads 1.x manifests (it writes 1.0)',
      },
    ]);
    expect(errorAt(expectErrors(validateManifest({ schemaVersion: '0.9' })), 'schemaVersion')).toContain('"0.9"');
  });

  it('requires a major.minor string', () => {
    expect(errorAt(expectErrors(validateManifest({})), 'schemaVersion')).toBe('required: a string');
    for (const version of ['1', '1.0.0', 'one', ' 1.0', '1.01']) {
      expect(errorAt(expectErrors(validateManifest({ schemaVersion: version })), 'schemaVersion')).toBe(
        'schemaVersion must look like "1.0" (major.minor)',
      );
    }
    expect(errorAt(expectErrors(validateManifest({ schemaVersion: 1 })), 'schemaVersion')).toBe(
      'expected a string, got a number',
    );
  });

  it('rejects what is not an object at all', () => {
    for (const input of [null, undefined, [], 'manifest', 42, true]) {
      const errors = expectErrors(validateManifest(input));
      expect(errors).toHaveLength(1);
      expect(errors[0]?.path).toBe('');
      expect(errors[0]?.message).toMatch(/^expected a manifest object, got /);
    }
    expect(expectErrors(validateManifest([], { layer: true }))[0]?.message).toBe(
      'expected a layer object, got an array',
    );
  });
});

describe('validateManifest: every error, each with its path', () => {
  it('reports all problems at once', () => {
    const input = sampleWith({
      'modules.filter.restartPolicy': 'sometimes',
      'modules.sensor.container.image': REMOVE,
      'modules.sensor.health.intervalSecs': 0,
      'routes.sensorToFilter': 'FROM /messages INTO',
      'routes.filterToCloud.priority': 10,
      'storeAndForward.whenFull': 'panic',
      'agent.restartBackoffUnitSecs': 60,
      'agent.restartBackoffCapSecs': 30,
    });
    const errors = expectErrors(validateManifest(input));
    expect(errorAt(errors, 'modules.filter.restartPolicy')).toBe(
      'expected one of never, on-failure, on-unhealthy, always, got "sometimes"',
    );
    expect(errorAt(errors, 'modules.sensor.container.image')).toBe('required: a string');
    expect(errorAt(errors, 'modules.sensor.health.intervalSecs')).toBe('must be greater than 0');
    expect(errorAt(errors, 'routes.sensorToFilter')).toMatch(/^expected .*\(line 1, column 20\)$/);
    expect(errorAt(errors, 'routes.filterToCloud.priority')).toBe('must be at most 9');
    expect(errorAt(errors, 'storeAndForward.whenFull')).toBe('expected one of reject-new, drop-oldest, got "panic"');
    expect(errorAt(errors, 'agent.restartBackoffCapSecs')).toBe('must be at least restartBackoffUnitSecs (60)');
    expect(errors).toHaveLength(7);
  });

  it('checks cross-field rules once the fields themselves are valid', () => {
    const input = sampleWith({ 'agent.restartBackoffUnitSecs': 60, 'agent.restartBackoffCapSecs': 30 });
    expect(expectErrors(validateManifest(input))).toEqual([
      { path: 'agent.restartBackoffCapSecs', message: 'must be at least restartBackoffUnitSecs (60)' },
    ]);
  });

  it('rejects unknown keys one by one, suggesting the key that was probably meant', () => {
    const input = sampleWith({
      'modules.filter.restartpolicy': 'always',
      'modules.sensor.container.pullpolicy': 'never',
      'modules.sensor.colour': 'blue',
      extra: true,
    });
    const errors = expectErrors(validateManifest(input));
    expect(errorAt(errors, 'modules.filter.restartpolicy')).toBe(
      'unknown key "restartpolicy"; did you mean "restartPolicy"?',
    );
    expect(errorAt(errors, 'modules.sensor.container.pullpolicy')).toBe(
      'unknown key "pullpolicy"; did you mean "pullPolicy"?',
    );
    expect(errorAt(errors, 'modules.sensor.colour')).toMatch(/^unknown key "colour"; expected one of type, version,/);
    expect(errorAt(errors, 'extra')).toMatch(/^unknown key "extra"; expected one of \$schema, schemaVersion,/);
  });

  it('explains unknown keys in a manifest from a newer minor version', () => {
    const errors = expectErrors(validateManifest({ schemaVersion: '1.4', rollout: {} }));
    expect(errorAt(errors, 'rollout')).toContain('the manifest says 1.4, whose newer keys need a newer Outpost');
  });

  it('names the module type options when type is missing or unknown', () => {
    const input = sampleWith({ 'modules.sensor.type': 'vm', 'modules.filter.type': REMOVE });
    const errors = expectErrors(validateManifest(input));
    expect(errorAt(errors, 'modules.sensor.type')).toBe('expected one of process, container, got "vm"');
    expect(errorAt(errors, 'modules.filter.type')).toBe('required: one of process, container');
  });

  it('keeps process and container settings apart', () => {
    const input = sampleWith({ 'modules.filter.type': 'container' });
    const errors = expectErrors(validateManifest(input));
    expect(errorAt(errors, 'modules.filter.container')).toBe('required: an object');
    expect(errorAt(errors, 'modules.filter.process')).toMatch(/^unknown key "process"/);
  });

  it('checks process settings, probes, limits and env', () => {
    const input = sampleWith({
      'modules.filter.process.artifact.sha256': 'ABC',
      'modules.filter.process.args': ['ok', 7],
      'modules.filter.health': { type: 'http', port: 70000, path: 'healthz' },
      'modules.filter.limits.cpus': -1,
      'modules.sensor.env.INTERVAL_SECS.value': 5,
      'modules.sensor.env["A=B"]': { value: 'x' },
      'modules.sensor.startupOrder': 1.5,
    });
    const errors = expectErrors(validateManifest(input));
    expect(errorAt(errors, 'modules.filter.process.artifact.sha256')).toBe(
      'sha256 must be 64 lower-case hexadecimal digits',
    );
    expect(errorAt(errors, 'modules.filter.process.args[1]')).toBe('expected a string, got a number');
    expect(errorAt(errors, 'modules.filter.health.port')).toBe('must be at most 65535');
    expect(errorAt(errors, 'modules.filter.health.path')).toBe("path must start with '/'");
    expect(errorAt(errors, 'modules.filter.limits.cpus')).toBe('must be greater than 0');
    expect(errorAt(errors, 'modules.sensor.env.INTERVAL_SECS.value')).toBe('expected a string, got a number');
    expect(errorAt(errors, 'modules.sensor.env["A=B"]')).toBe("environment variable names cannot contain '=' or NUL");
    expect(errorAt(errors, 'modules.sensor.startupOrder')).toBe('expected an integer, got a number');
  });

  it('accepts every health probe type', () => {
    const probes = [
      { type: 'exec', command: ['/bin/check', '--quick'] },
      { type: 'http', port: 80 },
      { type: 'tcp', port: 1883, timeoutSecs: 2, failureThreshold: 5 },
      { type: 'heartbeat' },
    ];
    for (const health of probes) {
      const manifest = expectValid(validateManifest(sampleWith({ 'modules.filter.health': health })));
      expect(manifest.modules.filter?.health?.type).toBe(health.type);
    }
    const exec = sampleWith({ 'modules.filter.health': { type: 'exec', command: [] } });
    expect(errorAt(expectErrors(validateManifest(exec)), 'modules.filter.health.command')).toBe(
      'needs at least one item',
    );
  });

  it('never puts an env value into a message', () => {
    const secret = 'hunter2-very-secret';
    const input = sampleWith({
      'modules.sensor.env.API_TOKEN': { value: secret, secret: 'yes' },
      'modules.sensor.env.OTHER': { value: secret, plain: secret },
    });
    const errors = expectErrors(validateManifest(input));
    expect(errorAt(errors, 'modules.sensor.env.API_TOKEN.secret')).toBe('expected true or false, got a string');
    expect(JSON.stringify(errors)).not.toContain(secret);
  });
});

describe('validateManifest: module names', () => {
  it.each([
    [
      'temp.sensor',
      "module name contains '.', which cannot appear in a NATS subject token; use letters, digits, '-' and '_'",
    ],
    [
      'temp*',
      "module name contains '*', which cannot appear in a NATS subject token; use letters, digits, '-' and '_'",
    ],
    [
      'temp>',
      "module name contains '>', which cannot appear in a NATS subject token; use letters, digits, '-' and '_'",
    ],
    [
      'temp sensor',
      "module name contains whitespace, which cannot appear in a NATS subject token; use letters, digits, '-' and '_'",
    ],
    ['temp/sensor', "module name contains '/'; use letters, digits, '-' and '_'"],
    ['-sensor', "module name must start with a letter or digit, not '-'"],
    ['$edgeHub', "module name contains '$'; use letters, digits, '-' and '_'"],
    ['', 'module name cannot be empty'],
  ])('rejects %j', (name, message) => {
    const input = { schemaVersion: '1.0', modules: { [name]: { type: 'process', process: { command: 'x' } } } };
    expect(errorAt(expectErrors(validateManifest(input)), formatJsonPath(['modules', name]))).toBe(message);
  });

  it('rejects names longer than 64 characters and control characters', () => {
    expect(moduleNameProblem('a'.repeat(64))).toBeUndefined();
    const long = 'a'.repeat(65);
    const input = { schemaVersion: '1.0', modules: { [long]: { type: 'process', process: { command: 'x' } } } };
    expect(errorAt(expectErrors(validateManifest(input)), `modules.${long}`)).toBe(
      'module name can be at most 64 characters long',
    );
    expect(moduleNameProblem('a\u0001')).toContain('the control character U+0001');
  });

  it('accepts letters, digits, dashes and underscores', () => {
    for (const name of ['sensor', 'Sensor_2', '0day', 'temp-filter']) expect(moduleNameProblem(name)).toBeUndefined();
  });

  it('rejects two modules whose names differ only in letter case', () => {
    const input = sampleWith({ 'modules.Filter': sampleInput().modules?.filter });
    expect(errorAt(expectErrors(validateManifest(input)), 'modules.Filter')).toBe(
      'differs from module "filter" only in letter case; routes match module names case-insensitively, so the two ' +
        'cannot be told apart',
    );
  });

  it('rejects __proto__ as a name instead of silently dropping it', () => {
    const input = JSON.parse(
      '{"schemaVersion":"1.0","modules":{"__proto__":{"type":"process","process":{"command":"x"}}},"routes":{"__proto__":"FROM /messages INTO $upstream"}}',
    );
    const errors = expectErrors(validateManifest(input));
    expect(errorAt(errors, 'modules.__proto__')).toBe("'__proto__' cannot be used as a name");
    expect(errorAt(errors, 'routes.__proto__')).toBe("'__proto__' cannot be used as a name");
  });
});

describe('validateManifest: routes', () => {
  it('checks route text with @outpost/routing, pointing at the line and column', () => {
    const input = sampleWith({
      'routes.typeError': 'FROM /messages WHERE temperature > 30 INTO $upstream',
      'routes.badSink': { route: 'FROM /messages INTO BrokeredEndpoint("/modules/filter")', priority: 1 },
      'routes.unknownFunction': 'FROM /messages WHERE nope(1) INTO $upstream',
      'routes.empty': '',
      'routes[""]': 'FROM /messages INTO $upstream',
      'routes.number': 7,
      'routes.negativeTtl': { route: 'FROM /messages INTO $upstream', timeToLiveSecs: -1 },
    });
    const errors = expectErrors(validateManifest(input));
    expect(errorAt(errors, 'routes.typeError')).toMatch(/same type.*\(line 1, column \d+\)$/);
    expect(errorAt(errors, 'routes.badSink.route')).toMatch(/\(line 1, column \d+\)$/);
    expect(errorAt(errors, 'routes.unknownFunction')).toContain('nope');
    expect(errorAt(errors, 'routes.empty')).toBe('route cannot be empty');
    expect(errorAt(errors, 'routes[""]')).toBe('route name cannot be empty');
    expect(errorAt(errors, 'routes.number')).toBe('expected a string or an object, got a number');
    expect(errorAt(errors, 'routes.negativeTtl.timeToLiveSecs')).toBe('must be at least 0');
  });

  it('warns about a route naming a module the manifest lacks, since another layer may supply it', () => {
    const input = sampleWith({
      'routes.toRelay': 'FROM /messages INTO BrokeredEndpoint("/modules/relay/inputs/in")',
      'routes.fromGhost': 'FROM /messages/modules/ghost/outputs/* INTO $upstream',
      'routes.anyModule': 'FROM /messages/modules/* INTO $upstream',
      'routes.caseInsensitiveSource': 'FROM /messages/modules/SENSOR/outputs/* INTO $upstream',
    });
    const result = validateManifest(input);
    expect(result.ok).toBe(true);
    expect(result.ok && result.warnings).toEqual([
      {
        path: 'routes.toRelay',
        message:
          'sends to module "relay", which this manifest does not define; it must come from another layer, or the ' +
          'effective deployment is rejected',
      },
      {
        path: 'routes.fromGhost',
        message:
          'reads from module "ghost", which this manifest does not define; it must come from another layer, or the ' +
          'effective deployment is rejected',
      },
    ]);
  });

  it('makes a missing module an error in an effective deployment', () => {
    const input = sampleWith({
      'routes.toRelay': { route: 'FROM /messages INTO BrokeredEndpoint("/modules/relay/inputs/in")', priority: 3 },
    });
    const errors = expectErrors(validateManifest(input, { effective: true }));
    expect(errors).toEqual([
      {
        path: 'routes.toRelay.route',
        message: 'sends to module "relay", which the effective deployment does not define',
      },
    ]);
  });

  it('points out a sink that differs from a module only in letter case', () => {
    const input = sampleWith({
      'routes.wrongCase': 'FROM /messages INTO BrokeredEndpoint("/modules/Filter/inputs/in")',
    });
    const result = validateManifest(input);
    expect(result.ok && result.warnings[0]?.message).toBe(
      'sends to module "Filter", which this manifest does not define; module inputs are case-sensitive — did you ' +
        'mean "filter"?',
    );
  });
});

describe('validateManifest: JSON values and hostile input', () => {
  it('reports values JSON cannot hold inside desired properties and create options', () => {
    const input = sampleWith({ 'modules.sensor.desiredProperties': { ok: [1, 'two', null, { deep: true }] } });
    put(input, 'modules.sensor.desiredProperties.nan', Number.NaN);
    put(input, 'modules.sensor.desiredProperties.nested', { fn: () => 1 });
    put(input, 'modules.sensor.container.createOptions.when', new Date(0));
    put(input, 'modules.sensor.desiredProperties.list', [1, Number.POSITIVE_INFINITY]);
    const errors = expectErrors(validateManifest(input));
    expect(errorAt(errors, 'modules.sensor.desiredProperties.nan')).toBe(
      'expected a JSON value (string, number, boolean, null, array or object), got NaN',
    );
    expect(errorAt(errors, 'modules.sensor.desiredProperties.nested.fn')).toBe(
      'expected a JSON value (string, number, boolean, null, array or object), got a function',
    );
    expect(errorAt(errors, 'modules.sensor.desiredProperties.list[1]')).toContain('got Infinity');
    expect(errorAt(errors, 'modules.sensor.container.createOptions.when')).toBe('expected plain JSON, got a Date');
  });

  it('rejects cycles and absurd nesting without throwing', () => {
    const cyclic = sampleWith({});
    put(cyclic, 'modules.sensor.desiredProperties.self', valueAtJsonPath(cyclic, 'modules.sensor.desiredProperties'));
    expect(expectErrors(validateManifest(cyclic))).toEqual([
      {
        path: 'modules.sensor.desiredProperties.self',
        message: 'the value contains itself (a cycle), which JSON cannot hold',
      },
    ]);

    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 100_000; i++) {
      const next = {};
      deep.d = next;
      deep = next;
    }
    const errors = expectErrors(validateManifest({ schemaVersion: '1.0', modules: { m: root } }));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toBe(`nested more than ${MAX_NESTING_DEPTH} levels deep`);
  });

  it('turns an input that throws while being read into an error', () => {
    const hostile = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('boom');
        },
        getPrototypeOf() {
          return Object.prototype;
        },
      },
    );
    expect(expectErrors(validateManifest(hostile))).toEqual([
      { path: '', message: 'the manifest could not be read: boom' },
    ]);
  });

  it('tolerates options that are not an object', () => {
    expectValid(validateManifest(sampleInput(), null as never));
    expectValid(validateManifest(sampleInput(), 'layer' as never));
  });
});

describe('validateManifest with { layer: true }', () => {
  it('accepts a partial manifest and has no defaults for what a layer leaves out', () => {
    const layer = expectValid(
      validateManifest(
        {
          schemaVersion: '1.0',
          routes: { extra: 'FROM /messages/modules/sensor/* INTO $upstream' },
          moduleDesiredProperties: { sensor: { threshold: 40 } },
        },
        { layer: true },
      ),
    );
    expect(layer).toEqual({
      schemaVersion: '1.0',
      routes: { extra: 'FROM /messages/modules/sensor/* INTO $upstream' },
      moduleDesiredProperties: { sensor: { threshold: 40 } },
    });
  });

  it('rejects what only a whole manifest may set, and bad patch targets', () => {
    const errors = expectErrors(
      validateManifest(
        { schemaVersion: '1.0', agent: {}, moduleDesiredProperties: { 'bad.name': {}, ok: 'text' } },
        { layer: true },
      ),
    );
    expect(errorAt(errors, 'agent')).toMatch(/^unknown key "agent"; expected one of/);
    expect(errorAt(errors, 'moduleDesiredProperties["bad.name"]')).toContain("'.'");
    expect(errorAt(errors, 'moduleDesiredProperties.ok')).toBe('expected an object, got a string');
  });

  it('warns that routes to modules outside the layer must come from elsewhere', () => {
    const result = validateManifest(
      { schemaVersion: '1.0', routes: { r: 'FROM /messages INTO BrokeredEndpoint("/modules/base/inputs/in")' } },
      { layer: true },
    );
    expect(result.ok && result.warnings[0]?.message).toBe(
      'sends to module "base", which this layer does not define; it must come from another layer, or the effective ' +
        'deployment is rejected',
    );
  });
});

describe('redactSecrets', () => {
  it('replaces secret env values and nothing else, leaving the original alone', () => {
    const manifest = validSample();
    const redacted = redactSecrets(manifest);
    expect(redacted.modules.sensor?.env).toEqual({
      INTERVAL_SECS: { value: '5' },
      API_TOKEN: { value: REDACTED, secret: true },
    });
    expect(manifest.modules.sensor?.env?.API_TOKEN?.value).toBe('s3cr3t-value');
    expect(JSON.stringify(redacted)).not.toContain('s3cr3t-value');
    expectValid(validateManifest(redacted));
  });
});
