/**
 * Go to definition, find references and rename for component names, and definition for pipe and
 * hook targets: `"pipes.ts::trim"` jumps to `trim` in pipes.ts, read the way `woodwork validate`
 * reads it (findModuleExports), so a target the editor can reach is one validation accepts.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { findModuleExports, type PipeSpec } from '@woodwork/parser';
import type { DocumentModel } from './document-model.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const RESERVED = new Set(['true', 'false', 'null']);

export interface Span {
  readonly start: number;
  readonly end: number;
}

/** The component name under the offset (a declaration's name or a reference), with where it is written. */
export function nameAt(model: DocumentModel, offset: number): (Span & { readonly name: string }) | undefined {
  const target = model.targetAt(offset);
  if (target?.type !== 'name' && target?.type !== 'reference') return undefined;
  return { name: target.node.name, start: target.node.start, end: target.node.end };
}

export function definitionOf(model: DocumentModel, offset: number): Span | undefined {
  const found = nameAt(model, offset);
  return found ? model.declarations.get(found.name)?.name : undefined;
}

export function referencesOf(model: DocumentModel, offset: number, includeDeclaration: boolean): Span[] {
  const found = nameAt(model, offset);
  if (!found) return [];
  return model.occurrences(found.name).filter((occurrence) => includeDeclaration || !occurrence.declaration);
}

/** Why a new name cannot be used, or undefined when it can. */
export function checkNewName(model: DocumentModel, oldName: string, newName: string): string | undefined {
  if (!NAME.test(newName)) return `\`${newName}\` is not a component name: letters, digits, \`_\` and \`-\`, not starting with a digit or \`-\``;
  if (RESERVED.has(newName.toLowerCase())) return `\`${newName}\` is reserved (true, false and null are values)`;
  if (newName !== oldName && model.declarations.has(newName)) return `a component named \`${newName}\` is already declared`;
  return undefined;
}

/** The pipe or hook spec whose text holds the offset, when it names a module inside the project. */
export function pipeSpecAt(model: DocumentModel, offset: number): PipeSpec | undefined {
  for (const component of model.topology.components) {
    for (const spec of [...component.pipes, ...component.hooks]) {
      if (spec.location.offset <= offset && offset <= spec.location.endOffset) return spec;
    }
  }
  return undefined;
}

/**
 * Where a pipe's function is: the file and the offsets of the exported name, or the file's start
 * when the module does not say (or cannot be read: the diagnostics say so, the jump still opens it).
 */
export async function pipeTargetOf(file: string, spec: PipeSpec): Promise<{ readonly file: string; readonly text: string | undefined; readonly span: Span }> {
  const target = path.resolve(path.dirname(file), spec.module);
  let text: string | undefined;
  try {
    text = await readFile(target, 'utf8');
  } catch {
    return { file: target, text: undefined, span: { start: 0, end: 0 } };
  }
  const found = findModuleExports(text, spec.language).names.get(spec.export);
  return { file: target, text, span: found ?? { start: 0, end: 0 } };
}
