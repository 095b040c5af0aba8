/**
 * `createIncrementalParser()`: `parse()` for a text that changes a little at a time (an editor's
 * buffer). It keeps the previous text's tree and, on each new text, reads again only the top-level
 * items around the change, moves the items after it by the change in length, and gives the same
 * tree and diagnostics that `parse()` gives for the new text.
 *
 * Why that is the same answer: the grammar reads a file as a run of top-level items (`Step`: an item
 * and the space after it), each starting with the parser at its top level (nothing open), so an item
 * read from its start depends only on the text from there on. The items after the change are
 * unchanged text read from an unchanged state, so they are the old ones, moved. The items before it
 * may have looked ahead past their own end, but only up to the `{` of a following declaration
 * header; an item that is a declaration without a problem looks at nothing past its `}` but the
 * space after it and the next item's first character. So reading starts again at the item before
 * the change that starts strictly before it, or earlier while the item before that had a problem.
 * When anything does not fit (the change is before the first item, the items do not line up again,
 * a message after the change names a line number that moved), it parses the whole text.
 * `test/incremental-parse.test.ts` checks the answer against `parse()` on many random edits.
 */
import type { DeclarationNode, FileNode, ValueNode } from './ast.js';
import { createDiagnostic, sortDiagnostics, type Diagnostic } from './diagnostic.js';
import type { SyntaxDiagnosticCode } from './diagnostic-codes.js';
import { WoodworkParserError } from './errors.js';
import { parse as parseGenerated } from './generated/parser.js';
import type { GrammarContext, GrammarProblemDetails } from './grammar-context.js';
import { LineIndex } from './location.js';
import { parse, type ParseOptions, type ParseResult } from './parse.js';

/** `parse()` for successive versions of one file's text; see `createIncrementalParser`. */
export interface IncrementalParser {
  /**
   * The tree and syntax problems of `source`, equal to `parse(source, options)`'s. The tree is the
   * parser's own and is reused by the next call (its nodes move), so read it before calling again.
   */
  parse(source: string): ParseResult;
  /** How the last call parsed: `incremental` when it read only the items around the change. */
  readonly lastParse: 'full' | 'incremental' | 'unchanged';
}

/**
 * A parser that remembers the previous text and tree, for callers that parse every version of a
 * file (the language server parses on every keystroke). `options.file` as for `parse()`.
 */
export function createIncrementalParser(options: ParseOptions = {}): IncrementalParser {
  return new Incremental(options.file ?? '<input>');
}

/** A problem as the grammar reported it, in offsets, so that it can move with its item. */
interface Problem {
  readonly code: SyntaxDiagnosticCode;
  readonly message: string;
  start: number;
  end: number;
  readonly hint: string | undefined;
  readonly related: { readonly message: string; start: number; end: number }[] | undefined;
}

/** One top-level item: a declaration or a line that names none (reported); it ends where the next starts. */
interface Item {
  start: number;
  end: number;
  readonly node: DeclarationNode | null;
  readonly problems: Problem[];
}

/** The codes whose hint names the line where an unclosed block or list ended (the grammar's `unclosedReason`). */
const NAMES_A_LINE = new Set<string>(['WW103', 'WW104']);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

class Incremental implements IncrementalParser {
  readonly #file: string;
  #text = '';
  #lines: LineIndex | undefined;
  /** Undefined before the first parse and after one the grammar failed on (every next parse is full). */
  #items: Item[] | undefined;
  #ast: FileNode | undefined;
  #diagnostics: Diagnostic[] = [];
  /** The items the running parse has started, in order. */
  #reading: Item[] | undefined;
  /** Where the grammar's reports go while it reads. */
  #current: Item | undefined;
  #reportedKeys = new Set<string>();
  lastParse: 'full' | 'incremental' | 'unchanged' = 'full';

  // Every node of every parse points at this one context, so a node's `location` is always worked out
  // against the newest text, the one its offsets belong to.
  readonly #context: GrammarContext;

  constructor(file: string) {
    this.#file = file;
    this.#context = {
      file,
      locate: (start, end) => (this.#lines ??= new LineIndex(this.#text)).locate(file, start, end),
      report: (code, message, start, end, details) => this.#report(code, message, start, end, details),
      itemStart: (offset) => {
        this.#current = { start: offset, end: offset, node: null, problems: [] };
        this.#reportedKeys.clear();
        this.#reading?.push(this.#current);
      },
    };
  }

  parse(source: string): ParseResult {
    if (typeof source !== 'string') {
      throw new WoodworkParserError('INVALID_ARGUMENT', `parse() expects the .ww source text as a string, got ${typeof source}`);
    }
    if (this.#ast && this.#items && source === this.#text) {
      this.lastParse = 'unchanged';
      return { ast: this.#ast, diagnostics: [...this.#diagnostics] };
    }
    const updated = this.#items && this.#ast ? this.#update(source, this.#items, this.#ast) : undefined;
    if (updated) {
      this.lastParse = 'incremental';
      return updated;
    }
    this.lastParse = 'full';
    return this.#full(source);
  }

  #report(code: SyntaxDiagnosticCode, message: string, start: number, end: number, details: GrammarProblemDetails | undefined): void {
    const item = this.#current;
    if (!item) throw new WoodworkParserError('INTERNAL', `the .ww grammar reported ${code} outside any top-level item`);
    // As parse() does: a quoted key read twice must be reported once.
    const key = `${code} ${start} ${end} ${message}`;
    if (this.#reportedKeys.has(key)) return;
    this.#reportedKeys.add(key);
    item.problems.push({
      code,
      message,
      start,
      end,
      hint: details?.hint,
      related: details?.related?.map((related) => ({ message: related.message, start: related.start, end: related.end })),
    });
  }

  #begin(source: string): void {
    this.#text = source;
    this.#lines = undefined;
    this.#current = undefined;
  }

  #full(source: string): ParseResult {
    this.#begin(source);
    const items: Item[] = [];
    this.#reading = items;
    let ast: FileNode;
    try {
      ast = parseGenerated(source, { context: this.#context, peg$silentFails: 1 });
    } catch {
      // A defect in the grammar (it recovers from every error): parse() says so as a diagnostic.
      this.#items = undefined;
      this.#ast = undefined;
      return parse(source, { file: this.#file });
    } finally {
      this.#reading = undefined;
    }
    let declaration = 0;
    for (let index = 0; index < items.length; index++) {
      const item = items[index] as Item;
      item.end = items[index + 1]?.start ?? source.length;
      const node = ast.declarations[declaration];
      if (node && node.start === item.start) {
        (item as Mutable<Item>).node = node;
        declaration++;
      }
    }
    // Every declaration is an item's; if not, the grammar changed under this file: stay correct.
    this.#items = declaration === ast.declarations.length ? items : undefined;
    this.#ast = ast;
    return this.#finish();
  }

  /** The incremental path; undefined when the whole text must be read. */
  #update(source: string, items: Item[], ast: FileNode): ParseResult | undefined {
    const old = this.#text;
    const { prefix, suffix } = changedSpan(old, source);
    const delta = source.length - old.length;
    const changedEnd = source.length - suffix;

    // The last item that starts strictly before the change (an item starting at the change may lose
    // space to the one before it), then back over items that had a problem and so may have looked ahead.
    let first = lastStartingBefore(items, prefix);
    if (first < 0) return undefined;
    while (first > 0 && !isClean(items[first - 1] as Item)) first--;

    // A hint that names a line after the change would have to name another line now.
    const movedLines = countLines(old, prefix, old.length - suffix) !== countLines(source, prefix, changedEnd);
    if (movedLines && items.some((item, index) => index > first && item.problems.some((problem) => NAMES_A_LINE.has(problem.code)))) {
      return undefined;
    }

    this.#begin(source);
    const read: Item[] = [];
    let position = (items[first] as Item).start;
    let next = first;
    let aligned = -1;
    this.#reading = read;
    try {
      while (position < source.length) {
        if (position >= changedEnd) {
          // Past the change: an old item that starts here (moved) reads as it did before.
          const before = position - delta;
          while (next < items.length && (items[next] as Item).start < before) next++;
          if (next < items.length && (items[next] as Item).start === before) {
            aligned = next;
            break;
          }
        }
        const step = parseGenerated(source, {
          context: this.#context,
          startRule: 'Step',
          peg$currPos: position,
          peg$silentFails: 1,
          peg$library: true,
        });
        const item = read[read.length - 1];
        if (step.peg$result === step.peg$FAILED || !item || item.start !== position || step.peg$currPos <= position) return undefined;
        item.end = step.peg$currPos;
        (item as Mutable<Item>).node = step.peg$result as DeclarationNode | null;
        position = step.peg$currPos;
      }
    } catch {
      return undefined;
    } finally {
      this.#reading = undefined;
    }

    const after = aligned < 0 ? [] : items.slice(aligned);
    if (delta !== 0) for (const item of after) moveItem(item, delta);
    const updated = [...items.slice(0, first), ...read, ...after];
    this.#items = updated;
    const file = ast as Mutable<FileNode>;
    file.end = source.length;
    file.declarations = updated.flatMap((item) => (item.node ? [item.node] : []));
    this.#ast = ast;
    return this.#finish();
  }

  #finish(): ParseResult {
    const diagnostics: Diagnostic[] = [];
    const locate = this.#context.locate;
    for (const item of this.#items ?? []) {
      for (const problem of item.problems) {
        diagnostics.push(
          createDiagnostic(problem.code, problem.message, locate(problem.start, problem.end), {
            hint: problem.hint,
            related: problem.related?.map((related) => ({ message: related.message, location: locate(related.start, related.end) })),
          }),
        );
      }
    }
    this.#diagnostics = sortDiagnostics(diagnostics);
    return { ast: this.#ast as FileNode, diagnostics: [...this.#diagnostics] };
  }
}

/**
 * The lengths of the common prefix and suffix of two texts (not overlapping). Compared a block at a
 * time first: a character loop over a 50 KB file was a third of an incremental parse.
 */
function changedSpan(old: string, source: string): { prefix: number; suffix: number } {
  const shorter = Math.min(old.length, source.length);
  const BLOCK = 256;
  let prefix = 0;
  while (prefix + BLOCK <= shorter && old.substring(prefix, prefix + BLOCK) === source.substring(prefix, prefix + BLOCK)) prefix += BLOCK;
  while (prefix < shorter && old.charCodeAt(prefix) === source.charCodeAt(prefix)) prefix++;
  const most = shorter - prefix;
  let suffix = 0;
  while (suffix + BLOCK <= most && old.substring(old.length - suffix - BLOCK, old.length - suffix) === source.substring(source.length - suffix - BLOCK, source.length - suffix)) {
    suffix += BLOCK;
  }
  while (suffix < most && old.charCodeAt(old.length - 1 - suffix) === source.charCodeAt(source.length - 1 - suffix)) suffix++;
  return { prefix, suffix };
}

/** A declaration read without a problem: it looked at nothing past its `}` but the space after it. */
function isClean(item: Item): boolean {
  return item.node !== null && !item.node.recovered && item.problems.length === 0;
}

function lastStartingBefore(items: readonly Item[], offset: number): number {
  let low = 0;
  let high = items.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if ((items[middle] as Item).start < offset) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

function countLines(text: string, start: number, end: number): number {
  let count = 0;
  for (let at = text.indexOf('\n', start); at !== -1 && at < end; at = text.indexOf('\n', at + 1)) count++;
  return count;
}

function moveItem(item: Item, delta: number): void {
  item.start += delta;
  item.end += delta;
  for (const problem of item.problems) {
    problem.start += delta;
    problem.end += delta;
    for (const related of problem.related ?? []) {
      related.start += delta;
      related.end += delta;
    }
  }
  const node = item.node as Mutable<DeclarationNode> | null;
  if (!node) return;
  node.start += delta;
  node.end += delta;
  moveNode(node.name, delta);
  if (node.kind) moveNode(node.kind, delta);
  moveNode(node.componentType, delta);
  moveValue(node.body, delta);
}

function moveNode(node: { start: number; end: number }, delta: number): void {
  const mutable = node as { start: number; end: number };
  mutable.start += delta;
  mutable.end += delta;
}

function moveValue(value: ValueNode, delta: number): void {
  moveNode(value, delta);
  switch (value.type) {
    case 'Map':
      for (const entry of value.entries) {
        moveNode(entry, delta);
        moveNode(entry.key, delta);
        moveValue(entry.value, delta);
      }
      return;
    case 'List':
      for (const item of value.items) moveValue(item, delta);
      return;
    case 'Template':
      for (const part of value.parts) if (typeof part !== 'string') moveNode(part, delta);
      return;
    default:
      return;
  }
}
