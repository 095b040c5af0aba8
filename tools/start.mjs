#!/usr/bin/env node
// The README's "see it work" command (`npm start`): builds the CLI and its packages (Nx caches
// the build, so the second run is instant), checks every bundled example with `woodwork validate`
// and runs the echo example embedded, on the in-memory bus, with no API key.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (command, args) => spawnSync(command, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

if (run('npx', ['nx', 'run', '@woodwork/cli:build', '--outputStyle=dynamic-legacy']) !== 0) process.exit(1);
const woodwork = path.join(root, 'packages', 'cli', 'dist', 'bin.js');
let status = 0;
for (const example of readdirSync(path.join(root, 'examples')).sort()) {
  status ||= run(process.execPath, [woodwork, 'validate', path.join('examples', example, 'main.ww')]);
}
if (status !== 0) process.exit(status);
console.log('\n$ woodwork run examples/echo --input "  hello from woodwork  "');
process.exit(run(process.execPath, [woodwork, 'run', path.join('examples', 'echo'), '--input', '  hello from woodwork  ']));
