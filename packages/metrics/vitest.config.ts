import { defineConfig } from 'vitest/config';

import { sharedConfig } from '../../tools/vitest.shared.js';

// The shared resolve conditions include Vite's `module`, which points @opentelemetry/api at its
// bundler-only ESM build (extensionless imports Node cannot load once externalized). Resolve
// without it here: Node's own conditions pick the CommonJS build every SDK package also uses.
const conditions = ['@woodwork/source', 'node', 'import', 'default'];

export default defineConfig({
  ...sharedConfig,
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@woodwork/source'] } },
});
