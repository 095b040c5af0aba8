/**
 * The syntax tree of a `.ww` file, as the grammar (grammar/ww.peggy) builds it: every node carries
 * its source location, nothing is resolved yet (a bare name is a `Reference`, `$NAME` an
 * `EnvReference`). `analyze()` turns it into a topology.
 */
import type { SourceLocation } from './location.js';

/** What every node has. */
interface NodeBase {
  /** 0-based offsets of the text the node spans (end exclusive). */
  readonly start: number;
  readonly end: number;
  /** File, line and column of the same span; computed when read (JSON includes it). */
  readonly location: SourceLocation;
}

export interface FileNode extends NodeBase {
  readonly type: 'File';
  readonly file: string;
  readonly declarations: readonly DeclarationNode[];
}

/** `name = kind type { … }` (classic) or `name = type { … }` (short; `kind` is null). */
export interface DeclarationNode extends NodeBase {
  readonly type: 'Declaration';
  readonly name: IdentifierNode;
  readonly kind: IdentifierNode | null;
  readonly componentType: IdentifierNode;
  readonly body: MapNode;
  /** True when the header was malformed (a syntax error was reported) but still named a component. */
  readonly recovered: boolean;
}

/** A name: a declaration's name, kind or type, or a map key (`quoted` when written as a string). */
export interface IdentifierNode extends NodeBase {
  readonly type: 'Identifier';
  readonly name: string;
  readonly quoted?: boolean;
}

export interface MapNode extends NodeBase {
  readonly type: 'Map';
  readonly entries: readonly EntryNode[];
  /** False when the `}` was missing (a diagnostic was reported). */
  readonly closed: boolean;
}

export interface EntryNode extends NodeBase {
  readonly type: 'Entry';
  readonly key: IdentifierNode;
  /** `:` (classic), `=` (short) or null when it was missing (a diagnostic was reported). */
  readonly separator: ':' | '=' | null;
  readonly value: ValueNode;
}

export interface ListNode extends NodeBase {
  readonly type: 'List';
  readonly items: readonly ValueNode[];
  readonly closed: boolean;
}

export interface StringNode extends NodeBase {
  readonly type: 'String';
  /** The text with escapes applied. */
  readonly value: string;
  readonly quote: '"' | "'" | '"""';
}

/** A string that interpolates environment variables: `"Bearer ${TOKEN}"`. */
export interface TemplateNode extends NodeBase {
  readonly type: 'Template';
  readonly parts: readonly (string | EnvReferenceNode)[];
  readonly quote: '"' | "'" | '"""';
}

export interface NumberNode extends NodeBase {
  readonly type: 'Number';
  readonly value: number;
  /** As written (`10_000`, `1e3`). */
  readonly raw: string;
}

export interface BooleanNode extends NodeBase {
  readonly type: 'Boolean';
  readonly value: boolean;
  readonly raw: string;
}

export interface NullNode extends NodeBase {
  readonly type: 'Null';
  readonly raw: string;
}

/** `$NAME`, `${NAME}` or `${NAME:-default}`. */
export interface EnvReferenceNode extends NodeBase {
  readonly type: 'EnvReference';
  readonly name: string;
  readonly default?: string;
}

/** A bare name: refers to another declaration in the same file. */
export interface ReferenceNode extends NodeBase {
  readonly type: 'Reference';
  readonly name: string;
}

/** What is left where a value could not be read; a diagnostic was already reported for it. */
export interface InvalidNode extends NodeBase {
  readonly type: 'Invalid';
  readonly text: string;
}

export type ValueNode =
  | StringNode
  | TemplateNode
  | NumberNode
  | BooleanNode
  | NullNode
  | EnvReferenceNode
  | ReferenceNode
  | ListNode
  | MapNode
  | InvalidNode;
