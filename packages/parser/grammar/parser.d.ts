// Types of the parser that scripts/generate.mjs compiles from ww.peggy (copied next to it as
// src/generated/parser.d.ts). Kept by hand: the grammar's actions build exactly these nodes.
import type { DeclarationNode, FileNode } from '../ast.js';
import type { GrammarContext } from '../grammar-context.js';

export interface ParseOptions {
  /** How the grammar locates nodes and reports problems; see GrammarContext. */
  readonly context: GrammarContext;
  readonly startRule?: 'File';
  /** Peggy's counter of silenced expectation tracking; above 0, none are recorded. */
  readonly peg$silentFails?: number;
}

/** One top-level item from `peg$currPos` (the `Step` rule), without requiring the input to end there. */
export interface StepOptions {
  readonly context: GrammarContext;
  readonly startRule: 'Step';
  /** Where to start reading. */
  readonly peg$currPos: number;
  readonly peg$silentFails?: number;
  /** Return Peggy's state instead of throwing when the input does not end where the rule does. */
  readonly peg$library: true;
}

export interface StepResult {
  /** The item (null for a line that names nothing, reported), or `peg$FAILED` at the end of the input. */
  readonly peg$result: DeclarationNode | null | object;
  readonly peg$FAILED: object;
  /** Where the item and the space after it end. */
  readonly peg$currPos: number;
}

export declare class SyntaxError extends Error {
  readonly location: { readonly start: { readonly offset: number }; readonly end: { readonly offset: number } };
  readonly expected: unknown;
  readonly found: string | null;
}

export declare function parse(input: string, options: StepOptions): StepResult;
export declare function parse(input: string, options: ParseOptions): FileNode;
