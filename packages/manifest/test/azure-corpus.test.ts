/**
 * Imports every Azure IoT Edge deployment in the shared conformance corpus
 * (../shared/conformance/azure-iotedge/manifests beside the repository) and validates the result. The corpus is
 * optional: CI has it, a clone elsewhere may not, and then this file is skipped (test/azure.test.ts covers the same
 * converter with deployments written inline).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AzureImportError, fromAzureManifest, type Manifest, mergeLayers, validateManifest } from '../src/index.js';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const manifestsDirectory = resolve(packageRoot, '../../../shared/conformance/azure-iotedge/manifests');
const available = existsSync(manifestsDirectory);
if (!available) {
  console.warn(`SKIPPED: Azure IoT Edge manifest corpus not found at ${manifestsDirectory}`);
}

/** The edgeAgent twin examples are twins, not deployments: the corpus README lists them separately. */
const isTwinExample = (file: string) => file.endsWith('-twin.json');
const files = available ? readdirSync(manifestsDirectory).filter((file) => file.endsWith('.json')) : [];
const read = (file: string): unknown => JSON.parse(readFileSync(join(manifestsDirectory, file), 'utf8'));

function importedManifest(file: string): Manifest {
  const result = fromAzureManifest(read(file));
  if (result.kind !== 'manifest') expect.fail(`${file} should import as a manifest`);
  return result.manifest;
}

describe.skipIf(!available)('Azure IoT Edge manifest corpus', () => {
  it('has deployments to import', () => {
    expect(files.filter((file) => !isTwinExample(file)).length).toBeGreaterThanOrEqual(5);
  });

  it.each(files.filter((file) => !isTwinExample(file)))('%s imports and then validates', (file) => {
    const result = fromAzureManifest(read(file));
    const validated = validateManifest(result.manifest, { layer: result.kind === 'layer' });
    expect(validated.ok ? [] : validated.errors).toEqual([]);
    expect(result.kind).toBe(file === 'layered.json' ? 'layer' : 'manifest');
    for (const warning of result.warnings) expect(warning.path.length).toBeGreaterThan(0);
  });

  it.each(files.filter(isTwinExample))('%s (a twin, not a deployment) is refused with a reason', (file) => {
    expect(() => fromAzureManifest(read(file))).toThrow(AzureImportError);
    expect(() => fromAzureManifest(read(file))).toThrow(/module twin/);
  });

  it('keeps startupOrder, route priorities and TTLs from the CLI schema 1.1 example', () => {
    const manifest = importedManifest('cli-schema-1.1.json');
    expect(manifest.modules.SimulatedTemperatureSensor?.startupOrder).toBe(2);
    expect(manifest.modules.filtermodule?.startupOrder).toBe(1);
    expect(manifest.modules.filtermodule?.env).toEqual({ tempLimit: { value: '100' } });
    expect(manifest.routes.sensorToFilter).toMatchObject({ priority: 0, timeToLiveSecs: 1800 });
    expect(manifest.storeAndForward.timeToLiveSecs).toBe(100);
    const filter = manifest.modules.filtermodule;
    expect(filter?.type === 'container' && filter.container.registryCredentialsRef).toBe('ContosoRegistry');
  });

  it('imports the layered example as a layer with its module twin settings', () => {
    const result = fromAzureManifest(read('layered.json'));
    if (result.kind !== 'layer') expect.fail('layered.json should import as a layer');
    expect(result.manifest.routes).toEqual({ route0: 'from /messages/* INTO $upstream' });
    expect(result.manifest.moduleDesiredProperties).toEqual({ mymodule0: { settings: { prop0: 'val0' } } });
    const merged = mergeLayers(importedManifest('module-to-module.json'), [
      { layer: result.manifest, priority: 1, createdAt: new Date() },
    ]);
    expect(merged.ok && Object.keys(merged.manifest.modules).sort()).toEqual(['mymodule0', 'tempFilter', 'tempSensor']);
  });

  it('lists the nested-edge parts it cannot carry over', () => {
    const middle = fromAzureManifest(read('nested-middle-layer.json'));
    const messages = middle.warnings.map((warning) => warning.message).join('\n');
    expect(messages).toContain('the Azure IoT Edge API proxy serves nested edge');
    expect(messages).toContain('sends to module "relayer1", which this manifest does not define');
    const top = fromAzureManifest(read('nested-top-layer.json'));
    expect(top.warnings.map((warning) => warning.message).join('\n')).toContain('MQTT broker authorizations');
  });

  it('rejects the nested middle layer as an effective deployment: its relayer1 route has no module', () => {
    const result = validateManifest(importedManifest('nested-middle-layer.json'), { effective: true });
    expect(result.ok ? [] : result.errors).toEqual([
      {
        path: 'routes.ToRelayer1',
        message: 'sends to module "relayer1", which the effective deployment does not define',
      },
    ]);
  });
});
