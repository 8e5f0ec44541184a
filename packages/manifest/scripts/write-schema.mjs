// Writes the JSON Schema files under schema/ from the built package (run through `pnpm schema:write`, which builds
// first). test/json-schema.test.ts fails when the committed files differ from what this would write.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JSON_SCHEMA_FILES, renderJsonSchema } from '../dist/index.js';

const directory = join(dirname(fileURLToPath(import.meta.url)), '..', 'schema');
for (const [file, generate] of Object.entries(JSON_SCHEMA_FILES)) {
  writeFileSync(join(directory, file), renderJsonSchema(generate()));
  console.log(`wrote schema/${file}`);
}
