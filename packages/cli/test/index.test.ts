/**
 * `woodwork index` as a user runs it, against the real Chroma server (tools/services.sh start chroma)
 * and the local embedding model: the first run embeds, the second does nothing and says so, a
 * changed file is embedded again, a progress bar on a terminal only.
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

const url = process.env.WOODWORK_TEST_CHROMA_URL;
const model = process.env.WOODWORK_LOCAL_MODEL;
if ((url === undefined || model === undefined) && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') {
  throw new Error('WOODWORK_TEST_CHROMA_URL and WOODWORK_LOCAL_MODEL are needed (npm test sets both: tools/services.sh, tools/models.sh)');
}
const docs = path.resolve(import.meta.dirname, '../../ai/test/fixtures/retrieval/docs');

describe.skipIf(url === undefined || model === undefined)('woodwork index', () => {
  const collection = `ww-cli-${Math.random().toString(36).slice(2, 10)}`;
  let dir = '';
  afterAll(async () => {
    // Chroma's REST API, so the CLI needs no client of its own to clean up.
    await fetch(`${url}/api/v2/tenants/default_tenant/databases/default_database/collections/${collection}`, { method: 'DELETE' }).catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('embeds new files, then does nothing and says so, then only what changed', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ww-index-'));
    await cp(docs, path.join(dir, 'docs'), { recursive: true });
    await writeFile(path.join(dir, 'main.ww'), `kb = knowledge_base chroma {\n  url: "${url}"\n  collection: "${collection}"\n  file_to_embed: "docs"\n  embedding: "local"\n}\nnotes = knowledge_base text_file { path: "docs" }\n`);
    const env = { PATH: process.env.PATH, WOODWORK_LOCAL_MODEL: model };

    const first = await runCli(['index'], { cwd: dir, env, tty: true });
    expect(first.stderr).toContain('kb [');
    expect(first.stdout).toMatch(/^kb: 12 added — \d+ passages embedded into the Chroma collection ww-cli-/);
    expect(first.code).toBe(0);

    const second = await runCli(['index'], { cwd: dir, env });
    expect(second.stdout).toMatch(/^kb: nothing to do — 12 files unchanged since the last index/);
    expect(second.stderr).toBe('');

    await writeFile(path.join(dir, 'docs/budget.md'), '# Budget\n\nSave a tenth of what you earn.\n');
    const third = await runCli(['index', '--only', 'kb'], { cwd: dir, env });
    expect(third.stdout).toMatch(/^kb: 1 changed, 11 unchanged — 1 passage embedded/);
  }, 300_000);

  it('names what is missing', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'ww-index-'));
    try {
      await writeFile(path.join(empty, 'main.ww'), 'notes = knowledge_base text_file { path: "main.ww" }\n');
      const none = await runCli(['index'], { cwd: empty });
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('has no knowledge_base chroma to index (`notes` (text_file) needs no index');
      await writeFile(path.join(empty, 'main.ww'), `kb = knowledge_base chroma { url: "http://127.0.0.1:9", documents: "." }\n`);
      const down = await runCli(['index'], { cwd: empty, env: { PATH: process.env.PATH, WOODWORK_LOCAL_MODEL: model } });
      expect(down.code).toBe(1);
      expect(down.stderr).toContain('kb: the Chroma server at http://127.0.0.1:9 did not answer');
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
