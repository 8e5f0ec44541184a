/**
 * JSON Schema generated from the zod schemas, for editors and the portal's manifest editor. The generated files are
 * committed under schema/ (`pnpm --filter @outpost/manifest schema:write`) and a test fails when they drift.
 *
 * JSON Schema describes the shape only: route grammar, module references and module-name letter case are checked by
 * validateManifest alone.
 */
import { z } from 'zod';
import { Layer, Manifest } from './schema.js';

export type JsonSchemaDocument = Record<string, unknown>;

function generate(schema: z.ZodType): JsonSchemaDocument {
  // `io: 'input'`: describe what people write (defaults make fields optional), not what validation returns.
  return z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as JsonSchemaDocument;
}

/** The JSON Schema of a manifest (schema/manifest-1.json). */
export function manifestJsonSchema(): JsonSchemaDocument {
  return generate(Manifest);
}

/** The JSON Schema of a layer (schema/layer-1.json). */
export function layerJsonSchema(): JsonSchemaDocument {
  return generate(Layer);
}

/** The committed files and what generates each, so the writer script and the drift test cannot disagree. */
export const JSON_SCHEMA_FILES: Readonly<Record<string, () => JsonSchemaDocument>> = {
  'manifest-1.json': manifestJsonSchema,
  'layer-1.json': layerJsonSchema,
};

/** The exact text written to disk: two-space indentation and a final newline. */
export function renderJsonSchema(schema: JsonSchemaDocument): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
