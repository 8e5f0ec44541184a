import { defineConfig } from 'vitest/config';

// These tests start whole stacks (nats-server, cloud API, agents, Next): generous bounds, one file at a time.
export default defineConfig({
  test: {
    testTimeout: 240_000,
    hookTimeout: 240_000,
    fileParallelism: false,
  },
});
