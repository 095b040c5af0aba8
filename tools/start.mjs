#!/usr/bin/env node
// The README's "see it work" command (`npm start`): builds the CLI and its packages (Nx caches
// the build, so the second run is instant), checks every bundled example with `woodwork validate`
// and asks a real language model one question through examples/local-chat, embedded, on the
// in-memory bus:
//   - with OPENAI_API_KEY set, OpenAI's model (examples/local-chat/openai.ww);
//   - else with ANTHROPIC_API_KEY set, Anthropic's (claude.ww);
//   - else the local model, no account and no key: SmolLM2-135M-Instruct (98 MB, Apache-2.0, a very
//     small model), fetched once by tools/models.sh into ~/.cache/woodwork/models and run on the
//     CPU by `llm local` (main.ww). A WOODWORK_LOCAL_MODEL already set (a .gguf of your own) wins.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (command, args, env = process.env) => spawnSync(command, args, { cwd: root, stdio: 'inherit', env }).status ?? 1;

// The `export NAME=value` lines `bash tools/models.sh env` prints, as an object.
function modelEnv() {
  if (process.env.WOODWORK_LOCAL_MODEL) return {};
  const models = path.join(root, 'tools', 'models.sh');
  if (run('bash', [models, 'install']) !== 0) {
    console.error('tools/models.sh could not fetch the local model; see its error above.');
    process.exit(1);
  }
  const printed = spawnSync('bash', [models, 'env'], { cwd: root, encoding: 'utf8' });
  const match = /^export WOODWORK_LOCAL_MODEL=(.*)$/m.exec(printed.stdout ?? '');
  return match ? { WOODWORK_LOCAL_MODEL: match[1] } : {};
}

if (run('npx', ['nx', 'run', '@woodwork/cli:build', '--outputStyle=dynamic-legacy']) !== 0) process.exit(1);
const woodwork = path.join(root, 'packages', 'cli', 'dist', 'bin.js');
const chat = process.env.OPENAI_API_KEY ? 'openai.ww' : process.env.ANTHROPIC_API_KEY ? 'claude.ww' : 'main.ww';
const env = { ...process.env, ...(chat === 'main.ww' ? modelEnv() : {}) };
let status = 0;
for (const example of readdirSync(path.join(root, 'examples')).sort()) {
  status ||= run(process.execPath, [woodwork, 'validate', path.join('examples', example, 'main.ww')], env);
}
if (status !== 0) process.exit(status);
const target = chat === 'main.ww' ? path.join('examples', 'local-chat') : path.join('examples', 'local-chat', chat);
const question = 'What is the capital of France?';
console.log(`\n$ woodwork run ${target} --input "${question}"`);
process.exit(run(process.execPath, [woodwork, 'run', target, '--input', question], env));
