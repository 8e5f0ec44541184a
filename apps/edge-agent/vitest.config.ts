import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Process-level tests spawn the built CLI and real nats-servers on a shared 2-core machine: be generous.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ['./test/global-setup.ts'],
  },
});
