// Builds what the .vsix carries into dist/:
//   dist/extension.js               the client (src/extension.ts and vscode-languageclient), CommonJS as VS Code loads it
//   dist/server.js                  @woodwork/language-server's bin with everything it imports, so it runs without node_modules
//   dist/syntaxes/ww.tmLanguage.json the parser's TextMate grammar, copied (its one source stays in @woodwork/parser)
// and type-checks src/ first. An esbuild warning fails the build: in these bundles one usually
// means code that would break at run time (an `import.meta` in CommonJS, a require it cannot follow).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const require = createRequire(import.meta.url);

execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', root], { stdio: 'inherit' });

rmSync(dist, { recursive: true, force: true });
mkdirSync(path.join(dist, 'syntaxes'), { recursive: true });
copyFileSync(require.resolve('@woodwork/parser/syntaxes/ww.tmLanguage.json'), path.join(dist, 'syntaxes', 'ww.tmLanguage.json'));

// The server's public entry is its bin (the command `woodwork-language-server`), not a file inside.
const serverPackageFile = require.resolve('@woodwork/language-server/package.json');
const serverBin = JSON.parse(readFileSync(serverPackageFile, 'utf8')).bin['woodwork-language-server'];

// VS Code 1.101 (engines.vscode) is the first on Node 22.15, the floor of @woodwork/parser and the
// server; it runs both bundles on that Node (Electron's), so users need no Node of their own.
const common = { bundle: true, platform: 'node', format: 'cjs', target: 'node22', logLevel: 'warning', legalComments: 'none' };
const results = await Promise.all([
  build({ ...common, entryPoints: [path.join(root, 'src', 'extension.ts')], outfile: path.join(dist, 'extension.js'), external: ['vscode'] }),
  build({ ...common, entryPoints: [path.join(path.dirname(serverPackageFile), serverBin)], outfile: path.join(dist, 'server.js') }),
]);
if (results.some((result) => result.warnings.length > 0)) {
  console.error('esbuild warned (above); the bundles may not run as they are.');
  process.exit(1);
}
