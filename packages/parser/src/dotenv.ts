/**
 * A small `.env` reader: `KEY=value` lines, `export KEY=value`, `#` comments, values in double
 * quotes (escapes `\n \t \r \\ \"`, may span lines), single quotes (literal, may span lines) or bare
 * (trimmed; ` #` starts a comment). No variable expansion, like dotenv. A line it cannot read is a
 * warning, never a failure: a broken `.env` must not hide the `.ww` file's own problems.
 */
import { createDiagnostic, type Diagnostic } from './diagnostic.js';
import { LineIndex } from './location.js';

export interface DotenvResult {
  readonly values: Record<string, string>;
  readonly diagnostics: Diagnostic[];
}

const DOUBLE_ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"' };

export function parseDotenv(text: string, file: string): DotenvResult {
  const values: Record<string, string> = {};
  const diagnostics: Diagnostic[] = [];
  const lines = new LineIndex(text);
  let at = 0;

  const warn = (message: string, start: number, end: number, hint?: string) =>
    diagnostics.push(createDiagnostic('WW304', message, lines.locate(file, start, end), { hint }));

  while (at < text.length) {
    const lineEnd = indexOrEnd(text, '\n', at);
    const line = text.slice(at, lineEnd);
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      at = lineEnd + 1;
      continue;
    }
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*/.exec(line);
    if (!match) {
      const start = at + (line.length - line.trimStart().length);
      warn(`cannot read this line of ${basename(file)}`, start, at + line.trimEnd().length, 'lines are KEY=value; `#` starts a comment');
      at = lineEnd + 1;
      continue;
    }
    const key = match[1] as string;
    const valueStart = at + match[0].length;
    const quote = text[valueStart];
    if (quote === '"' || quote === "'") {
      const close = findClosingQuote(text, valueStart + 1, quote);
      if (close === -1) {
        warn(`unterminated quoted value for ${key}`, valueStart, valueStart + 1, `close it with ${quote}`);
        at = lineEnd + 1;
        continue;
      }
      const raw = text.slice(valueStart + 1, close);
      values[key] = quote === '"' ? raw.replace(/\\([ntr\\"])/g, (_, char: string) => DOUBLE_ESCAPES[char] as string) : raw;
      at = indexOrEnd(text, '\n', close) + 1;
      continue;
    }
    const bare = text.slice(valueStart, lineEnd).replace(/\r$/, '');
    values[key] = bare.replace(/\s+#.*$/, '').trim();
    at = lineEnd + 1;
  }
  return { values, diagnostics };
}

function indexOrEnd(text: string, search: string, from: number): number {
  const index = text.indexOf(search, from);
  return index === -1 ? text.length : index;
}

function findClosingQuote(text: string, from: number, quote: string): number {
  for (let index = from; index < text.length; index++) {
    if (text[index] === '\\' && quote === '"') index++;
    else if (text[index] === quote) return index;
  }
  return -1;
}

function basename(file: string): string {
  return file.split(/[\\/]/).pop() ?? file;
}
