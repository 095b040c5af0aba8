import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedConfig } from '../tools/vitest.shared.js';

// e2e tests run the built CLI (dist/bin.js) as a child process, exactly as a user would.
export default mergeConfig(sharedConfig, defineConfig({ test: { include: ['**/*.e2e.test.ts'] } }));
