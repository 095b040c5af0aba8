// Shared vitest settings: tests resolve @woodwork/* packages to their TypeScript sources
// (the "@woodwork/source" export condition), so a test never runs against a stale dist/.
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

const conditions = ['@woodwork/source', ...defaultServerConditions];

export const sharedConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@woodwork/source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The JSON report lets tools/test.mjs print one closing "N passed, N failed" line for the repo.
    reporters: ['default', ['json', { outputFile: 'test-results/vitest.json' }]],
  },
});
