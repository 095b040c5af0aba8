/**
 * Completion: kinds and types after `name =`, the keys a map accepts (with their descriptions and
 * defaults), and values where the catalogue knows them: names of components of the right kind,
 * enum values, booleans. The syntax tree says which map the cursor is in; the text of the line says
 * whether a key or a value is being typed, since half-typed text is rarely a tree yet.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { catalogue, findModuleExports, moduleLanguageOf, type KeySpec, type ValueSpec } from '@woodwork/parser';
import { CompletionItemKind, MarkupKind, type CompletionItem } from 'vscode-languageserver';
import { itemsOf, type DocumentModel, type MapPlace } from './document-model.js';
import { keyDetail, keyDocumentation, kindDocumentation, kindSpecOf, typeDocumentation } from './documentation.js';

const NAME = '[A-Za-z_][A-Za-z0-9_-]*';
const HEADER_TYPE = new RegExp(`^\\s*${NAME}\\s*=\\s*(${NAME})\\s+(${NAME})?$`);
const HEADER_KIND = new RegExp(`^\\s*${NAME}\\s*=\\s*(${NAME})?$`);
const VALUE = new RegExp(`(${NAME}|"[^"]*"|'[^']*')\\s*[:=]\\s*(${NAME})?$`);
const KEY = new RegExp(`(?:^|[{,;])\\s*(${NAME})?$`);
const LIST_ITEM = new RegExp(`(?:\\[|,|^)\\s*(${NAME})?$`);
/** `"pipes.ts::` and what follows it inside an open string: a pipe or hook's function being typed. */
const FUNCTION_TARGET = /["']([^"'\n]*)::[A-Za-z0-9_$]*$/;
const FUNCTION_KEY = /\bfunction\s*[:=]\s*["'][^"'\n]*$/;

export function complete(model: DocumentModel, offset: number): CompletionItem[] {
  const lineStart = model.text.lastIndexOf('\n', offset - 1) + 1;
  const place = model.mapAt(offset);
  if (!place) return completeHeader(model.text.slice(lineStart, offset));

  const typed = model.text.slice(Math.max(lineStart, place.map.start + 1), offset);
  const list = model.listAt(place, offset);
  if (list) {
    const since = model.text.slice(Math.max(lineStart, list.list.start + 1), offset);
    const spec = place.accepts?.[list.entry.key.name]?.value;
    return LIST_ITEM.test(since) ? completeValue(model, place, itemsOf(spec) ?? spec) : [];
  }
  const value = VALUE.exec(typed);
  if (value) return completeValue(model, place, place.accepts?.[unquote(value[1] as string)]?.value);
  const key = KEY.exec(typed);
  if (key) return completeKeys(place, key[1]);
  return [];
}

/**
 * The functions a pipe or hook module exports, after `"module.ts::` in `pipes`, `hooks` or a hook's
 * `function`: read as `woodwork validate` reads them, so what is offered is what validates. Undefined
 * when the cursor is not there (then `complete` answers).
 */
export async function completeFunctionName(model: DocumentModel, offset: number): Promise<CompletionItem[] | undefined> {
  const lineStart = model.text.lastIndexOf('\n', offset - 1) + 1;
  const typed = model.text.slice(lineStart, offset);
  const target = FUNCTION_TARGET.exec(typed);
  const place = target && model.mapAt(offset);
  if (!target || !place || !path.isAbsolute(model.file)) return undefined;
  const list = model.listAt(place, offset)?.entry.key.name;
  if (list !== 'pipes' && list !== 'hooks' && !FUNCTION_KEY.test(typed)) return undefined;
  const module = target[1] as string;
  const language = moduleLanguageOf(module);
  if (!language) return [];
  let text: string;
  try {
    text = await readFile(path.resolve(path.dirname(model.file), module), 'utf8');
  } catch {
    return [];
  }
  return [...findModuleExports(text, language).names.keys()]
    .filter((name) => name !== 'default')
    .map((name) => ({ label: name, kind: CompletionItemKind.Function, detail: `exported by ${module}` }));
}

function completeHeader(line: string): CompletionItem[] {
  const twoWords = HEADER_TYPE.exec(line);
  if (twoWords) {
    const kind = twoWords[1] as string;
    const spec = kindSpecOf(kind);
    if (!spec) return [];
    return Object.entries(spec.types)
      .filter(([, type]) => type.status !== 'unsupported')
      .map(([type, typeSpec]) => ({
        label: type,
        kind: CompletionItemKind.Class,
        detail: `${kind} ${type}`,
        documentation: markdown(typeDocumentation({ kind, type, kindSpec: spec, typeSpec })),
      }));
  }
  if (!HEADER_KIND.test(line)) return [];
  const items: CompletionItem[] = [];
  for (const [kind, kindSpec] of Object.entries(catalogue.kinds)) {
    if (kindSpec.status === 'unsupported') continue;
    items.push({ label: kind, kind: CompletionItemKind.Module, detail: `kind: ${kindSpec.description}`, documentation: markdown(kindDocumentation(kind, kindSpec)), sortText: `1${kind}` });
  }
  // The one-word form: a type alone, its kind inferred. A type of several kinds is offered once per
  // kind, as the two-word form that says which.
  const byType = new Map<string, string[]>();
  for (const [kind, kindSpec] of Object.entries(catalogue.kinds)) {
    if (kindSpec.status === 'unsupported' || kindSpec.spelledOnly) continue;
    for (const [type, typeSpec] of Object.entries(kindSpec.types)) {
      if (typeSpec.status !== 'unsupported') byType.set(type, [...(byType.get(type) ?? []), kind]);
    }
  }
  for (const [type, kinds] of byType) {
    for (const kind of kinds) {
      const kindSpec = catalogue.kinds[kind] as (typeof catalogue.kinds)[string];
      const typeSpec = kindSpec.types[type] as (typeof kindSpec.types)[string];
      items.push({
        label: kinds.length === 1 ? type : `${kind} ${type}`,
        kind: CompletionItemKind.Class,
        detail: `${kind} ${type}`,
        documentation: markdown(typeDocumentation({ kind, type, kindSpec, typeSpec })),
        sortText: `0${type}`,
      });
    }
  }
  return items;
}

function completeKeys(place: MapPlace, typing: string | undefined): CompletionItem[] {
  if (!place.accepts) return [];
  const present = new Set(place.map.entries.map((entry) => entry.key.name));
  if (typing) present.delete(typing);
  const separator = separatorOf(place);
  return Object.entries(place.accepts)
    .filter(([key]) => !present.has(key))
    .map(([key, spec]: [string, KeySpec]) => ({
      label: key,
      kind: CompletionItemKind.Property,
      detail: keyDetail(spec),
      documentation: markdown(keyDocumentation(key, spec)),
      insertText: `${key}${separator}`,
      // Required keys first: a new block needs them before anything else.
      sortText: `${spec.required ? 0 : 1}${key}`,
    }));
}

function completeValue(model: DocumentModel, place: MapPlace, spec: ValueSpec | undefined): CompletionItem[] {
  const items = new Map<string, CompletionItem>();
  const add = (item: CompletionItem) => {
    if (!items.has(item.label)) items.set(item.label, item);
  };
  const visit = (value: ValueSpec | undefined): void => {
    if (!value) return;
    switch (value.type) {
      case 'reference':
        for (const [name, declaration] of model.declarations) {
          if (declaration === place.declaration) continue;
          const match = model.matchOf(declaration);
          if (!match) continue;
          if (value.kinds && value.kinds.length > 0 && !value.kinds.includes(match.kind)) continue;
          if (value.receiver && !match.kindSpec.receives) continue;
          add({ label: name, kind: CompletionItemKind.Reference, detail: `${match.kind} ${match.type}`, documentation: markdown(typeDocumentation(match)) });
        }
        return;
      case 'enum':
        for (const option of value.values) add({ label: `"${option}"`, kind: CompletionItemKind.EnumMember });
        return;
      case 'boolean':
        for (const option of ['true', 'false']) add({ label: option, kind: CompletionItemKind.Keyword });
        return;
      case 'oneOf':
        for (const option of value.options) visit(option);
        return;
      case 'list':
        visit(value.items);
        return;
      default:
        return;
    }
  };
  visit(spec);
  return [...items.values()];
}

/** The dialect of the block: its first entry's separator, else `:` under a classic two-word header. */
function separatorOf(place: MapPlace): string {
  const written = place.map.entries.find((entry) => entry.separator !== null)?.separator ?? (place.declaration.kind ? ':' : '=');
  return written === ':' ? ': ' : ' = ';
}

function unquote(key: string): string {
  return /^["']/.test(key) ? key.slice(1, -1) : key;
}

function markdown(value: string) {
  return { kind: MarkupKind.Markdown, value };
}
