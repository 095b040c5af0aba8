// Types of the parser that scripts/generate.mjs compiles from ww.peggy (copied next to it as
// src/generated/parser.d.ts). Kept by hand: the grammar's actions build exactly these nodes.
import type { FileNode } from '../ast.js';
import type { GrammarContext } from '../grammar-context.js';

export interface ParseOptions {
  /** How the grammar locates nodes and reports problems; see GrammarContext. */
  readonly context: GrammarContext;
  readonly startRule?: 'File';
  /** Peggy's counter of silenced expectation tracking; above 0, none are recorded. */
  readonly peg$silentFails?: number;
}

export declare class SyntaxError extends Error {
  readonly location: { readonly start: { readonly offset: number }; readonly end: { readonly offset: number } };
  readonly expected: unknown;
  readonly found: string | null;
}

export declare function parse(input: string, options: ParseOptions): FileNode;
