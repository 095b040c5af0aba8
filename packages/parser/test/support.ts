// Helpers shared by the parser's tests: run the whole pipeline on a snippet and look at the parts.
import { analyze, parse, type Diagnostic, type DiagnosticCode, type ValueNode } from '../src/index.js';

export interface Checked {
  readonly ast: ReturnType<typeof parse>['ast'];
  readonly topology: ReturnType<typeof analyze>['topology'];
  readonly syntax: Diagnostic[];
  readonly semantic: Diagnostic[];
  readonly diagnostics: Diagnostic[];
  readonly errors: Diagnostic[];
}

/** Parses and analyses `source` as `main.ww`. */
export function check(source: string, options: { file?: string; projectRoot?: string } = {}): Checked {
  const file = options.file ?? 'main.ww';
  const parsed = parse(source, { file });
  const analyzed = analyze(parsed.ast, { file, ...(options.projectRoot ? { projectRoot: options.projectRoot } : {}) });
  const diagnostics = [...parsed.diagnostics, ...analyzed.diagnostics];
  return {
    ast: parsed.ast,
    topology: analyzed.topology,
    syntax: parsed.diagnostics,
    semantic: analyzed.diagnostics,
    diagnostics,
    errors: diagnostics.filter((diagnostic) => diagnostic.severity === 'error'),
  };
}

/** The codes of every diagnostic, in order. */
export function codes(source: string): DiagnosticCode[] {
  return check(source).diagnostics.map((diagnostic) => diagnostic.code);
}

/** The syntax-tree value of `value` written as an entry's value (`v: <value>`). */
export function valueOf(value: string): ValueNode {
  const parsed = parse(`x = transform echo {\n  v: ${value}\n}\n`, { file: 'main.ww' });
  if (parsed.diagnostics.length > 0) throw new Error(`unexpected diagnostics: ${JSON.stringify(parsed.diagnostics)}`);
  const entry = parsed.ast.declarations[0]?.body.entries[0];
  if (!entry) throw new Error('no entry');
  return entry.value;
}

/** A plain-JSON view of a value node: strings, numbers, `{ref}`, `{env}`, arrays and objects. */
export function plain(node: ValueNode): unknown {
  switch (node.type) {
    case 'String':
    case 'Number':
    case 'Boolean':
      return node.value;
    case 'Null':
      return null;
    case 'Reference':
      return { ref: node.name };
    case 'EnvReference':
      return node.default === undefined ? { env: node.name } : { env: node.name, default: node.default };
    case 'Template':
      return { template: node.parts.map((part) => (typeof part === 'string' ? part : { env: part.name, default: part.default })) };
    case 'List':
      return node.items.map(plain);
    case 'Map':
      return Object.fromEntries(node.entries.map((entry) => [entry.key.name, plain(entry.value)]));
    case 'Invalid':
      return { invalid: node.text };
  }
}

/** `line:column` of a diagnostic, for compact assertions. */
export function at(diagnostic: Diagnostic | undefined): string {
  return diagnostic ? `${diagnostic.line}:${diagnostic.column}` : '(none)';
}
