import { describe, expect, it } from 'vitest';
import { type LayerDeployment, type Manifest, mergeLayers, mergePatch, validateManifest } from '../src/index.js';
import { expectErrors, expectValid, sampleLayer, validSample } from './helpers.js';

const T0 = '2026-01-01T00:00:00Z';
const T1 = '2026-02-01T00:00:00Z';

function image(manifest: Manifest, name: string): string | undefined {
  const module = manifest.modules[name];
  return module?.type === 'container' ? module.container.image : undefined;
}

function containerLayer(module: string, imageRef: string) {
  return sampleLayer({
    modules: {
      [module]: expectValid(
        validateManifest({
          schemaVersion: '1.0',
          modules: { [module]: { type: 'container', container: { image: imageRef } } },
        }),
      ).modules[module]!,
    },
    routes: {},
  });
}

describe('mergeLayers', () => {
  it('adds modules and routes from a layer', () => {
    const merged = expectValid(mergeLayers(validSample(), [{ layer: sampleLayer(), priority: 10, createdAt: T0 }]));
    expect(Object.keys(merged.modules).sort()).toEqual(['alerts', 'filter', 'sensor']);
    expect(Object.keys(merged.routes)).toEqual(['sensorToFilter', 'filterToCloud', 'toAlerts']);
    expect(image(merged, 'alerts')).toBe('registry.example.com/alerts:2.0');
  });

  it('returns the base unchanged when there are no layers', () => {
    const base = validSample();
    expect(expectValid(mergeLayers(base, []))).toEqual(base);
  });

  it('lets the higher priority win, whatever the order given', () => {
    const low: LayerDeployment = { layer: containerLayer('sensor', 'low:1'), priority: 1, createdAt: T1 };
    const high: LayerDeployment = { layer: containerLayer('sensor', 'high:1'), priority: 5, createdAt: T0 };
    expect(image(expectValid(mergeLayers(validSample(), [low, high])), 'sensor')).toBe('high:1');
    expect(image(expectValid(mergeLayers(validSample(), [high, low])), 'sensor')).toBe('high:1');
  });

  it('lets the newer layer win on equal priority', () => {
    const older: LayerDeployment = { layer: containerLayer('sensor', 'older:1'), priority: 3, createdAt: T0 };
    const newer: LayerDeployment = { layer: containerLayer('sensor', 'newer:1'), priority: 3, createdAt: new Date(T1) };
    expect(image(expectValid(mergeLayers(validSample(), [newer, older])), 'sensor')).toBe('newer:1');
    expect(image(expectValid(mergeLayers(validSample(), [older, newer])), 'sensor')).toBe('newer:1');
  });

  it('replaces a module whole, keeping its twin as Azure does', () => {
    const merged = expectValid(
      mergeLayers(validSample(), [{ layer: containerLayer('sensor', 'other:2'), priority: 1, createdAt: T0 }]),
    );
    const sensor = merged.modules.sensor;
    expect(sensor?.env).toBeUndefined();
    expect(sensor?.startupOrder).toBeUndefined();
    expect(sensor?.desiredProperties).toEqual({ sendIntervalSecs: 5 });
  });

  it('replaces routes of the same name', () => {
    const layer = sampleLayer({
      modules: {},
      routes: { filterToCloud: 'FROM /messages/modules/filter/* INTO $upstream' },
    });
    const merged = expectValid(mergeLayers(validSample(), [{ layer, priority: 1, createdAt: T0 }]));
    expect(merged.routes.filterToCloud).toBe('FROM /messages/modules/filter/* INTO $upstream');
  });

  it('applies desired-property patches in priority order, null deleting a property', () => {
    const patch = (properties: Record<string, unknown>, priority: number): LayerDeployment => ({
      layer: expectValid(
        validateManifest({ schemaVersion: '1.0', moduleDesiredProperties: { sensor: properties } }, { layer: true }),
      ),
      priority,
      createdAt: T0,
    });
    const merged = expectValid(
      mergeLayers(validSample(), [
        patch({ thresholds: { high: 50, low: 0 }, mode: 'eco' }, 9),
        patch({ thresholds: { high: 40 }, mode: 'fast', sendIntervalSecs: null }, 2),
      ]),
    );
    expect(merged.modules.sensor?.desiredProperties).toEqual({ thresholds: { high: 50, low: 0 }, mode: 'eco' });
  });

  it('warns about twin patches for a module the effective deployment lacks', () => {
    const layer = expectValid(
      validateManifest({ schemaVersion: '1.0', moduleDesiredProperties: { ghost: { a: 1 } } }, { layer: true }),
    );
    const result = mergeLayers(validSample(), [{ layer, priority: 1, createdAt: T0, name: 'deployment-7' }]);
    expect(result.ok && result.warnings).toEqual([
      {
        path: 'moduleDesiredProperties.ghost',
        message:
          'deployment-7 sets desired properties of module "ghost", which the effective deployment does not define; they are ignored',
      },
    ]);
  });

  it('rejects a route to a module no layer supplies, naming the layer it came from', () => {
    const layer = sampleLayer({ modules: {} });
    const errors = expectErrors(mergeLayers(validSample(), [{ layer, priority: 1, createdAt: T0 }]));
    expect(errors).toEqual([
      {
        path: 'routes.toAlerts',
        message: 'sends to module "alerts", which the effective deployment does not define (route from layers[0])',
      },
    ]);
  });

  it('accepts a base whose routes only work once a layer adds the module', () => {
    const base = expectValid(
      validateManifest({
        schemaVersion: '1.0',
        routes: { toAlerts: 'FROM /messages INTO BrokeredEndpoint("/modules/alerts/inputs/in")' },
      }),
    );
    const merged = expectValid(mergeLayers(base, [{ layer: sampleLayer({ routes: {} }), priority: 0, createdAt: T0 }]));
    expect(Object.keys(merged.modules)).toEqual(['alerts']);
  });

  it('reports bad inputs with paths saying which input', () => {
    const base = { ...validSample(), schemaVersion: 'x' } as Manifest;
    const errors = expectErrors(
      mergeLayers(base, [
        { layer: { schemaVersion: '1.0', modules: { 'a.b': {} } } as never, priority: -1, createdAt: 'yesterday' },
        'nonsense' as never,
      ]),
    );
    expect(errors).toEqual([
      { path: 'base.schemaVersion', message: 'schemaVersion must look like "1.0" (major.minor)' },
      {
        path: 'layers[0].layer.modules["a.b"]',
        message:
          "module name contains '.', which cannot appear in a NATS subject token; use letters, digits, '-' and '_'",
      },
      // The module under the bad name is checked too, so one pass shows every problem.
      { path: 'layers[0].layer.modules["a.b"].type', message: 'required: one of process, container' },
      { path: 'layers[0].priority', message: 'expected a non-negative integer' },
      { path: 'layers[0].createdAt', message: 'expected an ISO-8601 date-time or a Date' },
      { path: 'layers[1]', message: 'expected { layer, priority, createdAt }' },
    ]);
    expect(expectErrors(mergeLayers(validSample(), 'x' as never))).toEqual([
      { path: 'layers', message: 'expected an array of layers' },
    ]);
  });
});

describe('mergePatch (RFC 7386)', () => {
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('the RFC example %j + %j → %j', (target, patch, expected) => {
    expect(mergePatch(target as never, patch as never)).toEqual(expected);
  });

  it('does not modify its inputs', () => {
    const target = { a: { b: 1 } };
    mergePatch(target, { a: { b: 2 } });
    expect(target).toEqual({ a: { b: 1 } });
  });
});
