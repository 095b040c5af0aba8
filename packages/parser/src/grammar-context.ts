/**
 * What `parse()` hands the generated parser: where it is (the file name), how to turn offsets into
 * locations and how to report a problem. Keeping these in TypeScript keeps the grammar about syntax.
 */
import type { SyntaxDiagnosticCode } from './diagnostic-codes.js';
import type { SourceLocation } from './location.js';

export interface GrammarProblemDetails {
  readonly hint?: string;
  readonly related?: readonly { readonly message: string; readonly start: number; readonly end: number }[];
}

export interface GrammarContext {
  readonly file: string;
  locate(start: number, end: number): SourceLocation;
  report(code: SyntaxDiagnosticCode, message: string, start: number, end: number, details?: GrammarProblemDetails): void;
  /** Called where each top-level item starts, before it is read; only incremental parsing asks. */
  itemStart?(offset: number): void;
}
