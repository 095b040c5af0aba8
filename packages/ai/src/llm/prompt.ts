/**
 * System prompts: inline text, or `prompt = { file, variables }` read once at start, with the
 * classic engine's `{name}` placeholders. Placeholders are filled per message from, in order: the
 * file's `variables`, the message's `context` (what a pipe added, `{ received_at }`), and
 * `{session_id}`. A placeholder with no value stays as written, so JSON or code in a prompt
 * (`{"a": 1}`, `function () {}`) is never mangled; `{{` and `}}` write literal braces.
 */
import { readFile } from 'node:fs/promises';
import { WoodworkAiError } from '../errors.js';

export type PromptSpec = string | { readonly file: string; readonly variables?: Readonly<Record<string, unknown>> } | undefined;

export interface PromptTemplate {
  /** The system prompt for one message; undefined when the component has none. */
  render(values: { readonly sessionId: string; readonly context: Readonly<Record<string, unknown>> | undefined }): string | undefined;
}

const PLACEHOLDER = /\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function fill(template: string, lookup: (name: string) => string | undefined): string {
  return template.replace(PLACEHOLDER, (match, name: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    return lookup(name!) ?? match;
  });
}

function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
}

/** Reads the prompt file (when there is one) and returns the template. */
export async function loadPrompt(
  spec: PromptSpec,
  options: { readonly component: string; readonly resolvePath: (path: string) => string },
): Promise<PromptTemplate> {
  if (spec === undefined || spec === null || spec === '') return { render: () => undefined };
  let text: string;
  let variables: Readonly<Record<string, unknown>> = {};
  if (typeof spec === 'string') {
    text = spec;
  } else {
    const file = options.resolvePath(spec.file);
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new WoodworkAiError('WW_AI_PROMPT', `component \`${options.component}\`: cannot read its prompt file ${spec.file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, {
        component: options.component,
        hint: 'the path in `prompt = { file = … }` is relative to the .ww file',
      });
    }
    variables = spec.variables ?? {};
  }
  const trimmed = text.trim();
  return {
    render: ({ sessionId, context }) =>
      fill(trimmed, (name) => asText(Object.hasOwn(variables, name) ? variables[name] : context && Object.hasOwn(context, name) ? context[name] : name === 'session_id' ? sessionId : undefined)),
  };
}
