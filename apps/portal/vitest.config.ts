import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: [
      // The same `@/` → src/ mapping as tsconfig.json's paths.
      { find: /^@\//, replacement: fileURLToPath(new URL('./src/', import.meta.url)) },
      // Next resolves `server-only` to an empty module on the server; tests run server code, so they do the same.
      { find: /^server-only$/, replacement: 'next/dist/compiled/server-only/empty.js' },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
