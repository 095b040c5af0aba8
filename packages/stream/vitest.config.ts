import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';
import { sharedConfig } from '../../tools/vitest.shared.js';

// The shared settings, less the `module` resolve condition: with it, @opentelemetry/api (which
// the AI SDK of the interop test imports) resolves to its ESM build, whose extension-less
// imports Node cannot load.
const conditions = ['@woodwork/source', ...defaultServerConditions.filter((condition) => condition !== 'module')];

export default defineConfig({
  ...sharedConfig,
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@woodwork/source'] } },
});
