import { defineConfig } from 'vitest/config';

// The integration tests start real nats-servers in operator mode with TLS: generous bounds, one file at a time.
export default defineConfig({
  test: { testTimeout: 120_000, hookTimeout: 120_000, fileParallelism: false },
});
