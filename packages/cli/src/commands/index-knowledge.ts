/**
 * `woodwork index [file] [--only <name>]`: indexes the `documents` folder of every
 * `knowledge_base chroma` of a .ww file into its collection — the classic engine's embed mode, as a
 * command — incrementally (see @woodwork/ai's indexer): a second run with nothing changed embeds
 * nothing and says so. On a terminal a progress bar shows the file being read; elsewhere (CI, a
 * pipe) one line per knowledge base.
 */
import path from 'node:path';
import { describeReport, openChromaKnowledgeBase, type ChromaKnowledgeBaseConfig, type IndexProgress } from '@woodwork/ai';
import { formatDiagnostic, loadTopology } from '@woodwork/parser';
import { errorMessage } from '@woodwork/runtime';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';
import { resolveWwFile } from './validate.js';

export interface IndexCommandOptions {
  /** Only this knowledge base. */
  readonly only?: string;
}

/** A one-line bar redrawn in place: `[#####-----] 12/40 docs/setup.md`. */
function progressBar(terminal: Terminal, name: string): ((progress: IndexProgress) => void) | undefined {
  if (terminal.stderr.isTTY !== true) return undefined;
  const width = 24;
  let last = 0;
  return ({ done, total, file }) => {
    const now = Date.now();
    if (done < total && now - last < 80) return;
    last = now;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const columns = (terminal.stderr as { columns?: number }).columns ?? 100;
    const line = `${name} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${file}`;
    terminal.stderr.write(`\r\u001b[2K${line.slice(0, columns - 1)}`);
    if (done === total) terminal.stderr.write('\r\u001b[2K');
  };
}

export async function indexCommand(terminal: Terminal, file: string | undefined, options: IndexCommandOptions): Promise<number> {
  const target = await resolveWwFile(terminal.cwd, file);
  const loaded = await loadTopology(target, { mode: 'run', env: terminal.env });
  const style = paint(useColor(terminal, 'stderr'));
  if (!loaded.resolved) {
    for (const diagnostic of loaded.diagnostics) terminal.stderr.write(`${formatDiagnostic(diagnostic, { source: loaded.sources ?? loaded.source, color: useColor(terminal, 'stderr'), cwd: terminal.cwd })}\n\n`);
    return ExitCode.problems;
  }
  const topology = loaded.resolved;
  const bases = topology.components.filter((component) => component.kind === 'knowledge_base' && component.type === 'chroma' && (options.only === undefined || component.name === options.only));
  if (bases.length === 0) {
    const others = topology.components.filter((component) => component.kind === 'knowledge_base').map((component) => `\`${component.name}\` (${component.type})`);
    terminal.stderr.write(
      options.only !== undefined
        ? `${style('red', '✖')} there is no knowledge_base chroma named \`${options.only}\` in ${path.relative(terminal.cwd, target) || target}\n`
        : `${style('red', '✖')} ${path.relative(terminal.cwd, target) || target} has no knowledge_base chroma to index${others.length > 0 ? ` (${others.join(', ')} need${others.length === 1 ? 's' : ''} no index: they read their files as they are)` : ''}\n`,
    );
    return ExitCode.problems;
  }
  const projectDir = path.dirname(target);
  let failed = false;
  for (const base of bases) {
    const config = base.config as unknown as ChromaKnowledgeBaseConfig;
    if ((config.documents ?? config.file_to_embed) === undefined) {
      terminal.stderr.write(`${style('yellow', '!')} ${base.name}: no \`documents\` folder to index; skipped\n`);
      continue;
    }
    try {
      const opened = await openChromaKnowledgeBase(config, { name: base.name, projectDir, env: terminal.env });
      try {
        const onProgress = progressBar(terminal, base.name);
        const report = await opened.index(onProgress ? { onProgress } : {});
        terminal.stdout.write(`${describeReport(report, base.name)}\n`);
      } finally {
        await opened.close();
      }
    } catch (error) {
      failed = true;
      const hint = (error as { hint?: string }).hint;
      terminal.stderr.write(`${style('red', '✖')} ${base.name}: ${errorMessage(error)}${hint ? `\n  hint: ${hint}` : ''}\n`);
    }
  }
  return failed ? ExitCode.problems : ExitCode.ok;
}
