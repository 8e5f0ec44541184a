/**
 * The JSON Schema files under schema/ are generated from the zod schemas and committed, because editors and the
 * portal read them. This test regenerates them and fails when the committed copies are out of date.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  JSON_SCHEMA_FILES,
  layerJsonSchema,
  manifestJsonSchema,
  renderJsonSchema,
  valueAtJsonPath,
} from '../src/index.js';

const schemaDirectory = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema');

describe('committed JSON Schema', () => {
  it.each(Object.entries(JSON_SCHEMA_FILES))('schema/%s matches the zod schema', (file, generate) => {
    const committed = readFileSync(join(schemaDirectory, file), 'utf8');
    expect(
      committed === renderJsonSchema(generate()),
      `schema/${file} is out of date: run \`pnpm --filter @outpost/manifest schema:write\` and commit the result`,
    ).toBe(true);
  });

  it('is listed in package.json files and exports so the portal can import it', () => {
    const pkg = JSON.parse(readFileSync(join(schemaDirectory, '..', 'package.json'), 'utf8'));
    expect(pkg.files).toContain('schema');
    for (const file of Object.keys(JSON_SCHEMA_FILES)) expect(pkg.exports[`./schema/${file}`]).toBe(`./schema/${file}`);
  });
});

describe('generated JSON Schema', () => {
  const manifest = manifestJsonSchema();
  const at = (path: string) => valueAtJsonPath(manifest, path);

  it('is draft 2020-12, strict about unknown keys, and documents defaults', () => {
    expect(at('$schema')).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(at('$defs.OutpostManifest.additionalProperties')).toBe(false);
    expect(at('$defs.OutpostManifest.required')).toEqual(['schemaVersion']);
    expect(at('$defs.ManifestSchemaVersion.pattern')).toBe('^1\\.(0|[1-9][0-9]*)$');
    expect(at('$defs.ManifestStoreAndForward.properties.timeToLiveSecs.default')).toBe(7200);
    expect(at('$defs.ManifestProcessModule.additionalProperties')).toBe(false);
  });

  it('carries the module-name rule and the module type choice', () => {
    expect(at('$defs.ManifestModuleName')).toMatchObject({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]*$', maxLength: 64 });
    expect(at('$defs.ManifestModule.oneOf')).toEqual([
      { $ref: '#/$defs/ManifestProcessModule' },
      { $ref: '#/$defs/ManifestContainerModule' },
    ]);
    expect(at('$defs.ManifestRestartPolicy.enum')).toEqual(['never', 'on-failure', 'on-unhealthy', 'always']);
  });

  it('has a layer schema with only what layers carry', () => {
    const properties = valueAtJsonPath(layerJsonSchema(), '$defs.OutpostManifestLayer.properties');
    expect(Object.keys(properties as object)).toEqual([
      '$schema',
      'schemaVersion',
      'modules',
      'routes',
      'moduleDesiredProperties',
    ]);
  });
});
