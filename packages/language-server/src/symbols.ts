/**
 * The outline: one symbol per declaration (`name`, detail `kind type`), its keys beneath it, and the
 * keys of nested maps beneath theirs.
 */
import type { EntryNode, ValueNode } from '@woodwork/parser';
import { SymbolKind } from 'vscode-languageserver';
import type { DocumentModel } from './document-model.js';

export interface OutlineSymbol {
  readonly name: string;
  readonly detail: string;
  readonly kind: SymbolKind;
  readonly start: number;
  readonly end: number;
  readonly selectionStart: number;
  readonly selectionEnd: number;
  readonly children: OutlineSymbol[];
}

export function outline(model: DocumentModel): OutlineSymbol[] {
  return model.ast.declarations.map((declaration) => {
    const match = model.matchOf(declaration);
    const written = `${declaration.kind ? `${declaration.kind.name} ` : ''}${declaration.componentType.name}`;
    return {
      name: declaration.name.name,
      detail: match ? `${match.kind} ${match.type}` : written,
      kind: SymbolKind.Class,
      start: declaration.start,
      end: declaration.end,
      selectionStart: declaration.name.start,
      selectionEnd: declaration.name.end,
      children: declaration.body.entries.map(entrySymbol),
    };
  });
}

function entrySymbol(entry: EntryNode): OutlineSymbol {
  return {
    name: entry.key.name,
    detail: summary(entry.value),
    kind: entry.value.type === 'Map' ? SymbolKind.Object : SymbolKind.Property,
    start: entry.start,
    end: entry.end,
    selectionStart: entry.key.start,
    selectionEnd: entry.key.end,
    children: entry.value.type === 'Map' ? entry.value.entries.map(entrySymbol) : [],
  };
}

/** A short look at a value, as outlines show them: the text for scalars, a count for lists. */
function summary(value: ValueNode): string {
  switch (value.type) {
    case 'String':
      return JSON.stringify(value.value.length > 40 ? `${value.value.slice(0, 39)}…` : value.value);
    case 'Number':
    case 'Boolean':
    case 'Null':
      return value.raw;
    case 'Reference':
      return value.name;
    case 'EnvReference':
      return `$${value.name}`;
    case 'List':
      return `[${value.items.length}]`;
    case 'Map':
      return '{…}';
    case 'Template':
      return 'template';
    case 'Invalid':
      return '';
  }
}
