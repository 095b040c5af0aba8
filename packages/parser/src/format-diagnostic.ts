/**
 * Diagnostics as a compiler prints them:
 *
 *     main.ww:5:13: error WW210: unknown reference `mme`: no component has this name
 *        5 |     memory: mme
 *          |             ^^^
 *       hint: did you mean `mem`?
 *       note: main.ww:1:1: `mem` is first declared here
 *
 * Colour is ANSI escapes, only when asked for (the caller knows whether it writes to a terminal
 * and whether NO_COLOR is set).
 */
import path from 'node:path';
import type { Diagnostic } from './diagnostic.js';
import { LineIndex } from './location.js';

export interface FormatDiagnosticOptions {
  /**
   * The text of the diagnostic's file, for the code frame; or every file's text by name (the
   * `sources` of `loadTopology`). Without it, no code frame is printed.
   */
  readonly source?: string | Readonly<Record<string, string>>;
  /** Use ANSI colours (default false). */
  readonly color?: boolean;
  /** Print file names relative to this folder. */
  readonly cwd?: string;
}

const ANSI = {
  bold: '\u001b[1m',
  dim: '\u001b[2m',
  red: '\u001b[31m',
  yellow: '\u001b[33m',
  blue: '\u001b[34m',
  cyan: '\u001b[36m',
  reset: '\u001b[0m',
} as const;

/** Frames are cut at this width so a minified line cannot flood the terminal. */
const MAX_FRAME_WIDTH = 160;

export function formatDiagnostic(diagnostic: Diagnostic, options: FormatDiagnosticOptions = {}): string {
  const paint = (style: keyof typeof ANSI, text: string) => (options.color ? `${ANSI[style]}${text}${ANSI.reset}` : text);
  const severityStyle = diagnostic.severity === 'error' ? 'red' : 'yellow';
  const place = (file: string, line: number, column: number) => `${displayPath(file, options.cwd)}:${line}:${column}`;

  const lines = [
    `${paint('bold', `${place(diagnostic.file, diagnostic.line, diagnostic.column)}:`)} ${paint(severityStyle, `${diagnostic.severity} ${diagnostic.code}`)}: ${diagnostic.message}`,
  ];

  const text = sourceFor(diagnostic.file, options.source);
  if (text !== undefined) {
    const index = new LineIndex(text);
    if (diagnostic.line >= 1 && diagnostic.line <= index.lineCount) {
      const lineText = index.lineText(diagnostic.line);
      const gutterWidth = String(diagnostic.line).length + 2;
      const startColumn = Math.min(diagnostic.column, lineText.length + 1);
      const endColumn = diagnostic.endLine === diagnostic.line ? Math.max(diagnostic.endColumn, startColumn + 1) : lineText.length + 1;
      const { shown, caretOffset, caretWidth } = clip(lineText, startColumn - 1, Math.max(1, endColumn - startColumn));
      // Tabs are kept in the caret line so the caret lines up however wide the terminal draws them.
      const padding = shown.slice(0, caretOffset).replace(/[^\t]/g, ' ');
      lines.push(`${paint('dim', `${String(diagnostic.line).padStart(gutterWidth)} |`)} ${shown}`);
      lines.push(`${paint('dim', `${' '.repeat(gutterWidth)} |`)} ${padding}${paint(severityStyle, '^'.repeat(caretWidth))}`);
    }
  }

  if (diagnostic.hint) lines.push(`  ${paint('cyan', 'hint')}: ${diagnostic.hint}`);
  for (const related of diagnostic.related ?? []) {
    lines.push(`  ${paint('blue', 'note')}: ${place(related.file, related.line, related.column)}: ${related.message}`);
  }
  return lines.join('\n');
}

function sourceFor(file: string, source: FormatDiagnosticOptions['source']): string | undefined {
  if (source === undefined) return undefined;
  if (typeof source === 'string') return source;
  return Object.hasOwn(source, file) ? source[file] : undefined;
}

function displayPath(file: string, cwd: string | undefined): string {
  if (cwd === undefined || !path.isAbsolute(file)) return file;
  const relative = path.relative(cwd, file);
  return relative === '' ? file : relative;
}

/** The part of a long line around the caret, with `…` where it was cut. */
function clip(line: string, start: number, width: number): { shown: string; caretOffset: number; caretWidth: number } {
  if (line.length <= MAX_FRAME_WIDTH) return { shown: line, caretOffset: start, caretWidth: Math.min(width, Math.max(1, line.length - start)) };
  const from = Math.max(0, start - 40);
  const to = Math.min(line.length, from + MAX_FRAME_WIDTH);
  const prefix = from > 0 ? '…' : '';
  const suffix = to < line.length ? '…' : '';
  return {
    shown: `${prefix}${line.slice(from, to)}${suffix}`,
    caretOffset: start - from + prefix.length,
    caretWidth: Math.max(1, Math.min(width, to - start)),
  };
}
