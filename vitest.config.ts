import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal workers load a native module; separate processes isolate them cleanly.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'default',
          include: ['test/**/*.test.ts'],
          exclude: ['test/cluster/**'],
          globalSetup: './test/global-setup.ts',
        },
      },
      {
        // The local cluster (npm run cluster) started by the tests themselves: no shared dev server.
        // The first run in a fresh checkout builds the Temporal server with Go: about 6 minutes alone,
        // longer beside the other test files on a small machine.
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          hookTimeout: 30 * 60_000,
          testTimeout: 180_000,
        },
      },
    ],
  },
});
