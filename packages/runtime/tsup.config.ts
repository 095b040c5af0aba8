import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'distributed/index': 'src/distributed/index.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node22',
  // Loaded lazily and only when used: the Redis session store and its BullMQ timer, the TypeScript loader.
  external: ['bullmq', 'ioredis', 'tsx', 'tsx/esm/api'],
});
