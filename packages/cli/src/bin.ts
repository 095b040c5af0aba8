#!/usr/bin/env node
import { main } from './main.js';
import { processTerminal } from './terminal.js';

/**
 * The command is done when `main` settles. A broker driver may still hold a socket or a retry
 * timer after its client gave up (seen with NATS and kafkajs against a port that accepts and never
 * answers): that must not keep the user waiting at a prompt that never returns, so the process
 * ends a moment later even then. Unreferenced: a clean exit is not delayed.
 */
function exitSoon(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1_000).unref();
}

main(process.argv.slice(2), processTerminal()).then(exitSoon, (error: unknown) => {
  // Only programmer errors reach here; user mistakes are diagnostics with exit code 1 or 2.
  process.stderr.write(`woodwork: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.stderr.write('This is a bug in Woodwork; please report it with the command you ran.\n');
  exitSoon(70);
});
