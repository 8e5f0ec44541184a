import { defineConfig } from 'drizzle-kit';

// `pnpm db:generate` diffs src/database/schema.ts against drizzle/ and writes the next migration there.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/database/schema.ts',
  out: './drizzle',
});
