#!/usr/bin/env node
/**
 * `woodwork-language-server`: the server on stdin/stdout. Editors start it with `--stdio`, which is
 * also the default, so a bare `woodwork-language-server` in an editor's config works too.
 */
import { createConnection } from 'vscode-languageserver/node';
import { startServer } from './server.js';
import { VERSION } from './version.js';

const argv = process.argv.slice(2);
if (argv.includes('--version')) {
  process.stdout.write(`${VERSION}\n`);
} else if (argv.includes('--help') || argv.some((argument) => !['--stdio'].includes(argument) && !argument.startsWith('--clientProcessId'))) {
  // A transport this server does not speak must not look like a hang: say so and stop.
  const unknown = argv.filter((argument) => argument !== '--help' && argument !== '--stdio' && !argument.startsWith('--clientProcessId'));
  process.stderr.write(
    `${unknown.length > 0 ? `woodwork-language-server: unknown option ${unknown.join(' ')}\n` : ''}` +
      'usage: woodwork-language-server [--stdio]\n  Speaks the Language Server Protocol on stdin/stdout for .ww files.\n',
  );
  process.exitCode = unknown.length > 0 ? 2 : 0;
} else {
  startServer(createConnection(process.stdin, process.stdout));
}
