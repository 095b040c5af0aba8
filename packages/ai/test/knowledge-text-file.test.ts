/**
 * `knowledge_base text_file`: a folder of the project searched by keyword — as an agent's tools
 * (search, read, write, list; no path leaves the folder) and as an llm's retrieval (the passages in
 * the prompt with their sources named).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startScriptedServer, type ScriptedServer } from '../src/testing/index.js';
import { chunkText } from '../src/knowledge/passages.js';
import { makePdf } from './support/pdf.js';
import { eventsUntil, project, started } from './support/project.js';

const docs = {
  'docs/setup.md': '# Setup\n\nInstall the tools with `make bootstrap`.\nThen run `make test` to check the machine.\n',
  'docs/holidays.md': '# Holidays\n\nThe office is closed on the first Monday of August.\nStaff get 27 days of paid leave a year.\n',
  'docs/.gitignore': 'drafts/\n',
  'docs/drafts/secret.md': 'The paid leave will become 30 days (draft, not decided).\n',
  'secrets.txt': 'outside the knowledge base\n',
};

function model(server: ScriptedServer) {
  return `model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}", knowledge_base = kb }`;
}

describe('knowledge_base text_file', () => {
  it('chunks keep their lines', () => {
    const chunks = chunkText(Array.from({ length: 30 }, (_, index) => `line ${index + 1} ${'x'.repeat(40)}`).join('\n'), 200, 1);
    expect(chunks[0]).toMatchObject({ start_line: 1, end_line: 4 });
    expect(chunks[1]!.start_line).toBe(4);
    expect(chunks.at(-1)!.end_line).toBe(30);
    expect(chunks.every((chunk) => chunk.text.startsWith(`line ${chunk.start_line} `))).toBe(true);
  });

  it("puts the best passages into an llm's prompt with their sources, and says which in knowledge.retrieved", async () => {
    await using server = await startScriptedServer();
    server.enqueue({ text: '27 days (docs/holidays.md, lines 3-4).' });
    await using files = await project({ 'main.ww': `kb = knowledge_base text_file { path = "docs", top_k = 1 }\n${model(server)}`, ...docs });
    await using runtime = await started(await files.load());
    const id = await runtime.create();
    const events = runtime.events(id);
    const turn = await runtime.submit(id, 'How many days of paid leave do staff get?', { to: 'model' });
    const seen = await eventsUntil(events, 'turn.completed');
    expect((await turn.result).text).toBe('27 days (docs/holidays.md, lines 3-4).');
    const request = JSON.stringify(server.requests[0]!.body);
    expect(request).toContain('knowledge base `kb`');
    expect(request).toContain('[1] holidays.md, lines 1-4');
    expect(request).toContain('Staff get 27 days of paid leave a year.');
    // top_k = 1, and the ignored draft is not a document.
    expect(request).not.toContain('make bootstrap');
    expect(request).not.toContain('30 days');
    expect(seen.find((event) => event.event_type === 'knowledge.retrieved')?.payload).toEqual({
      knowledge_base: 'kb',
      query: 'How many days of paid leave do staff get?',
      sources: ['holidays.md, lines 1-4'],
    });
  });

  it('gives agents query, read, list and write, inside the folder only', async () => {
    await using server = await startScriptedServer();
    await using files = await project({
      'main.ww': `
        kb = knowledge_base text_file { path = "docs" }
        model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
        helper = agent llm { model = model, tools = [kb], max_steps = 10 }
      `,
      ...docs,
    });
    server.enqueue(
      { toolCalls: [{ name: 'query', arguments: { query: 'make test machine' } }] },
      { toolCalls: [{ name: 'list', arguments: {} }] },
      { toolCalls: [{ name: 'read', arguments: { path: 'setup.md', offset: 2, limit: 1 } }] },
      { toolCalls: [{ name: 'write', arguments: { path: 'notes/parking.md', content: 'Parking is behind the building, spaces 12 to 20.\n' } }] },
      { toolCalls: [{ name: 'query', arguments: { query: 'where is parking' } }] },
      { toolCalls: [{ name: 'read', arguments: { path: '../secrets.txt' } }] },
      { toolCalls: [{ name: 'write', arguments: { path: '../escape.txt', content: 'x' } }] },
      { text: 'done' },
    );
    await using runtime = await started(await files.load());
    const result = await runtime.ask(undefined, 'go', { to: 'helper' });
    expect(result.ok).toBe(true);
    const outputs = (server.requests.at(-1)!.body.input as any[]).filter((item) => item.type === 'function_call_output').map((item) => String(item.output));
    const [search, list, read, write, found, outside, escape] = outputs;
    expect(search).toMatch(/^\[1\] setup\.md, lines 1-4\n# Setup/);
    expect(JSON.parse(list!)).toEqual(['holidays.md', 'setup.md']);
    expect(read).toBe('     3\tInstall the tools with `make bootstrap`.\n[1 more lines: read again with offset 3]');
    expect(write).toBe('Updated file notes/parking.md');
    expect(found).toContain('[1] notes/parking.md, line 1');
    expect(outside).toContain('outside the workspace');
    expect(escape).toContain('outside the workspace');
    expect(await readFile(path.join(files.dir, 'docs/notes/parking.md'), 'utf8')).toContain('spaces 12 to 20');
  });

  it('reads PDFs page by page, and names the page of a passage', async () => {
    await using server = await startScriptedServer();
    await using files = await project({ 'main.ww': `kb = knowledge_base text_file { path = "docs", chunk_size = 100, top_k = 1 }\n${model(server)}` });
    await mkdir(path.join(files.dir, 'docs'), { recursive: true });
    await writeFile(path.join(files.dir, 'docs/handbook.pdf'), makePdf(['Welcome to the staff handbook. It explains how the office works and whom to ask.', 'The canteen on the ground floor serves lunch from noon until two, every working day.']));
    server.enqueue({ text: 'From noon.' });
    await using runtime = await started(await files.load());
    await runtime.ask(undefined, 'When does the canteen serve lunch?', { to: 'model' });
    const prompt = JSON.stringify(server.requests[0]!.body);
    expect(prompt).toContain('handbook.pdf, page 2, line 2');
    expect(prompt).toContain('The canteen on the ground floor serves lunch from noon until two');
    expect(prompt).not.toContain('Welcome to the staff handbook');
  });

  it('the classic form: one text file, created when missing, read and written whole, queried', async () => {
    await using server = await startScriptedServer();
    await using files = await project({
      'main.ww': `
        notes = knowledge_base text_file { path: "notes/memory.txt" }
        model = llm openai { model = "m", api_key = "sk-test", base_url = "${server.openaiBaseUrl}" }
        helper = agent llm { model = model, tools = [notes] }
      `,
    });
    server.enqueue(
      { toolCalls: [{ name: 'write', arguments: { content: 'The spare key is under the blue flowerpot.\n' } }] },
      { toolCalls: [{ name: 'read', arguments: {} }] },
      { toolCalls: [{ name: 'query', arguments: { query: 'spare key' } }] },
      { toolCalls: [{ name: 'read', arguments: { path: '../main.ww' } }] },
      { text: 'done' },
    );
    await using runtime = await started(await files.load());
    expect(await readFile(path.join(files.dir, 'notes/memory.txt'), 'utf8')).toBe('');
    expect((await runtime.ask(undefined, 'remember it', { to: 'helper' })).ok).toBe(true);
    const outputs = (server.requests.at(-1)!.body.input as any[]).filter((item) => item.type === 'function_call_output').map((item) => String(item.output));
    expect(outputs[0]).toBe('Updated file memory.txt');
    expect(outputs[1]).toBe('     1\tThe spare key is under the blue flowerpot.');
    expect(outputs[2]).toBe('[1] memory.txt, line 1\nThe spare key is under the blue flowerpot.');
    expect(outputs[3]).toContain('only memory.txt is in this knowledge base');
  });

  it('a path outside the project stops the start naming it', async () => {
    await using server = await startScriptedServer();
    await using files = await project({ 'main.ww': `kb = knowledge_base text_file { path = "../elsewhere" }\n${model(server)}` });
    await expect(started(await files.load())).rejects.toThrow(/points outside the project folder/);
  });
});
