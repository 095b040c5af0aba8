// The server as an editor sees it: a real process on stdio, asked what an editor asks, answers
// checked against the fixture files (and against the parser, where the answer is the parser's).
// After a deliberate change to an answer, rewrite the expected files and review their diff:
//   UPDATE_GOLDEN=1 npx vitest run test/server.test.ts
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { catalogue, findModuleExports, loadTopology } from '@woodwork/parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompletionItem, Diagnostic, DocumentSymbol, Hover, Location, Range, TextEdit, WorkspaceEdit } from 'vscode-languageserver-protocol';
import { fixtures, positionAt, startClient, type Client } from './lsp-client.js';

const project = path.join(fixtures, 'project');
const mainFile = path.join(project, 'main.ww');
const brokenFile = path.join(project, 'broken.ww');

let client: Client;
beforeAll(async () => {
  client = await startClient();
});
afterAll(async () => {
  await client?.[Symbol.asyncDispose]();
});

const update = process.env.UPDATE_GOLDEN === '1';

/** The answer must equal the JSON in `fixtures/<name>` (rewritten instead with UPDATE_GOLDEN=1). */
async function expectGolden(actual: unknown, name: string): Promise<void> {
  const file = path.join(fixtures, name);
  if (update) await writeFile(file, `${JSON.stringify(actual, null, 2)}\n`);
  expect(actual).toEqual(JSON.parse(await readFile(file, 'utf8')));
}

/** Diagnostics without machine-specific paths, in the shape of the expected fixture. */
function comparable(diagnostics: readonly Diagnostic[]) {
  return diagnostics.map(({ range, severity, code, message }) => ({
    code,
    severity: severity === 1 ? 'error' : 'warning',
    range: `${range.start.line + 1}:${range.start.character + 1}-${range.end.line + 1}:${range.end.character + 1}`,
    message: (typeof message === 'string' ? message : message.value).replaceAll(project, '<project>'),
  }));
}

function labels(items: CompletionItem[] | { items: CompletionItem[] }): string[] {
  return (Array.isArray(items) ? items : items.items).map((item) => item.label);
}

describe('initialize', () => {
  it('announces incremental sync and every feature', () => {
    expect(client.initialized.capabilities).toMatchObject({
      textDocumentSync: { openClose: true, change: 2 },
      hoverProvider: true,
      definitionProvider: true,
      referencesProvider: true,
      renameProvider: { prepareProvider: true },
      documentSymbolProvider: true,
      documentFormattingProvider: true,
    });
    expect(client.initialized.serverInfo?.name).toBe('woodwork-language-server');
  });
});

describe('diagnostics', () => {
  it('publishes on open what `woodwork validate` reports for the file, hints included', async () => {
    const document = await client.open(brokenFile);
    const diagnostics = await client.diagnostics(document.uri, 1);
    await expectGolden(comparable(diagnostics), 'broken.diagnostics.json');

    // The very same problems the CLI's validate finds (it calls loadTopology with checkExports).
    const validate = await loadTopology(brokenFile, { mode: 'validate', env: {}, checkExports: true });
    expect(diagnostics.map((d) => `${d.code} ${d.range.start.line + 1}:${d.range.start.character + 1}`)).toEqual(
      validate.diagnostics.map((d) => `${d.code} ${d.line}:${d.column}`),
    );
    // The duplicate points at the first declaration.
    const duplicate = diagnostics.find((d) => d.code === 'WW205');
    expect(duplicate?.relatedInformation?.[0]).toMatchObject({ location: { uri: document.uri, range: { start: { line: 3, character: 0 } } } });
  });

  it('follows incremental edits: a fix clears its diagnostic, a new mistake adds one', async () => {
    const document = await client.open(mainFile);
    // `$OPENAI_API_KEY` unset, and `helper`'s provider variable unset with no `api_key`.
    expect(comparable(await client.diagnostics(document.uri, 1)).map((d) => d.code)).toEqual(['WW301', 'WW301']);

    await document.replace('memory: mem', 'memory: mme');
    const typo = await client.diagnostics(document.uri, 2);
    expect(comparable(typo)).toContainEqual({
      code: 'WW210',
      severity: 'error',
      range: '8:13-8:16',
      message: 'unknown reference `mme`: no component has this name\ndid you mean `mem`?',
    });

    await document.replace('memory: mme', 'memory: mem');
    expect((await client.diagnostics(document.uri, 3)).map((d) => d.code)).toEqual(['WW301', 'WW301']);

    // An unterminated block, typed in the short form, is reported where it opened.
    await document.replace('out = output console {}', 'out = output console {');
    const unclosed = await client.diagnostics(document.uri, 4);
    expect(unclosed.map((d) => d.code)).toContain('WW103');
    await document.replace('out = output console {', 'out = output console {}');
    await client.diagnostics(document.uri, 5);
  });

  it('answers a burst of changes with the newest text, never a stale version after it', async () => {
    const document = await client.open(mainFile);
    await client.diagnostics(document.uri, 1);
    // Typed one character after another without waiting: `mem` becomes `mexyz`, an unknown name.
    for (const [before, after] of [['mem', 'mex'], ['mex', 'mexy'], ['mexy', 'mexyz']]) await document.replace(`memory: ${before}\n`, `memory: ${after}\n`);
    const last = await client.diagnostics(document.uri, document.version);
    expect(last.find((d) => d.code === 'WW210')?.message).toContain('unknown reference `mexyz`');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = client.published.filter((params) => params.uri === document.uri).at(-1);
    expect(after?.version).toBe(document.version);
  });

  it('remembers the modules a file names between edits, and looks again when the editor reports a change on disk', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ww-ls-watched-'));
    try {
      const file = path.join(folder, 'main.ww');
      const text = 'helper = claude {\n    model = "claude-sonnet-4-5"\n    pipes = ["late.ts::trim"]\n}\n';
      await writeFile(file, text);
      const document = await client.open(file, text);
      const codes = (diagnostics: readonly Diagnostic[]) => diagnostics.map((d) => d.code);
      expect(codes(await client.diagnostics(document.uri, 1))).toContain('WW303');

      // Published after the last of `published` so far: the check a watched-file change starts.
      const next = async (after: number) => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const found = client.published.slice(after).find((params) => params.uri === document.uri);
          if (found) return found.diagnostics;
          if (Date.now() > deadline) throw new Error(`no new diagnostics for ${document.uri}`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      };
      const changed = async (name: string, content: string, type: 1 | 2) => {
        await writeFile(path.join(folder, name), content);
        const after = client.published.length;
        await client.connection.sendNotification('workspace/didChangeWatchedFiles', { changes: [{ uri: pathToFileURL(path.join(folder, name)).href, type }] });
        return next(after);
      };
      // The editor and `woodwork validate` agree after each change.
      const validate = async () => (await loadTopology(file, { mode: 'validate', env: {}, checkExports: true })).diagnostics.map((d) => `${d.code} ${d.line}:${d.column}`);
      const agree = (diagnostics: readonly Diagnostic[]) => diagnostics.map((d) => `${d.code} ${d.range.start.line + 1}:${d.range.start.character + 1}`);

      const created = await changed('late.ts', 'export function trim(message) { return message; }\n', 1);
      expect(codes(created)).not.toContain('WW303');
      expect(agree(created)).toEqual(await validate());

      const renamed = await changed('late.ts', 'export function trimmed(message) { return message; }\n', 2);
      expect(codes(renamed)).toContain('WW306');
      expect(agree(renamed)).toEqual(await validate());

      // Edits in between keep the answers.
      await document.replace('claude-sonnet-4-5', 'claude-sonnet-4-6');
      expect(agree(await client.diagnostics(document.uri, 2))).toEqual(await validate());
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('publishes what `woodwork validate` reports after every edit of a series, however it breaks the file', async () => {
    // The server parses each new text incrementally; the answer must be the whole-file check's.
    // Seeded edits: typing, deleting, brackets, quotes, comments and headers, in both dialects.
    const TOKENS = ['x', '1', ' ', '\n', '{', '}', '[', ']', '"', '"""', '#', ': ', ' = ', ',', 'mem', 'b = llm openai {', '}\n'];
    let state = 12345;
    const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296);
    for (const file of [mainFile, brokenFile]) {
      const document = await client.open(file);
      await client.diagnostics(document.uri, 1);
      for (let round = 0; round < 25; round++) {
        const start = Math.floor(random() * document.text.length);
        const end = random() < 0.4 ? Math.min(document.text.length, start + 1 + Math.floor(random() * 8)) : start;
        const insert = random() < 0.8 ? (TOKENS[Math.floor(random() * TOKENS.length)] as string) : '';
        const range = { start: positionAt(document.text, start), end: positionAt(document.text, end) };
        await document.change([{ range, text: insert }], document.text.slice(0, start) + insert + document.text.slice(end));
        const published = await client.diagnostics(document.uri, document.version);
        const validate = await loadTopology(file, { mode: 'validate', env: {}, checkExports: true, source: document.text });
        expect(published.map((d) => `${d.code} ${d.range.start.line + 1}:${d.range.start.character + 1}-${d.range.end.line + 1}:${d.range.end.character + 1} ${d.message}`)).toEqual(
          validate.diagnostics
            .filter((d) => d.file === file)
            .map((d) => `${d.code} ${d.line}:${d.column}-${d.endLine}:${d.endColumn} ${d.message}${d.hint ? `\n${d.hint}` : ''}`),
        );
      }
    }
  });

  it('checks an untitled buffer by the parser alone', async () => {
    const document = await client.open('untitled:Untitled-1', 'a = llm opnai {}\n');
    const uri = document.uri;
    const diagnostics = await client.diagnostics(uri, 1);
    expect(comparable(diagnostics)).toEqual([
      { code: 'WW202', severity: 'error', range: '1:9-1:14', message: 'unknown `llm` type `opnai`\ndid you mean `openai`?' },
    ]);
  });
});

describe('completion', () => {
  it('offers kinds and one-word types after `name =`, and a kind\'s types after it', async () => {
    const document = await client.open(mainFile);
    const text = `${document.text}\nnew_one = `;
    await document.change([{ range: { start: positionAt(document.text, document.text.length), end: positionAt(document.text, document.text.length) }, text: '\nnew_one = ' }], text);
    const end = positionAt(text, text.length);
    const words = labels(await client.request('textDocument/completion', { textDocument: { uri: document.uri }, position: end }));
    expect(words).toEqual(expect.arrayContaining(['llm', 'agent', 'memory', 'claude', 'openai', 'command_line', 'input api', 'output api']));
    expect(words).not.toContain('neo4j');

    await document.change([{ range: { start: end, end }, text: 'llm ' }], `${text}llm `);
    const types = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: document.uri }, position: positionAt(document.text, document.text.length) });
    expect(labels(types).sort()).toEqual(Object.entries(catalogue.kinds.llm!.types).filter(([, spec]) => spec.status !== 'unsupported').map(([type]) => type).sort());
    const openai = types.find((item) => item.label === 'openai');
    expect(openai?.documentation).toMatchObject({ kind: 'markdown', value: expect.stringContaining(catalogue.kinds.llm!.types.openai!.description) });
  });

  it('offers the keys a block still lacks, with the catalogue\'s description and default, in the block\'s dialect', async () => {
    const document = await client.open(mainFile);
    // A new line in the classic block of `language_model`.
    await document.replace('    memory: mem\n    api_key', '    memory: mem\n    te\n    api_key');
    const items = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: document.uri }, position: document.at('    te\n', 6) });
    const words = labels(items);
    expect(words).toContain('temperature');
    expect(words).not.toContain('model'); // already there
    expect(words).not.toContain('memory');
    const temperature = items.find((item) => item.label === 'temperature')!;
    const spec = catalogue.kinds.llm!.types.openai!.keys.temperature!;
    expect(temperature.insertText).toBe('temperature: ');
    expect(temperature.documentation).toMatchObject({ value: expect.stringContaining(spec.description) });

    // The short-form block takes `=`; nested maps offer their own keys with defaults.
    await document.replace('scaling = { min_instances = 1 }', 'scaling = { min_instances = 1, sc }');
    const nested = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: document.uri }, position: document.at(', sc }', 4) });
    const metric = nested.find((item) => item.label === 'scale_metric');
    expect(labels(nested).sort()).toEqual(['max_instances', 'scale_metric', 'scale_threshold']);
    expect(metric).toMatchObject({ insertText: 'scale_metric = ', detail: expect.stringContaining('default "queue_depth"') });

    // A hook written as a map, inside the list of hooks.
    await document.replace('{ event = "agent.*", function', '{ ev, function');
    const hook = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: document.uri }, position: document.at('{ ev, function', 4) });
    expect(labels(hook).sort()).toEqual(['event', 'function_name', 'script_path']);
  });

  it('offers names of components of the kinds a key refers to, and enum values', async () => {
    const document = await client.open(mainFile);
    await document.replace('    memory = mem\n', '    memory = \n');
    const memory = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: document.uri }, position: document.at('memory = \n', 9) });
    expect(labels(memory)).toEqual(['mem']);
    expect(memory[0]).toMatchObject({ detail: 'memory short_term', kind: 18 });

    const to = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: document.uri }, position: document.at('to: language_model', 4) });
    // Only components that receive messages; never the input itself.
    expect(labels(to).sort()).toEqual(['helper', 'language_model', 'out']);

    await document.replace('mode = "container"', 'mode = ');
    const modes = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: document.uri }, position: document.at('mode = ', 7) });
    expect(labels(modes)).toEqual(['"auto"', '"local"', '"container"']);
  });
});

describe('completion of pipe and hook functions', () => {
  it('offers the functions a module exports after `module.ts::`', async () => {
    const document = await client.open(mainFile);
    await document.replace('"pipes.ts::trim"', '"pipes.ts::"');
    const pipes = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: document.uri }, position: document.at('"pipes.ts::"', 11) });
    expect(pipes.map((item) => `${item.label} ${item.detail}`)).toEqual(['trim exported by pipes.ts']);

    await document.replace('function = "hooks.ts::log"', 'function = "hooks.ts::l"');
    const hooks = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: document.uri }, position: document.at('hooks.ts::l"', 11) });
    expect(labels(hooks)).toEqual(['log']);
  });
});

describe('hover', () => {
  it('shows the catalogue\'s documentation for a type, a kind, a key and a component name', async () => {
    const document = await client.open(mainFile);
    const ask = (needle: string, delta = 0) =>
      client.request<Hover | null>('textDocument/hover', { textDocument: { uri: document.uri }, position: document.at(needle, delta) });

    const type = await ask('openai {');
    expect(type?.contents).toMatchObject({ kind: 'markdown', value: expect.stringContaining('**`llm openai`**') });
    expect((type?.contents as { value: string }).value).toContain(catalogue.kinds.llm!.types.openai!.description);
    expect(type?.range).toEqual({ start: document.at('openai {'), end: document.at('openai {', 6) });

    const oneWord = await ask('claude {');
    expect((oneWord?.contents as { value: string }).value).toContain('**`llm claude`**');

    const kind = await ask('memory short_term', 2);
    expect((kind?.contents as { value: string }).value).toContain(catalogue.kinds.memory!.description);

    const key = await ask('max_messages');
    const spec = catalogue.kinds.memory!.types.short_term!.keys.max_messages!;
    expect((key?.contents as { value: string }).value).toContain(spec.description);

    const nested = await ask('min_instances');
    expect((nested?.contents as { value: string }).value).toMatch(/expects a whole number.*default `1`/);

    const reference = await ask('memory: mem', 9);
    expect((reference?.contents as { value: string }).value).toMatch(/^`mem = memory short_term`, declared at line 2/);

    expect(await ask('# A support')).toBeNull();
  });
});

describe('navigation', () => {
  it('goes from a reference to its declaration', async () => {
    const document = await client.open(mainFile);
    const location = await client.request<Location>('textDocument/definition', { textDocument: { uri: document.uri }, position: document.at('to: language_model', 6) });
    expect(location).toEqual({ uri: document.uri, range: { start: document.at('language_model = '), end: document.at('language_model = ', 14) } });
  });

  it('goes from a pipe or hook target to the exported function in its module', async () => {
    const document = await client.open(mainFile);
    for (const [needle, module, name] of [['"pipes.ts::trim"', 'pipes.ts', 'trim'], ['function = "hooks.ts::log"', 'hooks.ts', 'log']] as const) {
      const location = await client.request<Location>('textDocument/definition', { textDocument: { uri: document.uri }, position: document.at(needle, needle.length - 3) });
      const moduleText = await readFile(path.join(project, module), 'utf8');
      const start = findModuleExports(moduleText, 'ts').names.get(name)!.start;
      expect(location).toEqual({
        uri: pathToFileURL(path.join(project, module)).href,
        range: { start: positionAt(moduleText, start), end: positionAt(moduleText, start + name.length) },
      });
      expect(moduleText.split('\n')[location.range.start.line]).toContain(`function ${name}(`);
    }
  });

  it('goes to the function of a hook in the classic spelling (script_path, function_name)', async () => {
    // Not saved: the buffer is what counts, in the project's folder.
    const text = 'a = llm claude {\n    hooks: [{ event: "llm.*", script_path: "hooks.ts", function_name: "log" }]\n    api_key: "sk-test"\n}\n';
    const document = await client.open(path.join(project, 'classic.ww'), text);
    const location = await client.request<Location>('textDocument/definition', { textDocument: { uri: document.uri }, position: document.at('"log"', 2) });
    expect(location.uri).toBe(pathToFileURL(path.join(project, 'hooks.ts')).href);
    expect(location.range.start).toEqual({ line: 3, character: 22 });
    expect(await client.diagnostics(document.uri, 1)).toEqual([]);
  });

  it('finds every reference, with or without the declaration', async () => {
    const document = await client.open(mainFile);
    const ask = (includeDeclaration: boolean) =>
      client.request<Location[]>('textDocument/references', { textDocument: { uri: document.uri }, position: document.at('mem = '), context: { includeDeclaration } });
    const starts = (locations: Location[]) => locations.map((location) => `${location.range.start.line + 1}:${location.range.start.character + 1}`);
    expect(starts(await ask(true))).toEqual(['2:1', '8:13', '14:14']);
    expect(starts(await ask(false))).toEqual(['8:13', '14:14']);
  });

  it('renames a component and every reference to it, and refuses a name that cannot be one', async () => {
    const document = await client.open(mainFile);
    const prepared = await client.request<{ range: Range; placeholder: string }>('textDocument/prepareRename', { textDocument: { uri: document.uri }, position: document.at('memory = mem', 10) });
    expect(prepared).toEqual({ range: { start: document.at('memory = mem', 9), end: document.at('memory = mem', 12) }, placeholder: 'mem' });
    expect(await client.request('textDocument/prepareRename', { textDocument: { uri: document.uri }, position: document.at('"gpt-4o-mini"', 3) })).toBeNull();

    const edit = await client.request<WorkspaceEdit>('textDocument/rename', { textDocument: { uri: document.uri }, position: document.at('memory = mem', 10), newName: 'history' });
    const renamed = applyEdits(document.text, edit.changes![document.uri]!);
    expect(renamed).toBe(await readFile(path.join(fixtures, 'main.renamed.ww'), 'utf8'));

    await expect(client.request('textDocument/rename', { textDocument: { uri: document.uri }, position: document.at('mem = '), newName: 'helper' })).rejects.toThrow(/already declared/);
    await expect(client.request('textDocument/rename', { textDocument: { uri: document.uri }, position: document.at('mem = '), newName: '9lives' })).rejects.toThrow(/not a component name/);
    await expect(client.request('textDocument/rename', { textDocument: { uri: document.uri }, position: document.at('mem = '), newName: 'True' })).rejects.toThrow(/reserved/);
  });
});

describe('document symbols', () => {
  it('outlines declarations with their resolved kind and type, and their keys', async () => {
    const document = await client.open(mainFile);
    const symbols = await client.request<DocumentSymbol[]>('textDocument/documentSymbol', { textDocument: { uri: document.uri } });
    const outline = (list: DocumentSymbol[]): unknown[] =>
      list.map((symbol) => ({
        name: symbol.name,
        detail: symbol.detail,
        line: symbol.selectionRange.start.line + 1,
        ...(symbol.children && symbol.children.length > 0 ? { children: outline(symbol.children) } : {}),
      }));
    await expectGolden(outline(symbols), 'main.symbols.json');
  });
});

describe('formatting', () => {
  it('formats with the parser\'s format(): the canonical layout, comments kept', async () => {
    const document = await client.open(path.join(fixtures, 'messy.ww'));
    const edits = await client.request<TextEdit[]>('textDocument/formatting', { textDocument: { uri: document.uri }, options: { tabSize: 4, insertSpaces: true } });
    expect(applyEdits(document.text, edits)).toBe(await readFile(path.join(fixtures, 'messy.formatted.ww'), 'utf8'));
  });

  it('leaves a formatted file and a file with syntax errors alone', async () => {
    const formatted = await client.open(path.join(fixtures, 'messy.formatted.ww'));
    expect(await client.request('textDocument/formatting', { textDocument: { uri: formatted.uri }, options: { tabSize: 4, insertSpaces: true } })).toEqual([]);
    const broken = await client.open(path.join(fixtures, 'unclosed.ww'), 'a = claude {\n  model = "x"\n');
    expect(await client.request('textDocument/formatting', { textDocument: { uri: broken.uri }, options: { tabSize: 4, insertSpaces: true } })).toEqual([]);
  });
});

function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const offsetOf = (position: { line: number; character: number }) => {
    const lines = text.split('\n');
    return lines.slice(0, position.line).reduce((sum, line) => sum + line.length + 1, 0) + position.character;
  };
  return [...edits]
    .sort((a, b) => offsetOf(b.range.start) - offsetOf(a.range.start))
    .reduce((result, edit) => result.slice(0, offsetOf(edit.range.start)) + edit.newText + result.slice(offsetOf(edit.range.end)), text);
}
