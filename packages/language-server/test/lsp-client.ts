// A Language Server Protocol client for the tests: it starts the real server as a child process
// (from the TypeScript sources, so a test never runs a stale dist/) and speaks JSON-RPC to it over
// stdio, as an editor does.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import type { Diagnostic, InitializeResult, Position, PublishDiagnosticsParams, TextDocumentContentChangeEvent } from 'vscode-languageserver-protocol';

export const fixtures = path.join(import.meta.dirname, 'fixtures');
const bin = path.join(import.meta.dirname, '..', 'src', 'bin.ts');

export interface Client extends AsyncDisposable {
  readonly connection: MessageConnection;
  readonly initialized: InitializeResult;
  /** Every publishDiagnostics notification received, oldest first. */
  readonly published: PublishDiagnosticsParams[];
  request<T>(method: string, params: unknown): Promise<T>;
  open(file: string, text?: string): Promise<Document>;
  /** The first diagnostics published for `uri` at `version` (or later), waiting up to `timeout` ms. */
  diagnostics(uri: string, version: number, timeout?: number): Promise<Diagnostic[]>;
  readonly stderr: () => string;
}

export interface Document {
  readonly uri: string;
  text: string;
  version: number;
  /** Where `needle` (its `nth` occurrence) starts, plus `delta` characters. */
  at(needle: string, delta?: number, nth?: number): Position;
  /** Sends an incremental change that replaces `needle` (its first occurrence) with `replacement`. */
  replace(needle: string, replacement: string): Promise<void>;
  change(changes: TextDocumentContentChangeEvent[], text: string): Promise<void>;
}

export async function startClient(options: { env?: NodeJS.ProcessEnv; command?: readonly string[] } = {}): Promise<Client> {
  const [command, ...args] = options.command ?? [process.execPath, '--conditions=@woodwork/source', '--import', 'tsx', bin, '--stdio'];
  const child: ChildProcess = spawn(command as string, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? withoutKeys(process.env) });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  const published: PublishDiagnosticsParams[] = [];
  // Where each document's latest open or change happened in `published`: earlier answers are stale.
  const marks = new Map<string, number>();
  connection.onNotification('textDocument/publishDiagnostics', (params: PublishDiagnosticsParams) => {
    published.push(params);
  });
  connection.listen();

  const initialized = await connection.sendRequest<InitializeResult>('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(fixtures).href,
    capabilities: { textDocument: { rename: { prepareSupport: true }, documentSymbol: { hierarchicalDocumentSymbolSupport: true } } },
  });
  await connection.sendNotification('initialized', {});

  const client: Client = {
    connection,
    initialized,
    published,
    stderr: () => stderr,
    request: (method, params) => connection.sendRequest(method, params),
    async open(file, text) {
      const uri = file.startsWith('untitled:') ? file : pathToFileURL(file).href;
      if (marks.has(uri)) await connection.sendNotification('textDocument/didClose', { textDocument: { uri } });
      marks.set(uri, published.length);
      const document: Document = {
        uri,
        text: text ?? (await readFile(file, 'utf8')),
        version: 1,
        at(needle, delta = 0, nth = 0) {
          let index = -1;
          for (let seen = 0; seen <= nth; seen++) {
            index = document.text.indexOf(needle, index + 1);
            if (index === -1) throw new Error(`${needle} (${nth}) is not in ${file}`);
          }
          return positionAt(document.text, index + delta);
        },
        async replace(needle, replacement) {
          const start = document.text.indexOf(needle);
          if (start === -1) throw new Error(`${needle} is not in ${file}`);
          const range = { start: positionAt(document.text, start), end: positionAt(document.text, start + needle.length) };
          await document.change([{ range, text: replacement }], document.text.slice(0, start) + replacement + document.text.slice(start + needle.length));
        },
        async change(changes, text) {
          document.version += 1;
          document.text = text;
          marks.set(uri, published.length);
          await connection.sendNotification('textDocument/didChange', { textDocument: { uri, version: document.version }, contentChanges: changes });
        },
      };
      await connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'woodwork', version: 1, text: document.text } });
      return document;
    },
    async diagnostics(uri, version, timeout = 10_000) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const found = published.slice(marks.get(uri) ?? 0).find((params) => params.uri === uri && (params.version ?? 0) >= version);
        if (found) return found.diagnostics;
        if (Date.now() > deadline) throw new Error(`no diagnostics for ${uri} version ${version} within ${timeout} ms; stderr: ${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    async [Symbol.asyncDispose]() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        await connection.sendRequest('shutdown');
        await connection.sendNotification('exit');
      } catch {
        child.kill();
      }
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (child.exitCode === null) child.kill();
      connection.dispose();
    },
  };
  return client;
}

export function positionAt(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}

/** The model keys of the developer's shell would change what a file's diagnostics are. */
function withoutKeys(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { OPENAI_API_KEY: _openai, ANTHROPIC_API_KEY: _anthropic, ...rest } = env;
  return rest;
}
