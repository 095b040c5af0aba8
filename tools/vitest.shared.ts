// Shared vitest settings: tests resolve @woodwork/* packages to their TypeScript sources
// (the "@woodwork/source" export condition), so a test never runs against a stale dist/.
import { defineConfig } from 'vitest/config';

// Node's own conditions only: Vite's default `module` condition would pick bundler-only ESM builds
// (e.g. @opentelemetry/api's) that Node cannot load.
const conditions = ['@woodwork/source', 'node', 'import', 'default'];

export const sharedConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@woodwork/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // In CI a failed test runs once more. tools/test.mjs names every test that needed the second
    // run, with the first run's error, so a flaky test is reported rather than hidden; one that
    // fails twice fails the suite.
    retry: process.env.CI ? 1 : 0,
    // The JSON report lets tools/test.mjs print one closing "N passed, N failed" line for the repo.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
