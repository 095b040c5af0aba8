/**
 * What a pipe, hook or tool module exports, read from its text without running it: `woodwork
 * validate` and the language server warn about `"pipes.ts::trimm"` before a run fails on it, and the
 * editor jumps to the function. A lexical reading, not a compiler's: where a module's exports cannot
 * be known without resolving or running something (`export * from`, `module.exports = …`,
 * `from x import *`), it says so (`complete: false`) and callers stay quiet rather than guess.
 */
import type { ModuleLanguage } from './pipe-spec.js';

export interface ModuleExports {
  /** Each name found, with the 0-based offsets of the name where it is declared or exported. */
  readonly names: ReadonlyMap<string, { readonly start: number; readonly end: number }>;
  /** False when the module may export names this reading cannot see. */
  readonly complete: boolean;
}

const JS_DECLARATION =
  /^[ \t]*export[ \t]+(?:declare[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?(?:function\b[ \t]*\*?[ \t]*|(?:abstract[ \t]+)?class[ \t]+|(?:const|let|var)[ \t]+)([A-Za-z_$][\w$]*)/gm;
const JS_DEFAULT = /^[ \t]*export[ \t]+default\b/gm;
const JS_LIST = /^[ \t]*export[ \t]+(?:type[ \t]+)?\{([^}]*)\}/gm;
const JS_NAMESPACE = /^[ \t]*export[ \t]+\*[ \t]+as[ \t]+([A-Za-z_$][\w$]*)/gm;
const JS_UNKNOWABLE = /^[ \t]*export[ \t]+\*[ \t]+from\b|^[ \t]*export[ \t]+(?:const|let|var)[ \t]*[{[]|\bmodule\.exports\b|\bexports\.[A-Za-z_$]|^[ \t]*export[ \t]*=/m;

const PY_DECLARATION = /^(?:async[ \t]+)?(?:def|class)[ \t]+([A-Za-z_]\w*)|^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)/gm;
const PY_IMPORT = /^from[ \t]+\S+[ \t]+import[ \t]+\(?([^)\n]*)\)?/gm;
const PY_UNKNOWABLE = /^from[ \t]+\S+[ \t]+import[ \t]+\*|^[ \t]*globals\(\)/m;

export function findModuleExports(text: string, language: ModuleLanguage): ModuleExports {
  const names = new Map<string, { start: number; end: number }>();
  const add = (name: string, start: number) => {
    if (!names.has(name)) names.set(name, { start, end: start + name.length });
  };
  if (language === 'python') {
    for (const match of text.matchAll(PY_DECLARATION)) {
      const name = (match[1] ?? match[2]) as string;
      add(name, match.index + match[0].indexOf(name));
    }
    for (const match of text.matchAll(PY_IMPORT)) addListed(match, /^\s*([A-Za-z_]\w*)(?:\s+as\s+([A-Za-z_]\w*))?\s*$/, add);
    return { names, complete: !PY_UNKNOWABLE.test(text) };
  }
  for (const match of text.matchAll(JS_DECLARATION)) {
    const name = match[1] as string;
    const start = match.index + match[0].lastIndexOf(name);
    add(name, start);
    if (/\bdefault\b/.test(match[0])) add('default', start);
  }
  for (const match of text.matchAll(JS_DEFAULT)) add('default', match.index + match[0].indexOf('default'));
  for (const match of text.matchAll(JS_NAMESPACE)) add(match[1] as string, match.index + match[0].lastIndexOf(match[1] as string));
  for (const match of text.matchAll(JS_LIST)) {
    addListed(match, /^\s*(?:type\s+)?([A-Za-z_$][\w$]*)(?:\s+as\s+([A-Za-z_$][\w$]*))?\s*$/, add);
  }
  return { names, complete: !JS_UNKNOWABLE.test(text) };
}

/** `{ a, b as c }` and `import a, b as c`: each exported name (the alias when there is one) at its offset. */
function addListed(match: RegExpExecArray | RegExpMatchArray, item: RegExp, add: (name: string, start: number) => void): void {
  const list = match[1] as string;
  const listStart = (match.index as number) + match[0].indexOf(list);
  let offset = 0;
  for (const part of list.split(',')) {
    const found = item.exec(part);
    if (found) {
      const name = (found[2] ?? found[1]) as string;
      add(name, listStart + offset + part.lastIndexOf(name));
    }
    offset += part.length + 1;
  }
}
