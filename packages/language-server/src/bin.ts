#!/usr/bin/env node
/**
 * `woodwork-language-server`: the server on stdin/stdout. Editors start it with `--stdio`, which is
 * also the default, so a bare `woodwork-language-server` in an editor's config works too.
 */
import { startServer } from './server.js';
import { VERSION } from './version.js';

// `--clientProcessId=N` is what vscode-languageclient adds; the connection watches that process itself.
const unknown = process.argv.slice(2).filter((argument) => argument !== '--stdio' && !argument.startsWith('--clientProcessId'));
if (unknown.includes('--version')) {
  process.stdout.write(`${VERSION}\n`);
} else if (unknown.length > 0) {
  // A transport this server does not speak (--node-ipc, --socket) must not look like a hang.
  const help = unknown.includes('--help');
  process.stderr.write(
    `${help ? '' : `woodwork-language-server: unknown option ${unknown.join(' ')}\n`}` +
      'usage: woodwork-language-server [--stdio]\n  Speaks the Language Server Protocol for .ww files on stdin and stdout.\n',
  );
  process.exitCode = help ? 0 : 2;
} else {
  startServer();
}
