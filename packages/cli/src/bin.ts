#!/usr/bin/env node
import { main } from './main.js';
import { processTerminal } from './terminal.js';

main(process.argv.slice(2), processTerminal()).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // Only programmer errors reach here; user mistakes are diagnostics with exit code 1 or 2.
    process.stderr.write(`woodwork: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.stderr.write('This is a bug in Woodwork; please report it with the command you ran.\n');
    process.exitCode = 70;
  },
);
