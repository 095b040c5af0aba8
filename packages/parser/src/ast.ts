/**
 * The syntax tree of a `.ww` file, as the grammar (grammar/ww.peggy) builds it: every node carries
 * its source location, nothing is resolved yet (a bare name is a `Reference`, `$NAME` an
 * `EnvReference`). `analyze()` turns it into a topology.
 */
import type { SourceLocation } from './location.js';

export interface FileNode {
  readonly type: 'File';
  readonly file: string;
  readonly declarations: readonly DeclarationNode[];
  readonly location: SourceLocation;
}

/** `name = kind type { … }` (classic) or `name = type { … }` (short; `kind` is null). */
export interface DeclarationNode {
  readonly type: 'Declaration';
  readonly name: IdentifierNode;
  readonly kind: IdentifierNode | null;
  readonly componentType: IdentifierNode;
  readonly body: MapNode;
  /** True when the header was malformed (a syntax error was reported) but still named a component. */
  readonly recovered: boolean;
  readonly location: SourceLocation;
}

/** A name: a declaration's name, kind or type, or a map key (`quoted` when written as a string). */
export interface IdentifierNode {
  readonly type: 'Identifier';
  readonly name: string;
  readonly quoted?: boolean;
  readonly location: SourceLocation;
}

export interface MapNode {
  readonly type: 'Map';
  readonly entries: readonly EntryNode[];
  /** False when the `}` was missing (a diagnostic was reported). */
  readonly closed: boolean;
  readonly location: SourceLocation;
}

export interface EntryNode {
  readonly type: 'Entry';
  readonly key: IdentifierNode;
  /** `:` (classic), `=` (short) or null when it was missing (a diagnostic was reported). */
  readonly separator: ':' | '=' | null;
  readonly value: ValueNode;
  readonly location: SourceLocation;
}

export interface ListNode {
  readonly type: 'List';
  readonly items: readonly ValueNode[];
  readonly closed: boolean;
  readonly location: SourceLocation;
}

export interface StringNode {
  readonly type: 'String';
  /** The text with escapes applied. */
  readonly value: string;
  readonly quote: '"' | "'" | '"""';
  readonly location: SourceLocation;
}

/** A string that interpolates environment variables: `"Bearer ${TOKEN}"`. */
export interface TemplateNode {
  readonly type: 'Template';
  readonly parts: readonly (string | EnvReferenceNode)[];
  readonly quote: '"' | "'" | '"""';
  readonly location: SourceLocation;
}

export interface NumberNode {
  readonly type: 'Number';
  readonly value: number;
  /** As written (`10_000`, `1e3`). */
  readonly raw: string;
  readonly location: SourceLocation;
}

export interface BooleanNode {
  readonly type: 'Boolean';
  readonly value: boolean;
  readonly raw: string;
  readonly location: SourceLocation;
}

export interface NullNode {
  readonly type: 'Null';
  readonly raw: string;
  readonly location: SourceLocation;
}

/** `$NAME`, `${NAME}` or `${NAME:-default}`. */
export interface EnvReferenceNode {
  readonly type: 'EnvReference';
  readonly name: string;
  readonly default?: string;
  readonly location: SourceLocation;
}

/** A bare name: refers to another declaration in the same file. */
export interface ReferenceNode {
  readonly type: 'Reference';
  readonly name: string;
  readonly location: SourceLocation;
}

/** What is left where a value could not be read; a diagnostic was already reported for it. */
export interface InvalidNode {
  readonly type: 'Invalid';
  readonly text: string;
  readonly location: SourceLocation;
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
