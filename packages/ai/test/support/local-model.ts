/**
 * The local model the `llm local` tests and the benchmark run: the path `bash tools/models.sh env`
 * prints (tools/test.mjs sets it for `npm test`). Without it those tests fail, saying how to get it,
 * rather than skip: a suite that silently skips its only real model proves nothing.
 */
import { existsSync } from 'node:fs';

export function localModelPath(): string {
  const file = process.env.WOODWORK_LOCAL_MODEL;
  if (!file) {
    throw new Error(
      'WOODWORK_LOCAL_MODEL is not set: the llm local tests run a real model. Run `eval "$(bash tools/models.sh env)"` in the repository (it fetches SmolLM2-135M-Instruct, 98 MB, once), or run the tests through `npm test`, which does it.',
    );
  }
  if (!existsSync(file)) throw new Error(`WOODWORK_LOCAL_MODEL is ${file}, which does not exist: run \`bash tools/models.sh install\` again`);
  return file;
}
