import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Temporal workers load a native module; separate processes isolate them cleanly.
    pool: 'forks',
    globalSetup: './test/global-setup.ts',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
