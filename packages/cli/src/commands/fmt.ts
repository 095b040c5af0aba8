/**
 * `woodwork fmt [paths…]`: rewrites .ww files in the canonical layout of `format()` from
 * @woodwork/parser. `--check` only reports (for CI), `--stdout` prints instead of writing. A file
 * with syntax errors is never rewritten: its diagnostics are printed instead.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { format, formatDiagnostic, type Diagnostic } from '@woodwork/parser';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';

export interface FmtOptions {
  /** Write nothing; exit 1 when a file is not formatted. */
  readonly check?: boolean;
  /** Print the formatted text instead of writing it. */
  readonly stdout?: boolean;
}

/** Folders that hold other people's files or generated ones, never the user's .ww sources. */
const SKIPPED_FOLDERS = new Set(['node_modules']);

export async function fmtCommand(terminal: Terminal, paths: readonly string[], options: FmtOptions): Promise<number> {
  const color = useColor(terminal, 'stderr');
  const style = paint(color);
  const shown = (file: string) => path.relative(terminal.cwd, file) || file;
  let problems = 0;
  const report = (diagnostic: Diagnostic, source?: string) => {
    problems += 1;
    terminal.stderr.write(`${formatDiagnostic(diagnostic, { source, color, cwd: terminal.cwd })}\n\n`);
  };

  const files: string[] = [];
  for (const given of paths.length > 0 ? paths : ['.']) {
    const target = path.resolve(terminal.cwd, given);
    try {
      if ((await stat(target)).isDirectory()) files.push(...(await wwFilesUnder(target)));
      else files.push(target);
    } catch (error) {
      report(unreadable(target, error, 'check the path'));
    }
  }

  const changed: string[] = [];
  for (const file of files) {
    let source: string;
    try {
      source = await readFile(file, 'utf8');
    } catch (error) {
      report(unreadable(file, error, 'check that it is a readable file'));
      continue;
    }
    const result = format(source, { file });
    const errors = result.diagnostics.filter((diagnostic) => diagnostic.severity === 'error');
    if (errors.length > 0) {
      for (const diagnostic of errors) report(diagnostic, source);
      terminal.stderr.write(`${style('red', '✖')} ${shown(file)}: not formatted, fix the syntax errors above first\n`);
      continue;
    }
    if (options.stdout) {
      terminal.stdout.write(result.text);
      continue;
    }
    if (!result.changed) continue;
    changed.push(file);
    if (!options.check) await writeFile(file, result.text);
    terminal.stdout.write(`${shown(file)}\n`);
  }

  if (options.check && changed.length > 0) {
    terminal.stderr.write(`${plural(changed.length, 'file')} not formatted; run \`woodwork fmt\` to fix\n`);
    return ExitCode.problems;
  }
  if (files.length === 0 && problems === 0) terminal.stderr.write('no .ww files found\n');
  return problems > 0 ? ExitCode.problems : ExitCode.ok;
}

/** Every .ww file below `folder`, in a stable order, skipping dot-folders and node_modules. */
async function wwFilesUnder(folder: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(folder, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) {
      if (!entry.name.startsWith('.') && !SKIPPED_FOLDERS.has(entry.name)) found.push(...(await wwFilesUnder(full)));
    } else if (entry.isFile() && entry.name.endsWith('.ww')) {
      found.push(full);
    }
  }
  return found;
}

/** The loader's WW302, so a missing path reads like every other problem. */
function unreadable(file: string, error: unknown, hint: string): Diagnostic {
  const message =
    (error as NodeJS.ErrnoException).code === 'ENOENT' ? `\`${file}\` does not exist` : `cannot read \`${file}\`: ${(error as Error).message}`;
  return { code: 'WW302', severity: 'error', message, file, line: 1, column: 1, endLine: 1, endColumn: 1, hint };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
