// The .vsix as VS Code would receive it: packaged here by the real `vsce` (the app's `package`
// script), opened as the zip it is, its manifest and files checked, and then its two bundles run
// where it was unpacked, a temporary directory outside the repository with no node_modules above it
// to stand in for what they failed to bundle: the server answers LSP over stdio (diagnostics with
// the parser's codes, formatting as the parser formats), the client loads with only `vscode` provided.
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { format } from '@woodwork/parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const app = path.resolve(import.meta.dirname, '..');
const vsix = path.join(app, 'dist', 'woodwork-vscode.vsix');
const require = createRequire(import.meta.url);

let entries: string[];
let unpacked: string;

beforeAll(() => {
  // Needs `build` first (nx runs it before `test`): vsce packages what is in dist/.
  execFileSync('npm', ['run', 'package', '--silent'], { cwd: app, stdio: 'pipe' });
  // A .vsix is a zip; Python's zipfile reads it wherever python3 is (unzip may not be installed).
  entries = execFileSync('python3', ['-c', 'import sys, zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))', vsix], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  unpacked = mkdtempSync(path.join(os.tmpdir(), 'woodwork-vsix-'));
  execFileSync('python3', ['-m', 'zipfile', '-e', vsix, unpacked]);
  for (let directory = unpacked; directory !== path.dirname(directory); directory = path.dirname(directory)) {
    if (existsSync(path.join(directory, 'node_modules'))) throw new Error(`${directory}/node_modules would let unbundled imports resolve; set TMPDIR elsewhere`);
  }
});

afterAll(() => {
  if (unpacked) rmSync(unpacked, { recursive: true, force: true });
});

const extensionFile = (name: string) => path.join(unpacked, 'extension', name);
const manifest = () => JSON.parse(readFileSync(extensionFile('package.json'), 'utf8'));

describe('the .vsix', () => {
  it('holds the manifest, the bundles, the grammar and the language configuration, and nothing else', () => {
    expect(entries.sort()).toEqual(
      [
        '[Content_Types].xml',
        'extension.vsixmanifest',
        'extension/changelog.md',
        'extension/dist/extension.js',
        'extension/dist/server.js',
        'extension/dist/syntaxes/ww.tmLanguage.json',
        'extension/language-configuration.json',
        'extension/package.json',
        'extension/readme.md',
      ].sort(),
    );
  });

  it('contributes the ww language for *.ww with its configuration and grammar, both inside the package', () => {
    const { main, contributes } = manifest();
    expect(entries).toContain(`extension/${path.posix.normalize(main)}`);
    const [language] = contributes.languages;
    expect(language).toMatchObject({ id: 'ww', extensions: ['.ww'] });
    expect(entries).toContain(`extension/${path.posix.normalize(language.configuration)}`);

    const [grammar] = contributes.grammars;
    expect(grammar.language).toBe('ww');
    expect(entries).toContain(`extension/${path.posix.normalize(grammar.path)}`);
    const grammarText = readFileSync(extensionFile(grammar.path), 'utf8');
    expect(JSON.parse(grammarText).scopeName).toBe(grammar.scopeName);
    // A copy of the parser's grammar, not a fork of it.
    expect(grammarText).toBe(readFileSync(require.resolve('@woodwork/parser/syntaxes/ww.tmLanguage.json'), 'utf8'));
  });

  it('declares the settings the client reads, and no server path from an untrusted workspace', () => {
    const { contributes, capabilities } = manifest();
    const { properties } = contributes.configuration;
    expect(properties['woodwork.server.path']).toMatchObject({ type: 'string', default: '' });
    expect(capabilities.untrustedWorkspaces).toMatchObject({ supported: 'limited', restrictedConfigurations: ['woodwork.server.path'] });
    expect(properties['woodwork.trace.server']).toMatchObject({ enum: ['off', 'messages', 'verbose'], default: 'off' });
  });

  it('configures # comments, brackets and auto-closing quotes including triple quotes', () => {
    const configuration = JSON.parse(readFileSync(extensionFile('language-configuration.json'), 'utf8'));
    expect(configuration.comments.lineComment).toBe('#');
    expect(configuration.brackets).toEqual([
      ['{', '}'],
      ['[', ']'],
    ]);
    const pairs = configuration.autoClosingPairs.map((pair: { open: string; close: string }) => `${pair.open}${pair.close}`);
    expect(pairs).toEqual(expect.arrayContaining(['{}', '[]', '""', "''", '""""""']));
  });
});

describe('the bundled client', () => {
  it('loads outside the repository with only vscode provided, and exports activate and deactivate', () => {
    const outside: string[] = [];
    // Any property of the fake `vscode` is a class: enough for the module-level `extends` and
    // references in vscode-languageclient, and nothing runs until activate().
    const vscode: object = new Proxy({}, { get: () => class {} });
    const Module = require('node:module') as { _load: (request: string, ...rest: unknown[]) => unknown };
    const load = Module._load;
    Module._load = (request, ...rest) => {
      if (request === 'vscode') return vscode;
      if (!builtinModules.includes(request.replace(/^node:/, '')) && !request.startsWith('.') && !path.isAbsolute(request)) outside.push(request);
      return load(request, ...rest);
    };
    try {
      const extension = require(extensionFile('dist/extension.js'));
      expect(typeof extension.activate).toBe('function');
      expect(typeof extension.deactivate).toBe('function');
    } finally {
      Module._load = load;
    }
    expect(outside).toEqual([]);
  });
});

describe('the bundled server', () => {
  const serverFile = () => extensionFile('dist/server.js');

  it('answers initialize, shutdown and exit over stdio', async () => {
    await using server = startServer(serverFile());
    const initialized = await server.request('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    expect(initialized.capabilities.textDocumentSync).toBeDefined();
    server.notify('initialized', {});
    await server.request('shutdown', null);
    server.notify('exit', null);
    expect(await server.exit()).toBe(0);
  });

  it('publishes diagnostics with WW codes for a broken file', async () => {
    await using server = startServer(serverFile());
    await server.request('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    server.notify('initialized', {});
    const uri = pathToFileURL(path.join(path.dirname(serverFile()), 'main.ww')).href;
    const diagnostics = server.next('textDocument/publishDiagnostics', (params) => params.uri === uri && params.diagnostics.length > 0);
    server.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'ww', version: 1, text: 'assistant = llm openai {\n  model: "gpt-4o"\n' } });
    const published = await diagnostics;
    expect(published.diagnostics.map((diagnostic: { code: unknown }) => diagnostic.code)).toContainEqual(expect.stringMatching(/^WW\d{3}$/));
  });

  it('formats a document as woodwork fmt does', async () => {
    await using server = startServer(serverFile());
    await server.request('initialize', { processId: process.pid, rootUri: null, capabilities: {} });
    server.notify('initialized', {});
    const uri = pathToFileURL(path.join(path.dirname(serverFile()), 'main.ww')).href;
    // An example, its spacing and indentation scrambled.
    const text = readFileSync(path.join(app, '../../examples/echo/main.ww'), 'utf8').replaceAll(' = ', '   =  ').replaceAll('\n    ', '\n  ');
    const expected = format(text).text;
    expect(expected).not.toBe(text);
    server.notify('textDocument/didOpen', { textDocument: { uri, languageId: 'ww', version: 1, text } });
    const edits = await server.request('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 4, insertSpaces: true } });
    expect(applyEdits(text, edits)).toBe(expected);
  });
});

interface TextEdit {
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  newText: string;
}

/** Applies LSP text edits (non-overlapping, positions in UTF-16 code units as JavaScript strings count them). */
function applyEdits(text: string, edits: TextEdit[]): string {
  const lineStarts = [0, ...[...text.matchAll(/\n/g)].map((match) => match.index + 1)];
  const offset = ({ line, character }: TextEdit['range']['start']) => (lineStarts[line] ?? text.length) + character;
  const sorted = [...edits].sort((a, b) => offset(b.range.start) - offset(a.range.start));
  return sorted.reduce((result, edit) => result.slice(0, offset(edit.range.start)) + edit.newText + result.slice(offset(edit.range.end)), text);
}

// JSON-RPC with LSP's Content-Length framing, just enough for the test.
function startServer(file: string) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [file, '--stdio'], { cwd: path.dirname(file), env: { PATH: process.env.PATH ?? '' } });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  type Message = any; // whatever JSON the server sent
  const pending = new Map<number, (message: Message) => void>();
  const waiters: { method: string; accept: (params: Message) => boolean; resolve: (params: Message) => void }[] = [];
  let buffer = Buffer.alloc(0);
  let nextId = 1;

  child.stdout.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const headerEnd = buffer.indexOf('\r\n\r\n');
      if (headerEnd < 0) return;
      const length = Number(/Content-Length: (\d+)/i.exec(buffer.subarray(0, headerEnd).toString('ascii'))?.[1]);
      if (buffer.length < headerEnd + 4 + length) return;
      const message: Message = JSON.parse(buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8'));
      buffer = buffer.subarray(headerEnd + 4 + length);
      if (message.id !== undefined && message.method === undefined) pending.get(message.id)?.(message);
      else if (message.id !== undefined) send({ jsonrpc: '2.0', id: message.id, result: null }); // a request from the server
      else {
        const index = waiters.findIndex((waiter) => waiter.method === message.method && waiter.accept(message.params));
        if (index >= 0) waiters.splice(index, 1)[0]!.resolve(message.params);
      }
    }
  });

  function send(message: object): void {
    const body = Buffer.from(JSON.stringify(message), 'utf8');
    child.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
    child.stdin.write(body);
  }

  function withDeadline<T>(what: string, promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} from the server within 10 s; its stderr:\n${stderr}`)), 10_000);
    });
    return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
  }

  return {
    exit: () => withDeadline('exit', exited),
    request(method: string, params: unknown): Promise<Message> {
      const id = nextId++;
      const answer = new Promise<Message>((resolve) => pending.set(id, resolve));
      send({ jsonrpc: '2.0', id, method, params });
      return withDeadline(`answer to ${method}`, answer).then((message) => {
        if (message.error) throw new Error(`${method}: ${message.error.message}`);
        return message.result;
      });
    },
    notify(method: string, params: unknown): void {
      send({ jsonrpc: '2.0', method, params });
    },
    next(method: string, accept: (params: Message) => boolean): Promise<Message> {
      return withDeadline(method, new Promise((resolve) => waiters.push({ method, accept, resolve })));
    },
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null) child.kill();
      await exited;
    },
  };
}
