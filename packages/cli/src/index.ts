/** @woodwork/cli: the `woodwork` command, also callable in-process (tests, wrappers). */
export { main } from './main.js';
export { processTerminal, ExitCode } from './terminal.js';
export type { Terminal } from './terminal.js';
