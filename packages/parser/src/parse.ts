/**
 * `parse()`: `.ww` text to a syntax tree plus every syntax problem in it. Runs the parser generated
 * from grammar/ww.peggy, which recovers from errors by itself (see the grammar's header).
 */
import type { FileNode } from './ast.js';
import { createDiagnostic, sortDiagnostics, type Diagnostic } from './diagnostic.js';
import { WoodworkParserError } from './errors.js';
import { parse as parseGenerated, SyntaxError as GeneratedSyntaxError } from './generated/parser.js';
import type { GrammarContext } from './grammar-context.js';
import { LineIndex } from './location.js';

export interface ParseOptions {
  /** The name used in locations and diagnostics (default `<input>`). */
  readonly file?: string;
}

export interface ParseResult {
  readonly ast: FileNode;
  /** Sorted by position. Empty when the file is syntactically valid. */
  readonly diagnostics: Diagnostic[];
}

export function parse(source: string, options: ParseOptions = {}): ParseResult {
  if (typeof source !== 'string') {
    throw new WoodworkParserError('INVALID_ARGUMENT', `parse() expects the .ww source text as a string, got ${typeof source}`);
  }
  const file = options.file ?? '<input>';
  // Built on the first location asked for: a valid file may never need one while parsing.
  let lines: LineIndex | undefined;
  const locate = (start: number, end: number) => (lines ??= new LineIndex(source)).locate(file, start, end);
  const diagnostics: Diagnostic[] = [];
  // The grammar reads a quoted key again when its first reading of an entry does not fit; a
  // problem inside that key must still be reported once.
  const reported = new Set<string>();
  const context: GrammarContext = {
    file,
    locate,
    report: (code, message, start, end, details) => {
      const key = `${code} ${start} ${end} ${message}`;
      if (reported.has(key)) return;
      reported.add(key);
      diagnostics.push(
        createDiagnostic(code, message, locate(start, end), {
          hint: details?.hint,
          related: details?.related?.map((related) => ({
            message: related.message,
            location: locate(related.start, related.end),
          })),
        }),
      );
    },
  };

  try {
    // Expectations only serve the message of a failed parse, and this grammar does not fail:
    // `peg$silentFails` (a Peggy option) turns their bookkeeping off, a fifth of the parse time.
    const ast = parseGenerated(source, { context, peg$silentFails: 1 });
    return { ast, diagnostics: sortDiagnostics(diagnostics) };
  } catch (error) {
    // The grammar recovers from every error, so this is a defect in it; still, the user gets a
    // diagnostic rather than a stack trace (the property-based test keeps this branch cold).
    if (!(error instanceof GeneratedSyntaxError)) {
      throw new WoodworkParserError('INTERNAL', `the .ww parser failed on ${file}: ${String(error)}`, { cause: error });
    }
    const start = error.location.start.offset;
    diagnostics.push(createDiagnostic('WW101', error.message, locate(start, Math.max(start + 1, error.location.end.offset))));
    const ast: FileNode = { type: 'File', file, declarations: [], start: 0, end: source.length, location: locate(0, source.length) };
    return { ast, diagnostics: sortDiagnostics(diagnostics) };
  }
}
