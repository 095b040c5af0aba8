import { createRequire } from 'node:module';

/** Read from package.json so `woodwork --version` always matches the published package. */
export const cliVersion: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
