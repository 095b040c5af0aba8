/**
 * Diagnostics exactly as `woodwork validate` finds them: `loadTopology()` in `validate` mode with the
 * export check on, given the editor's text instead of the file on disk. Only the parser decides what
 * is a problem; this file translates its answer into the protocol's shape.
 */
import { analyze, loadTopology, type Diagnostic, type IncrementalParser, type TopologyFiles } from '@woodwork/parser';
import { DiagnosticSeverity, type Diagnostic as LspDiagnostic } from 'vscode-languageserver';
import { URI } from 'vscode-uri';

/**
 * The problems of a document. A document with a file behind it is checked like `woodwork validate`
 * checks that file (its `.env`, the modules it names); an untitled one by the parser alone. `parser`
 * is the document's own incremental parser, named by its file (or its URI when untitled), which
 * reads again only the declarations an edit touched; `files` is how the files around it are read
 * (the server's remembers them between keystrokes; see files.ts).
 */
export async function findDiagnostics(
  uri: string,
  text: string,
  file: string | undefined,
  parser: IncrementalParser,
  files?: TopologyFiles,
): Promise<LspDiagnostic[]> {
  const diagnostics = file
    ? (await loadTopology(file, { mode: 'validate', source: text, checkExports: true, parser, ...(files ? { files } : {}) })).diagnostics.filter(
        (diagnostic) => diagnostic.file === file,
      )
    : untitled(text, uri, parser);
  // Related places are in the same document (the first of two duplicates) or another file.
  const uriOf = (name: string) => (name === file || name === uri ? uri : URI.file(name).toString());
  return diagnostics.map((diagnostic) => toLspDiagnostic(diagnostic, uriOf));
}

function untitled(text: string, name: string, parser: IncrementalParser): Diagnostic[] {
  const parsed = parser.parse(text);
  return [...parsed.diagnostics, ...analyze(parsed.ast, { file: name }).diagnostics];
}

/** The hint goes on its own line of the message: every editor shows the message, few show more. */
export function toLspDiagnostic(diagnostic: Diagnostic, uriOf: (file: string) => string): LspDiagnostic {
  const result: LspDiagnostic = {
    range: {
      start: { line: diagnostic.line - 1, character: diagnostic.column - 1 },
      end: { line: diagnostic.endLine - 1, character: diagnostic.endColumn - 1 },
    },
    severity: diagnostic.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: diagnostic.code,
    source: 'woodwork',
    message: diagnostic.hint ? `${diagnostic.message}\n${diagnostic.hint}` : diagnostic.message,
  };
  if (diagnostic.related && diagnostic.related.length > 0) {
    result.relatedInformation = diagnostic.related.map((related) => {
      const at = { line: related.line - 1, character: related.column - 1 };
      return { message: related.message, location: { uri: uriOf(related.file), range: { start: at, end: at } } };
    });
  }
  return result;
}
