/**
 * `format()`: the canonical layout of a `.ww` file, for `woodwork fmt` and editors. It rewrites only
 * the space between tokens: every token the user wrote (names, strings, numbers, booleans, the
 * dialect of each header and the `:` or `=` of each entry) is copied from the source as written, so
 * formatting cannot change what a file means. Comments are not in the syntax tree; they are read back
 * from the source text between nodes.
 */
import type { DeclarationNode, EntryNode, FileNode, ListNode, MapNode, ValueNode } from './ast.js';
import type { Diagnostic } from './diagnostic.js';
import { WoodworkParserError } from './errors.js';
import { parse } from './parse.js';

export interface FormatOptions {
  /** The name used in diagnostics (default `<input>`). */
  readonly file?: string;
}

export interface FormatResult {
  /** The formatted text; the source unchanged when it has syntax errors. */
  readonly text: string;
  /** Whether `text` differs from the source. */
  readonly changed: boolean;
  /**
   * The parser's diagnostics. When one is an error the file is refused: a formatter that guessed
   * at a broken file could move text across the very bracket the user forgot.
   */
  readonly diagnostics: Diagnostic[];
}

/** One level of nesting; the examples and the classic engine's files use four spaces. */
const INDENT = '    ';

export function format(source: string, options: FormatOptions = {}): FormatResult {
  if (typeof source !== 'string') {
    throw new WoodworkParserError('INVALID_ARGUMENT', `format() expects the .ww source text as a string, got ${typeof source}`);
  }
  const file = options.file ?? '<input>';
  const { ast, diagnostics } = parse(source, { file });
  if (diagnostics.some((diagnostic) => diagnostic.severity === 'error')) {
    return { text: source, changed: false, diagnostics };
  }
  const bom = source.startsWith('\uFEFF') ? '\uFEFF' : '';
  const text = bom + new Formatter(source).file(ast);
  // Cheap insurance: the output must be the same tree. A defect here must never reach a user's
  // file, so it is an internal error rather than a rewrite.
  const again = parse(text, { file });
  if (again.diagnostics.some((diagnostic) => diagnostic.severity === 'error') || shape(again.ast) !== shape(ast)) {
    throw new WoodworkParserError('INTERNAL', `format() would change the meaning of ${file}; please report this with the file`);
  }
  return { text, changed: text !== source, diagnostics };
}

/** The tree without positions: equal for two texts that differ only in layout. */
function shape(ast: FileNode): string {
  return JSON.stringify(ast, (key, value: unknown) => (key === 'location' ? undefined : value));
}

interface Comment {
  readonly text: string;
  /** No newline between the previous token and the comment: it trails that token's line. */
  readonly sameLine: boolean;
  /** A blank line separated it from what came before. */
  readonly blankBefore: boolean;
}

interface Gap {
  readonly comments: Comment[];
  /** A blank line before whatever follows the gap. */
  readonly blankAfter: boolean;
}

/** A declaration, entry or list item, as a block places it: where it is and how it prints. */
interface Child {
  readonly start: number;
  readonly end: number;
  /** Comments written inside the child's own tokens (`key: # why\n value`): placed above it. */
  readonly inner: Comment[];
  readonly render: (indent: string) => string;
}

class Formatter {
  constructor(private readonly source: string) {}

  file(ast: FileNode): string {
    const start = this.source.startsWith('\uFEFF') ? 1 : 0;
    const children = ast.declarations.map((declaration) => this.declarationChild(declaration));
    const { lines } = this.lines(children, start, this.source.length, '', '', null);
    return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
  }

  private declarationChild(declaration: DeclarationNode): Child {
    return {
      start: declaration.start,
      end: declaration.end,
      inner: this.scan(declaration.name.end, declaration.body.start).comments,
      render: (indent) => {
        const words = [declaration.name, declaration.kind, declaration.componentType].filter((word) => word !== null);
        const [name, ...types] = words.map((word) => this.slice(word));
        return `${name} = ${types.join(' ')} ${this.map(declaration.body, indent)}`;
      },
    };
  }

  private entryChild(entry: EntryNode): Child {
    return {
      start: entry.start,
      end: entry.end,
      inner: this.scan(entry.key.end, entry.value.start).comments,
      render: (indent) => `${this.slice(entry.key)}${entry.separator === '=' ? ' = ' : ': '}${this.value(entry.value, indent)}`,
    };
  }

  private itemChild(item: ValueNode): Child {
    return { start: item.start, end: item.end, inner: [], render: (indent) => this.value(item, indent) };
  }

  private value(node: ValueNode, indent: string): string {
    if (node.type === 'Map') return this.map(node, indent);
    if (node.type === 'List') return this.list(node, indent);
    // Scalars exactly as written: escapes, quotes, `10_000`, `TRUE` and `${X:-y}` stay the user's.
    return this.slice(node);
  }

  private map(node: MapNode, indent: string): string {
    return this.container(node, node.entries.map((entry) => this.entryChild(entry)), '{', '}', indent, ', ', '');
  }

  private list(node: ListNode, indent: string): string {
    return this.container(node, node.items.map((item) => this.itemChild(item)), '[', ']', indent, ', ', ',');
  }

  /**
   * A block written on one line stays on one line (`{ a: 1, b: 2 }`); one written over several
   * lines gets one child a line. The author's choice decides, not a line width: a `.ww` file is
   * read as configuration, and rewrapping it would move lines in every diff.
   */
  private container(
    node: MapNode | ListNode,
    children: Child[],
    open: string,
    close: string,
    indent: string,
    inlineSeparator: string,
    lineEnd: string,
  ): string {
    const openEnd = node.start + 1;
    const closeStart = node.end - 1;
    const multiLine = this.source.slice(node.start, node.end).includes('\n');
    if (!multiLine) {
      if (children.length === 0) return `${open}${close}`;
      const inner = children.map((child) => child.render(indent)).join(inlineSeparator);
      return open === '{' ? `{ ${inner} }` : `[${inner}]`;
    }
    const inner = indent + INDENT;
    const { openLine, lines } = this.lines(children, openEnd, closeStart, inner, lineEnd, open);
    if (lines.length === 0 && openLine === null) return `${open}${close}`;
    // A comment on the opening line stays there: `hooks: [ # audit everything`.
    const head = openLine ?? open;
    if (lines.length === 0) return `${head}\n${indent}${close}`;
    return `${head}\n${lines.join('\n')}\n${indent}${close}`;
  }

  /**
   * The lines of a block's children with the comments and blank lines around them. `open` is the
   * opening bracket, whose line may take a trailing comment (null for the file). Returns the lines
   * (indented, blank lines empty) and, when a comment trails the opener, the opener's line with it.
   */
  private lines(
    children: Child[],
    from: number,
    to: number,
    indent: string,
    lineEnd: string,
    open: string | null,
  ): { openLine: string | null; lines: string[] } {
    const lines: string[] = [];
    // Where a trailing comment goes: the opener's line, or the last child's last line.
    let trailingTarget: 'open' | 'last' | null = open === null ? null : 'open';
    let openLine: string | null = null;
    const place = (gap: Gap, last: boolean): void => {
      for (const comment of gap.comments) {
        if (comment.sameLine && trailingTarget !== null) {
          if (trailingTarget === 'open') openLine = `${open} ${comment.text}`;
          else lines[lines.length - 1] += ` ${comment.text}`;
          trailingTarget = null;
          continue;
        }
        trailingTarget = null;
        if (comment.blankBefore && lines.length > 0) lines.push('');
        lines.push(indent + comment.text);
      }
      if (!last && gap.blankAfter && lines.length > 0 && lines[lines.length - 1] !== '') lines.push('');
    };
    let position = from;
    children.forEach((child, index) => {
      place(this.scan(position, child.start), false);
      for (const comment of child.inner) lines.push(indent + comment.text);
      const separator = index < children.length - 1 ? lineEnd : '';
      lines.push(indent + child.render(indent) + separator);
      trailingTarget = 'last';
      position = child.end;
    });
    place(this.scan(position, to), true);
    while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return { openLine, lines };
  }

  /**
   * The comments between two tokens. Between nodes there is only space, separators, brackets, `=`
   * and comments, so a `#` or `//` here always starts a comment (never one inside a string).
   */
  private scan(from: number, to: number): Gap {
    const comments: Comment[] = [];
    let newlines = 0;
    let sawNewline = false;
    let index = from;
    while (index < to) {
      const char = this.source[index];
      if (char === '\n') {
        newlines += 1;
        sawNewline = true;
        index += 1;
      } else if (char === '#' || (char === '/' && this.source[index + 1] === '/')) {
        const lineEnd = this.source.indexOf('\n', index);
        const end = lineEnd === -1 || lineEnd > to ? to : lineEnd;
        comments.push({ text: this.source.slice(index, end).trimEnd(), sameLine: !sawNewline, blankBefore: newlines >= 2 });
        newlines = 0;
        index = end;
      } else {
        index += 1;
      }
    }
    return { comments, blankAfter: newlines >= 2 };
  }

  private slice(node: { start: number; end: number }): string {
    return this.source.slice(node.start, node.end);
  }
}
