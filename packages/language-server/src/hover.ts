/**
 * Hover: the catalogue's documentation for a kind, a type or a key, and for a component name (a
 * declaration or a reference to it) what it was declared as.
 */
import { findComponentType } from '@woodwork/parser';
import type { DocumentModel } from './document-model.js';
import { keyDocumentation, kindDocumentation, kindSpecOf, typeDocumentation } from './documentation.js';

export function hover(model: DocumentModel, offset: number): { readonly contents: string; readonly start: number; readonly end: number } | undefined {
  const target = model.targetAt(offset);
  if (!target) return undefined;
  const at = (contents: string | undefined, node: { start: number; end: number }) => (contents ? { contents, start: node.start, end: node.end } : undefined);
  switch (target.type) {
    case 'kind': {
      const spec = kindSpecOf(target.node.name);
      return at(spec && kindDocumentation(target.node.name, spec), target.node);
    }
    case 'component-type': {
      // A duplicate declaration did not resolve: its two words, when written, still say what it is.
      const { declaration } = target;
      const match = model.matchOf(declaration) ?? (declaration.kind ? findComponentType(declaration.kind.name, target.node.name) : undefined);
      return at(match && typeDocumentation(match), target.node);
    }
    case 'key':
      return at(target.spec && keyDocumentation(target.entry.key.name, target.spec), target.entry.key);
    case 'name':
    case 'reference': {
      const name = target.node.name;
      const declaration = model.declarations.get(name);
      if (!declaration) return undefined;
      const match = model.matchOf(declaration);
      const header = `\`${name} = ${declaration.kind ? `${declaration.kind.name} ` : ''}${declaration.componentType.name}\``;
      const line = `declared at line ${declaration.name.location.line}`;
      return at(match ? `${header}, ${line}\n\n${typeDocumentation(match)}` : `${header}, ${line}`, target.node);
    }
  }
}
