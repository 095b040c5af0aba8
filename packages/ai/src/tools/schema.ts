/**
 * Input schemas for the functions of an `api functions` module: what the model is told each tool
 * takes. In order of preference:
 *
 *  1. a zod schema exported beside the function — `export const searchSchema = z.object({ … })`
 *     (also `search_schema`, or `export const schemas = { search: z.object({ … }) }`); the
 *     function then gets one argument, the validated input object;
 *  2. the function's own signature: TypeScript parameter types (`city: string`, `days = 3`,
 *     `unit?: 'c' | 'f'`, `tags: string[]`), JSDoc `@param {type} name text` lines (plain JS), and
 *     Python type hints (`city: str`, `days: int = 3`) with the docstring's `name: text` lines; the
 *     function gets its parameters positionally, by name, from the input object. A single
 *     destructured parameter (`({ city, days }: { city: string; days?: number })`) takes the input
 *     object as it is.
 *
 * Types the reader cannot map become "any JSON value" rather than an error: the model still sees
 * the parameter's name and description, and the function receives what the model sent.
 */
import { z } from 'zod';
import type { JsonSchema } from './protocol.js';

/** How the function is called with the model's input object. */
export type CallStyle = { readonly kind: 'object' } | { readonly kind: 'positional'; readonly names: readonly string[] };

export interface DerivedSchema {
  readonly parameters: JsonSchema;
  readonly call: CallStyle;
  /** A zod schema to check the input with before the call, when the module gave one. */
  readonly validate?: (input: unknown) => { ok: true; value: unknown } | { ok: false; message: string };
  /** Where the schema came from: for `woodwork` messages and docs. */
  readonly source: 'zod' | 'signature' | 'names';
}

type Schema = Record<string, unknown>;

function isZodSchema(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value && typeof (value as { safeParse?: unknown }).safeParse === 'function';
}

/** The zod schema the module exports for `name`, if any. */
export function zodSchemaFor(values: Readonly<Record<string, unknown>>, name: string): z.ZodType | undefined {
  for (const candidate of [values[`${name}Schema`], values[`${name}_schema`], (values.schemas as Record<string, unknown> | undefined)?.[name]]) {
    if (isZodSchema(candidate)) return candidate;
  }
  return undefined;
}

export function fromZod(schema: z.ZodType): DerivedSchema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Schema;
  delete json.$schema;
  // A tool's input is an object; a schema of anything else becomes `{ value }`.
  const objectLike = json.type === 'object';
  return {
    parameters: (objectLike ? json : { type: 'object', properties: { value: json }, required: ['value'] }) as JsonSchema,
    call: { kind: 'object' },
    validate: (input) => {
      const parsed = schema.safeParse(objectLike ? input : (input as { value?: unknown } | null)?.value);
      return parsed.success ? { ok: true, value: parsed.data } : { ok: false, message: z.prettifyError(parsed.error) };
    },
    source: 'zod',
  };
}

// ---------------------------------------------------------------------------------------------
// Signatures

/** Splits at commas that are not inside brackets or strings. */
function splitTopLevel(text: string, separator = ','): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let current = '';
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (quote) {
      current += char;
      if (char === '\\') current += text[++index] ?? '';
      else if (char === quote) quote = undefined;
      continue;
    }
    if (char === '"' || char === "'" || char === '`') quote = char;
    else if ('([{<'.includes(char)) depth++;
    else if (')]}>'.includes(char) && !(char === '>' && text[index - 1] === '=')) depth--;
    if (char === separator && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  if (current.trim() !== '') parts.push(current);
  return parts.map((part) => part.trim()).filter((part) => part !== '');
}

/** The text between the parenthesis at `open` and its match. */
function balanced(source: string, open: number): string | undefined {
  let depth = 0;
  for (let index = open; index < source.length; index++) {
    const char = source[index];
    if (char === '(') depth++;
    else if (char === ')' && --depth === 0) return source.slice(open + 1, index);
  }
  return undefined;
}

function literal(text: string): unknown {
  const trimmed = text.trim();
  if (/^-?\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  if (/^(true|false|True|False)$/.test(trimmed)) return trimmed.toLowerCase() === 'true';
  const quoted = /^(['"`])(.*)\1$/s.exec(trimmed);
  if (quoted) return quoted[2];
  return undefined;
}

/** A TypeScript or Python type, as JSON Schema; `{}` (any) when it is not a simple one. */
export function typeSchema(type: string | undefined): Schema {
  if (type === undefined) return {};
  const text = type.trim().replace(/^Optional\[(.*)\]$/, '$1');
  const union = splitTopLevel(text, '|');
  if (union.length > 1) {
    const members = union.filter((member) => !/^(undefined|null|None)$/.test(member));
    const literals = members.map(literal);
    if (literals.every((value) => typeof value === 'string')) return { type: 'string', enum: literals };
    if (members.length === 1) return typeSchema(members[0]);
    return { anyOf: members.map(typeSchema) };
  }
  const array = /^(.*)\[\]$/.exec(text) ?? /^(?:Array|ReadonlyArray|list|List|Sequence)\[?<?(.*?)[>\]]?$/.exec(text);
  if (array && array[1] !== undefined && text !== 'list' && text !== 'List') return { type: 'array', items: typeSchema(array[1]) };
  switch (text) {
    case 'string':
    case 'str':
      return { type: 'string' };
    case 'number':
    case 'float':
      return { type: 'number' };
    case 'int':
    case 'bigint':
      return { type: 'integer' };
    case 'boolean':
    case 'bool':
      return { type: 'boolean' };
    case 'list':
    case 'List':
      return { type: 'array' };
    case 'dict':
    case 'Dict':
    case 'object':
    case 'Record<string, unknown>':
      return { type: 'object' };
    default: {
      const quoted = literal(text);
      if (typeof quoted === 'string') return { type: 'string', enum: [quoted] };
      return {};
    }
  }
}

interface Parameter {
  readonly name: string;
  readonly type: string | undefined;
  readonly optional: boolean;
  readonly defaultValue: unknown;
  /** `{ a, b }: { a: string }` */
  readonly pattern?: readonly Parameter[];
}

function parseParameter(text: string, language: 'ts' | 'python'): Parameter | undefined {
  let rest = text.replace(/\/\*[\s\S]*?\*\//g, '').trim();
  if (language === 'python' && /^\*/.test(rest)) return undefined; // *args, **kwargs
  rest = rest.replace(/^\.\.\./, '');
  let defaultText: string | undefined;
  const parts = splitTopLevel(rest, '=').length > 1 ? splitAtFirstTopLevel(rest, '=') : [rest];
  if (parts.length > 1) {
    rest = parts[0]!.trim();
    defaultText = parts[1]!.trim();
  }
  if (rest.startsWith('{')) {
    const close = matchingBrace(rest);
    const inner = rest.slice(1, close);
    const typeText = rest.slice(close + 1).replace(/^\s*:\s*/, '');
    const typeMembers = typeText.startsWith('{') ? memberTypes(typeText.slice(1, matchingBrace(typeText))) : new Map<string, { type: string; optional: boolean }>();
    const pattern = splitTopLevel(inner)
      .map((member) => {
        const [head, fallback] = splitAtFirstTopLevel(member, '=');
        const name = head!.split(':')[0]!.trim();
        const typed = typeMembers.get(name);
        return { name, type: typed?.type, optional: typed?.optional === true || fallback !== undefined, defaultValue: fallback === undefined ? undefined : literal(fallback) };
      })
      .filter((member) => /^[A-Za-z_$][\w$]*$/.test(member.name));
    return { name: '(object)', type: undefined, optional: defaultText !== undefined, defaultValue: undefined, pattern };
  }
  const colon = rest.indexOf(':');
  let name = (colon === -1 ? rest : rest.slice(0, colon)).trim();
  const type = colon === -1 ? undefined : rest.slice(colon + 1).trim();
  let optional = defaultText !== undefined;
  if (name.endsWith('?')) {
    name = name.slice(0, -1);
    optional = true;
  }
  if (!/^[A-Za-z_$][\w$]*$/.test(name) || name === 'self' || name === 'this') return undefined;
  return { name, type, optional, defaultValue: defaultText === undefined ? undefined : literal(defaultText) };
}

function splitAtFirstTopLevel(text: string, separator: string): string[] {
  const parts = splitTopLevel(text, separator);
  if (parts.length <= 1) return [text];
  const first = parts[0]!;
  const index = text.indexOf(separator, text.indexOf(first) + first.length);
  return [text.slice(0, index), text.slice(index + 1)];
}

function matchingBrace(text: string): number {
  let depth = 0;
  for (let index = 0; index < text.length; index++) {
    if (text[index] === '{') depth++;
    else if (text[index] === '}' && --depth === 0) return index;
  }
  return text.length;
}

function memberTypes(body: string): Map<string, { type: string; optional: boolean }> {
  const members = new Map<string, { type: string; optional: boolean }>();
  for (const member of splitTopLevel(body.replace(/;/g, ','))) {
    const match = /^(?:readonly\s+)?([A-Za-z_$][\w$]*)(\??)\s*:\s*([\s\S]+)$/.exec(member);
    if (match) members.set(match[1]!, { type: match[3]!.trim(), optional: match[2] === '?' });
  }
  return members;
}

/** The parameter list of `name` in a JS/TS or Python source. */
function signatureOf(source: string, name: string, language: 'ts' | 'python'): string | undefined {
  const escaped = name.replace(/\$/g, '\\$');
  const pattern =
    language === 'python'
      ? new RegExp(`^\\s*(?:async\\s+)?def\\s+${escaped}\\s*\\(`, 'm')
      : new RegExp(`export\\s+(?:default\\s+)?(?:async\\s+)?(?:function\\s*\\*?\\s*${escaped}\\s*(?:<[^>]*>)?\\s*\\(|(?:const|let)\\s+${escaped}\\s*(?::[^=]+)?=\\s*(?:async\\s*)?(?:function\\s*\\*?\\s*[\\w$]*\\s*)?\\()`);
  const match = pattern.exec(source);
  if (!match) return undefined;
  return balanced(source, match.index + match[0].length - 1);
}

/** `@param {type} name text` lines of the JSDoc before `name`, and Python docstring `name: text` / `name (type): text` lines. */
function parameterDocs(source: string, name: string, language: 'ts' | 'python', description: string | undefined): Map<string, { type?: string; text?: string }> {
  const docs = new Map<string, { type?: string; text?: string }>();
  if (language === 'ts') {
    const escaped = name.replace(/\$/g, '\\$');
    const jsdoc = new RegExp(`/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*export\\s+(?:default\\s+)?(?:async\\s+)?(?:function\\s*\\*?\\s*|const\\s+|let\\s+)${escaped}\\b`).exec(source);
    for (const line of jsdoc?.[1]?.split('\n') ?? []) {
      const match = /@param\s+(?:\{([^}]*)\}\s*)?\[?([A-Za-z_$][\w$.]*)(?:=[^\]]*)?\]?\s*(?:-\s*)?(.*)$/.exec(line.replace(/^\s*\*\s?/, ''));
      if (match) docs.set(match[2]!.replace(/^[^.]*\./, ''), { ...(match[1] ? { type: match[1] } : {}), ...(match[3] ? { text: match[3].trim() } : {}) });
    }
  } else {
    for (const line of (description ?? '').split('\n')) {
      const match = /^\s*([A-Za-z_]\w*)\s*(?:\(([^)]*)\))?\s*:\s*(.+)$/.exec(line);
      if (match) docs.set(match[1]!, { ...(match[2] ? { type: match[2] } : {}), text: match[3]!.trim() });
    }
  }
  return docs;
}

/** The schema of a function from its signature (and docs); falls back to its parameter names. */
export function fromSignature(options: {
  readonly name: string;
  readonly source: string | undefined;
  readonly language: 'ts' | 'python';
  readonly parameterNames: readonly string[];
  readonly description: string | undefined;
}): DerivedSchema {
  const { name, source, language, parameterNames, description } = options;
  const list = source === undefined ? undefined : signatureOf(source, name, language);
  const docs = source === undefined ? new Map() : parameterDocs(source, name, language, description);
  let parameters: Parameter[] | undefined;
  if (list !== undefined) {
    const parsed = splitTopLevel(list).map((text) => parseParameter(text, language));
    parameters = parsed.filter((parameter): parameter is Parameter => parameter !== undefined);
  }
  const property = (parameter: Parameter): Schema => {
    const doc = docs.get(parameter.name) as { type?: string; text?: string } | undefined;
    const schema: Schema = { ...typeSchema(parameter.type ?? doc?.type) };
    if (schema.type === undefined && schema.anyOf === undefined && parameter.defaultValue !== undefined) {
      const kind = typeof parameter.defaultValue;
      schema.type = kind === 'number' ? 'number' : kind === 'boolean' ? 'boolean' : 'string';
    }
    if (parameter.defaultValue !== undefined) schema.default = parameter.defaultValue;
    if (doc?.text) schema.description = doc.text;
    return schema;
  };
  const objectOf = (members: readonly Parameter[]): JsonSchema => ({
    type: 'object',
    properties: Object.fromEntries(members.map((member) => [member.name, property(member)])),
    required: members.filter((member) => !member.optional).map((member) => member.name),
    additionalProperties: false,
  } as unknown as JsonSchema);
  if (parameters !== undefined) {
    if (parameters.length === 1 && parameters[0]!.pattern) return { parameters: objectOf(parameters[0]!.pattern), call: { kind: 'object' }, source: 'signature' };
    return { parameters: objectOf(parameters), call: { kind: 'positional', names: parameters.map((parameter) => parameter.name) }, source: 'signature' };
  }
  const named = parameterNames.map((parameterName) => ({ name: parameterName, type: undefined, optional: false, defaultValue: undefined }));
  return { parameters: objectOf(named), call: { kind: 'positional', names: named.map((parameter) => parameter.name) }, source: 'names' };
}
