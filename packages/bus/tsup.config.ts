import { defineConfig } from 'tsup';

export default defineConfig({
  // Named entries keep dist/ shaped like src/: create-bus's lazy `import('./adapters/x/index.js')`
  // and the suite's `./consumer-process.js` resolve the same way in both.
  entry: {
    index: 'src/index.ts',
    'testing/index': 'src/testing/index.ts',
    'testing/consumer-process': 'src/testing/consumer-process.ts',
  },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' } },
  clean: true,
  sourcemap: true,
  target: 'node22',
  // Drivers and vitest are optional peers: never bundled, loaded only when used.
  external: ['vitest', 'ioredis', 'kafkajs', '@nats-io/transport-node', '@nats-io/jetstream', 'ajv', 'ajv-formats'],
});
