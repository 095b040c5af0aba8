/**
 * The server: protocol wiring only. Every answer comes from a feature module that asks the parser;
 * this file keeps the open documents (synced incrementally), one `DocumentModel` per version, and
 * publishes diagnostics after every change without a debounce (checking is fast enough; see the
 * README's benchmark).
 */
import { createIncrementalParser, format, type IncrementalParser } from '@woodwork/parser';
import {
  LSPErrorCodes,
  ResponseError,
  TextDocumentSyncKind,
  TextDocuments,
  createConnection,
  type Connection,
  type DocumentSymbol,
  type InitializeResult,
  type Location,
  type Range,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { URI } from 'vscode-uri';
import { complete, completeFunctionName } from './completion.js';
import { findDiagnostics } from './diagnostics.js';
import { DocumentModel } from './document-model.js';
import { RememberedFiles } from './files.js';
import { hover } from './hover.js';
import { checkNewName, definitionOf, nameAt, pipeSpecAt, pipeTargetOf, referencesOf } from './navigation.js';
import { outline, type OutlineSymbol } from './symbols.js';
import { VERSION } from './version.js';

/**
 * Starts the server on `connection` and returns it; it then runs until the client shuts it down.
 * Default: stdin and stdout of this process, the transport every editor supports.
 */
export function startServer(connection: Connection = createConnection(process.stdin, process.stdout)): Connection {
  const documents = new TextDocuments(TextDocument);
  const models = new Map<string, { readonly version: number; readonly model: DocumentModel }>();
  // The modules and `.env` the open files name, remembered between checks (see files.ts).
  const files = new RememberedFiles();
  // One per open document: each check reads again only the declarations the edits touched.
  const parsers = new Map<string, IncrementalParser>();
  const parserOf = (uri: string): IncrementalParser => {
    let parser = parsers.get(uri);
    if (!parser) parsers.set(uri, (parser = createIncrementalParser({ file: fileOf(uri) ?? uri })));
    return parser;
  };

  const fileOf = (uri: string): string | undefined => {
    const parsed = URI.parse(uri);
    return parsed.scheme === 'file' ? parsed.fsPath : undefined;
  };

  const modelOf = (uri: string): { document: TextDocument; model: DocumentModel } | undefined => {
    const document = documents.get(uri);
    if (!document) return undefined;
    const cached = models.get(uri);
    if (cached?.version === document.version) return { document, model: cached.model };
    const model = new DocumentModel(document.getText(), fileOf(uri) ?? uri);
    models.set(uri, { version: document.version, model });
    return { document, model };
  };

  const rangeOf = (document: TextDocument, span: { start: number; end: number }): Range => ({
    start: document.positionAt(span.start),
    end: document.positionAt(span.end),
  });

  // One check at a time per document, always of its newest text: changes that arrive while a check
  // runs (fast typing, a slow machine) are folded into the next one instead of each queueing a
  // full check whose answer would already be stale. No timer: a change never waits for a pause.
  const checking = new Set<string>();
  const pending = new Set<string>();
  const validate = (uri: string): void => {
    if (checking.has(uri)) {
      pending.add(uri);
      return;
    }
    checking.add(uri);
    // setImmediate lets the changes already received be applied first, so the check reads the newest text.
    setImmediate(() => void check(uri));
  };
  const check = async (uri: string): Promise<void> => {
    // The document object is updated in place by later changes: keep what this check reads.
    const document = documents.get(uri);
    const version = document?.version;
    try {
      if (document) {
        const diagnostics = await findDiagnostics(uri, document.getText(), fileOf(uri), parserOf(uri), files);
        if (documents.get(uri)?.version === version) await connection.sendDiagnostics({ uri, version, diagnostics });
      }
    } catch (error) {
      connection.console.error(`woodwork: checking ${uri} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    } finally {
      checking.delete(uri);
      const current = documents.get(uri);
      if (pending.delete(uri) || (current && current.version !== version)) validate(uri);
    }
  };

  connection.onInitialize(
    (): InitializeResult => ({
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental },
        completionProvider: { triggerCharacters: ['=', ':', '[', ','] },
        hoverProvider: true,
        definitionProvider: true,
        referencesProvider: true,
        renameProvider: { prepareProvider: true },
        documentSymbolProvider: true,
        documentFormattingProvider: true,
      },
      serverInfo: { name: 'woodwork-language-server', version: VERSION },
    }),
  );

  documents.onDidChangeContent(({ document }) => validate(document.uri));
  documents.onDidClose(({ document }) => {
    models.delete(document.uri);
    parsers.delete(document.uri);
    void connection.sendDiagnostics({ uri: document.uri, diagnostics: [] });
  });
  // A pipe module or `.env` changed on disk: what the open files name may now exist, or not.
  connection.onDidChangeWatchedFiles(() => {
    files.forget();
    for (const document of documents.all()) validate(document.uri);
  });

  connection.onCompletion(async ({ textDocument, position }) => {
    const found = modelOf(textDocument.uri);
    if (!found) return [];
    const offset = found.document.offsetAt(position);
    return (await completeFunctionName(found.model, offset)) ?? complete(found.model, offset);
  });

  connection.onHover(({ textDocument, position }) => {
    const found = modelOf(textDocument.uri);
    const answer = found && hover(found.model, found.document.offsetAt(position));
    return answer ? { contents: { kind: 'markdown', value: answer.contents }, range: rangeOf(found.document, answer) } : null;
  });

  connection.onDefinition(async ({ textDocument, position }): Promise<Location | null> => {
    const found = modelOf(textDocument.uri);
    if (!found) return null;
    const offset = found.document.offsetAt(position);
    const spec = pipeSpecAt(found.model, offset);
    if (spec) {
      const target = await pipeTargetOf(found.model.file, spec);
      const lines = TextDocument.create('', '', 0, target.text ?? '');
      return { uri: URI.file(target.file).toString(), range: rangeOf(lines, target.span) };
    }
    const declaration = definitionOf(found.model, offset);
    return declaration ? { uri: textDocument.uri, range: rangeOf(found.document, declaration) } : null;
  });

  connection.onReferences(({ textDocument, position, context }) => {
    const found = modelOf(textDocument.uri);
    if (!found) return [];
    return referencesOf(found.model, found.document.offsetAt(position), context.includeDeclaration).map((span) => ({
      uri: textDocument.uri,
      range: rangeOf(found.document, span),
    }));
  });

  connection.onPrepareRename(({ textDocument, position }) => {
    const found = modelOf(textDocument.uri);
    const name = found && nameAt(found.model, found.document.offsetAt(position));
    return name ? { range: rangeOf(found.document, name), placeholder: name.name } : null;
  });

  connection.onRenameRequest(({ textDocument, position, newName }) => {
    const found = modelOf(textDocument.uri);
    const name = found && nameAt(found.model, found.document.offsetAt(position));
    if (!name) return null;
    const problem = checkNewName(found.model, name.name, newName);
    if (problem) throw new ResponseError(LSPErrorCodes.RequestFailed, problem);
    const edits = found.model.occurrences(name.name).map((span) => ({ range: rangeOf(found.document, span), newText: newName }));
    return { changes: { [textDocument.uri]: edits } };
  });

  connection.onDocumentSymbol(({ textDocument }) => {
    const found = modelOf(textDocument.uri);
    if (!found) return [];
    const toLsp = (symbol: OutlineSymbol): DocumentSymbol => ({
      name: symbol.name,
      detail: symbol.detail,
      kind: symbol.kind,
      range: rangeOf(found.document, { start: symbol.start, end: symbol.end }),
      selectionRange: rangeOf(found.document, { start: symbol.selectionStart, end: symbol.selectionEnd }),
      children: symbol.children.map(toLsp),
    });
    return outline(found.model).map(toLsp);
  });

  connection.onDocumentFormatting(({ textDocument }) => {
    const document = documents.get(textDocument.uri);
    if (!document) return null;
    const text = document.getText();
    // A file with syntax errors is left alone (format() refuses it; the diagnostics say why).
    const formatted = format(text, { file: fileOf(textDocument.uri) ?? textDocument.uri });
    if (!formatted.changed) return [];
    return [{ range: rangeOf(document, { start: 0, end: text.length }), newText: formatted.text }];
  });

  documents.listen(connection);
  connection.listen();
  return connection;
}
