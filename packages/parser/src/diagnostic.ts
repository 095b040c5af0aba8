/**
 * The one shape every problem takes, from a stray quote to a missing environment variable. It is
 * plain JSON so that `woodwork validate --json` can print it and editors can consume it.
 */
import { diagnosticCodes, type DiagnosticCode } from './diagnostic-codes.js';
import type { SourceLocation } from './location.js';

export type Severity = 'error' | 'warning';

export interface RelatedInformation {
  readonly message: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface Diagnostic {
  /** Stable code, `WW101`…; see the README's table. */
  readonly code: DiagnosticCode;
  readonly severity: Severity;
  /** One line, no trailing period. */
  readonly message: string;
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based, in UTF-16 code units. */
  readonly column: number;
  readonly endLine: number;
  /** Exclusive. */
  readonly endColumn: number;
  /** What to do about it, e.g. "did you mean `mem`?". */
  readonly hint?: string;
  /** Other places that explain this one (the first of two duplicates, each use of a variable). */
  readonly related?: readonly RelatedInformation[];
}

export interface DiagnosticDetails {
  readonly hint?: string | undefined;
  readonly related?: readonly { readonly message: string; readonly location: SourceLocation }[] | undefined;
  /** Overrides the code's default severity (environment problems are warnings when validating). */
  readonly severity?: Severity | undefined;
}

export function createDiagnostic(
  code: DiagnosticCode,
  message: string,
  location: Pick<SourceLocation, 'file' | 'line' | 'column' | 'endLine' | 'endColumn'>,
  details: DiagnosticDetails = {},
): Diagnostic {
  const diagnostic: {
    -readonly [K in keyof Diagnostic]: Diagnostic[K];
  } = {
    code,
    severity: details.severity ?? diagnosticCodes[code].severity,
    message,
    file: location.file,
    line: location.line,
    column: location.column,
    endLine: location.endLine,
    endColumn: location.endColumn,
  };
  if (details.hint !== undefined) diagnostic.hint = details.hint;
  if (details.related && details.related.length > 0) {
    diagnostic.related = details.related.map(({ message: relatedMessage, location: at }) => ({
      message: relatedMessage,
      file: at.file,
      line: at.line,
      column: at.column,
    }));
  }
  return diagnostic;
}

/**
 * The order a compiler prints problems in: files in the order they first appear, then by position,
 * errors before warnings at the same spot.
 */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const fileOrder = new Map<string, number>();
  for (const diagnostic of diagnostics) {
    if (!fileOrder.has(diagnostic.file)) fileOrder.set(diagnostic.file, fileOrder.size);
  }
  return [...diagnostics].sort(
    (a, b) =>
      (fileOrder.get(a.file) as number) - (fileOrder.get(b.file) as number) ||
      a.line - b.line ||
      a.column - b.column ||
      (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1),
  );
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((diagnostic) => diagnostic.severity === 'error');
}

/** How analysis steps report problems; `analyze()` collects them into its result. */
export type Reporter = (code: DiagnosticCode, message: string, location: SourceLocation, details?: DiagnosticDetails) => void;
