/**
 * `knowledge_base chroma` against a real Chroma server (pip's chromadb, started by
 * `tools/services.sh start chroma`; its URL in WOODWORK_TEST_CHROMA_URL) with the local embedding
 * model (the GGUF at WOODWORK_LOCAL_MODEL): incremental indexing, retrieval into an llm's prompt,
 * the agent's `query` tool, and retrieval quality on a small labelled set, printed.
 */
import { cp, mkdtemp, readdir, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChromaClient } from 'chromadb';
import { openChromaKnowledgeBase, type OpenedKnowledgeBase } from '../src/knowledge/chroma.js';
import { describeReport } from '../src/knowledge/indexer.js';
import { chunkText, rankByKeywords } from '../src/knowledge/passages.js';
import { startScriptedServer } from '../src/testing/index.js';
import { localModelPath } from './support/local-model.js';
import { eventsUntil, project, started } from './support/project.js';

const url = process.env.WOODWORK_TEST_CHROMA_URL;
if (url === undefined && process.env.WOODWORK_TEST_REQUIRE_BROKERS === '1') throw new Error('WOODWORK_TEST_CHROMA_URL is not set but services are required (bash tools/services.sh start chroma)');

const labelled = path.join(import.meta.dirname, 'fixtures/retrieval');
const questions = JSON.parse(readFileSync(path.join(labelled, 'questions.json'), 'utf8')) as { question: string; source: string }[];
const unique = () => `ww-test-${Math.random().toString(36).slice(2, 10)}`;

describe.skipIf(url === undefined)('knowledge_base chroma (real Chroma server, local embeddings)', () => {
  let folder: string;
  let opened: OpenedKnowledgeBase;
  const collection = unique();

  beforeAll(async () => {
    localModelPath();
    folder = await mkdtemp(path.join(tmpdir(), 'ww-chroma-'));
    await cp(path.join(labelled, 'docs'), path.join(folder, 'docs'), { recursive: true });
    await writeFile(path.join(folder, 'docs/.gitignore'), 'private/\n*.log\n');
    await cp(path.join(labelled, 'docs/budget.md'), path.join(folder, 'docs/private-copy.log'));
    // A binary file is no document: never embedded, and no reason to index again.
    await writeFile(path.join(folder, 'docs/logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d]));
    opened = await openChromaKnowledgeBase({ url: url!, collection, documents: 'docs', embedding: 'local' }, { name: 'kb', projectDir: folder });
  }, 120_000);

  afterAll(async () => {
    await opened?.close();
    await new ChromaClient({ host: new URL(url!).hostname, port: Number(new URL(url!).port) }).deleteCollection({ name: collection }).catch(() => undefined);
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('indexes incrementally: nothing to do the second time, a changed file re-embedded, a removed one deleted, ignored files left out', async () => {
    const first = await opened.index();
    expect(first.added).toHaveLength(12);
    expect(first.added).not.toContain('private-copy.log');
    const count = await opened.collection.count();
    expect(count).toBe(first.passages);

    const again = await opened.index();
    expect(again).toMatchObject({ added: [], updated: [], removed: [], unchanged: 12, skipped: ['logo.png'], passages: 0 });
    expect(describeReport(again, 'kb')).toMatch(/^kb: nothing to do — 12 files unchanged since the last index/);

    // Touched, not changed: no embedding, the time is recorded.
    const later = new Date(Date.now() + 5000);
    await utimes(path.join(folder, 'docs/cats.md'), later, later);
    expect(await opened.index()).toMatchObject({ updated: [], unchanged: 12, passages: 0 });

    await writeFile(path.join(folder, 'docs/cats.md'), '# Cats\n\nCats sleep for about fifteen hours a day.\n');
    await unlink(path.join(folder, 'docs/paint.md'));
    const changed = await opened.index();
    expect(changed).toMatchObject({ added: [], updated: ['cats.md'], removed: ['paint.md'], unchanged: 10, passages: 1 });
    const sources = (await opened.collection.get({ include: ['metadatas'] as never })).metadatas.map((meta) => (meta as { source: string }).source);
    expect(sources).not.toContain('paint.md');
    expect(sources.filter((source) => source === 'cats.md')).toHaveLength(1);
    // Restore for the next tests.
    await cp(path.join(labelled, 'docs/cats.md'), path.join(folder, 'docs/cats.md'));
    await cp(path.join(labelled, 'docs/paint.md'), path.join(folder, 'docs/paint.md'));
    expect(await opened.index()).toMatchObject({ added: ['paint.md'], updated: ['cats.md'] });
  }, 300_000);

  it('measures retrieval quality on the labelled set (recall@1, recall@3, MRR) against keyword search, and prints it', async () => {
    await opened.index();
    const names = await readdir(path.join(labelled, 'docs'));
    const all = names.flatMap((name) => chunkText(readFileSync(path.join(labelled, 'docs', name), 'utf8')).map((chunk) => ({ ...chunk, source: name })));
    const measure = async (rank: (question: string) => Promise<string[]>) => {
      let at1 = 0;
      let at3 = 0;
      let reciprocal = 0;
      for (const { question, source } of questions) {
        const ranked = [...new Set(await rank(question))];
        const position = ranked.indexOf(source);
        if (position === 0) at1++;
        if (position >= 0 && position < 3) at3++;
        if (position >= 0) reciprocal += 1 / (position + 1);
      }
      return { recallAt1: at1 / questions.length, recallAt3: at3 / questions.length, mrr: reciprocal / questions.length };
    };
    const embedded = await measure(async (question) => (await opened.retrieve(question, 10)).map((passage) => passage.source));
    const keywords = await measure(async (question) => rankByKeywords(all, question, 10).map(({ item }) => item.source));
    const line = (name: string, figures: { recallAt1: number; recallAt3: number; mrr: number }) =>
      `${name.padEnd(42)} recall@1 ${figures.recallAt1.toFixed(2)}  recall@3 ${figures.recallAt3.toFixed(2)}  MRR ${figures.mrr.toFixed(2)}`;
    console.log(
      [
        `retrieval quality, ${questions.length} labelled questions over 12 documents (chance: recall@1 0.08, recall@3 0.25):`,
        line(`chroma + local embeddings (${path.basename(localModelPath())})`, embedded),
        line('keyword search (BM25, knowledge_base text_file)', keywords),
      ].join('\n'),
    );
    // Well above chance; the figures themselves are the measurement.
    expect(embedded.recallAt3).toBeGreaterThan(0.25);
    expect(keywords.recallAt3).toBeGreaterThan(0.25);
  }, 300_000);

  it("puts the top passages into an llm's prompt with their sources, and agents get a query tool", async () => {
    await opened.index();
    await using server = await startScriptedServer();
    await using files = await project({
      'main.ww': `
        kb = knowledge_base chroma { url = "${url}", collection = "${collection}", embedding = "local", top_k = 2 }
        model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}", knowledge_base = kb }
        helper = agent llm { model = model, tools = [kb] }
      `,
    });
    server.enqueue({ text: 'Grind finer (espresso.md).' });
    await using runtime = await started(await files.load());
    const id = await runtime.create();
    const events = runtime.events(id);
    const turn = await runtime.submit(id, 'How fine should I grind the beans for an espresso shot?', { to: 'model' });
    const seen = await eventsUntil(events, 'turn.completed');
    expect((await turn.result).ok).toBe(true);
    const prompt = JSON.stringify(server.requests[0]!.body);
    expect(prompt).toContain('knowledge base `kb`');
    // Two passages, each named by file and lines; the small local model ranks espresso.md among them.
    expect(prompt).toMatch(/\[1\] \S+\.md, lines \d+-\d+/);
    expect(prompt).toMatch(/\[2\] \S+\.md, lines \d+-\d+/);
    expect(prompt).toContain('espresso.md, lines');
    expect((seen.find((event) => event.event_type === 'knowledge.retrieved')?.payload as { sources: string[] }).sources).toHaveLength(2);

    server.enqueue({ toolCalls: [{ name: 'query', arguments: { query: 'how to patch a bicycle inner tube', k: 2 } }] }, { text: 'done' });
    const answer = await runtime.ask(undefined, 'look it up', { to: 'helper' });
    expect(answer.ok).toBe(true);
    const output = (server.requests.at(-1)!.body.input as any[]).find((item) => item.type === 'function_call_output').output;
    // k passages, each with its source; which ones is the embedding model's quality, measured above.
    expect(output).toMatch(/^\[1\] \S+\.md, lines \d+-\d+\n# .+\n[\s\S]*\n\n\[2\] \S+\.md, lines \d+-\d+\n# /);
    expect(output).not.toContain('[3]');
  }, 300_000);

  it('an unreachable server stops the start naming it', async () => {
    await expect(openChromaKnowledgeBase({ url: 'http://127.0.0.1:9', embedding: 'local' }, { name: 'kb', projectDir: folder })).rejects.toThrow(/Chroma server at http:\/\/127\.0\.0\.1:9 did not answer/);
  });
});

const program = process.env.WOODWORK_TEST_CHROMA_PROGRAM;
describe.skipIf(program === undefined)('knowledge_base chroma without url (the classic embedded Chroma)', () => {
  it("starts a Chroma server of the project's own on .woodwork/chroma, indexes file_to_embed, and stops it", async () => {
    await using server = await startScriptedServer();
    await using files = await project({
      'main.ww': `
        kb = knowledge_base chroma { file_to_embed: "docs", embedding: "local" }
        model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}", knowledge_base = kb }
      `,
      'docs/bicycle.md': readFileSync(path.join(labelled, 'docs/bicycle.md'), 'utf8'),
    });
    const saved = process.env.WOODWORK_CHROMA;
    process.env.WOODWORK_CHROMA = program;
    try {
      server.enqueue({ text: 'Patch it.' });
      {
        await using runtime = await started(await files.load());
        expect((await runtime.ask(undefined, 'How do I patch the tube?', { to: 'model' })).ok).toBe(true);
      }
      expect(JSON.stringify(server.requests[0]!.body)).toContain('[1] bicycle.md, lines 1-');
      expect(readFileSync(path.join(files.dir, '.woodwork/chroma/chroma.sqlite3')).length).toBeGreaterThan(0);
    } finally {
      if (saved === undefined) delete process.env.WOODWORK_CHROMA;
      else process.env.WOODWORK_CHROMA = saved;
    }
  }, 300_000);

  it('says how to get one when there is no chroma program', async () => {
    await expect(openChromaKnowledgeBase({ embedding: 'local' }, { name: 'kb', projectDir: tmpdir(), env: { WOODWORK_CHROMA: '/nonexistent/chroma' } })).rejects.toMatchObject({
      message: expect.stringContaining('is not installed'),
      hint: expect.stringContaining('pip install chromadb'),
    });
  });
});
