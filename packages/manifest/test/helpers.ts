import { expect } from 'vitest';
import {
  type JsonPathSegment,
  type Layer,
  type Manifest,
  type ManifestInput,
  type ManifestIssue,
  parseJsonPath,
  type ValidationResult,
  validateManifest,
} from '../src/index.js';

/** A small but complete manifest: a container sensor, a process filter, routes between them and upstream. */
export function sampleInput(): ManifestInput {
  return {
    schemaVersion: '1.0',
    modules: {
      sensor: {
        type: 'container',
        version: '1.0',
        startupOrder: 1,
        env: { INTERVAL_SECS: { value: '5' }, API_TOKEN: { value: 's3cr3t-value', secret: true } },
        container: {
          image: 'registry.example.com/sensor:1.0',
          createOptions: { HostConfig: { Memory: 134217728 } },
          registryCredentialsRef: 'example',
        },
        health: { type: 'heartbeat', intervalSecs: 15 },
        desiredProperties: { sendIntervalSecs: 5 },
      },
      filter: {
        type: 'process',
        restartPolicy: 'on-failure',
        process: {
          artifact: { ref: 'artifacts/filter-1.0.tar.gz', sha256: 'a'.repeat(64) },
          command: 'bin/filter',
          args: ['--threshold', '30'],
          workingDir: '/opt/filter',
          user: 'outpost',
        },
        health: { type: 'http', port: 8080, path: '/healthz' },
        limits: { memoryBytes: 67108864, cpus: 0.5, pids: 64 },
      },
    },
    routes: {
      sensorToFilter:
        'FROM /messages/modules/sensor/outputs/temperature INTO BrokeredEndpoint("/modules/filter/inputs/in")',
      filterToCloud: {
        route: 'FROM /messages/modules/filter/outputs/* WHERE $body.temperature > 30 INTO $upstream',
        priority: 0,
        timeToLiveSecs: 3600,
      },
    },
    storeAndForward: { timeToLiveSecs: 7200, maxBytes: 104857600, whenFull: 'drop-oldest' },
    agent: { maxRestarts: 5 },
  };
}

export function validSample(): Manifest {
  return expectValid(validateManifest(sampleInput()));
}

export function expectValid<T>(result: ValidationResult<T>): T {
  if (!result.ok) expect.fail(`expected a valid manifest, got ${JSON.stringify(result.errors, null, 2)}`);
  return result.manifest;
}

export function expectErrors<T>(result: ValidationResult<T>): ManifestIssue[] {
  if (result.ok) expect.fail('expected validation to fail');
  return result.errors;
}

/** The layer used by several tests: replaces the filter, adds an alerts module and a route to it. */
export function sampleLayer(overrides: Partial<Layer> = {}): Layer {
  return expectValid(
    validateManifest(
      {
        schemaVersion: '1.0',
        modules: {
          alerts: { type: 'container', container: { image: 'registry.example.com/alerts:2.0' } },
        },
        routes: {
          toAlerts: 'FROM /messages/modules/filter/outputs/alarms INTO BrokeredEndpoint("/modules/alerts/inputs/in")',
        },
        ...overrides,
      },
      { layer: true },
    ),
  );
}

/** Deep copy through JSON, for tests that mutate a manifest. */
export function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Marks a change that deletes the value at its path. */
export const REMOVE = Symbol('remove');

/**
 * Sets (or, with REMOVE, deletes) the value at a path such as `modules.filter.restartPolicy`, creating objects on
 * the way. Works on any document, including values JSON cannot hold, which is what some tests need.
 */
export function put(document: unknown, path: string | readonly JsonPathSegment[], value: unknown): void {
  const segments = typeof path === 'string' ? parseJsonPath(path) : path;
  const last = segments[segments.length - 1];
  if (last === undefined) throw new Error('put needs a non-empty path');
  let parent = document as Record<string | number, unknown>;
  for (const segment of segments.slice(0, -1)) {
    if (typeof parent[segment] !== 'object' || parent[segment] === null) parent[segment] = {};
    parent = parent[segment] as Record<string | number, unknown>;
  }
  if (value === REMOVE) delete parent[last];
  else parent[last] = value;
}

/** A copy of a JSON document with changes applied, each `{ path: value }` as in put. */
export function edited<T>(document: T, changes: Readonly<Record<string, unknown>>): T {
  const result = copy(document);
  for (const [path, value] of Object.entries(changes)) put(result, path, value);
  return result;
}
