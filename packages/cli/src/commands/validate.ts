/**
 * `woodwork validate [file]`: checks a .ww file the way a compiler checks source — every problem at
 * once, with file:line:col and a code frame — and prints the topology with --json.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { findComponentType, formatDiagnostic, loadTopology, type Diagnostic, type Topology } from '@woodwork/parser';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';

export interface ValidateOptions {
  readonly json?: boolean;
}

/** A directory means its main.ww, like `tsc -p dir` means its tsconfig. */
export async function resolveWwFile(cwd: string, file: string | undefined): Promise<string> {
  const candidate = path.resolve(cwd, file ?? 'main.ww');
  try {
    if ((await stat(candidate)).isDirectory()) return path.join(candidate, 'main.ww');
  } catch {
    // A missing path is reported by the loader as a diagnostic with a hint.
  }
  return candidate;
}

export async function validateCommand(terminal: Terminal, file: string | undefined, options: ValidateOptions): Promise<number> {
  const target = await resolveWwFile(terminal.cwd, file);
  const result = await loadTopology(target, { mode: 'validate', env: terminal.env, checkExports: true });
  const errors = result.diagnostics.filter((d: Diagnostic) => d.severity === 'error');
  const exitCode = errors.length > 0 ? ExitCode.problems : ExitCode.ok;

  const planned = plannedComponents(result.topology);
  if (options.json) {
    const output = {
      ok: errors.length === 0,
      file: path.relative(terminal.cwd, target) || target,
      topology: errors.length === 0 ? (result.topology ?? null) : null,
      diagnostics: result.diagnostics,
      planned,
    };
    terminal.stdout.write(`${JSON.stringify(output, null, 2)}\n`);
    return exitCode;
  }

  const color = useColor(terminal, 'stderr');
  const style = paint(color);
  for (const diagnostic of result.diagnostics) {
    terminal.stderr.write(`${formatDiagnostic(diagnostic, { source: result.sources ?? result.source, color, cwd: terminal.cwd })}\n\n`);
  }
  const warnings = result.diagnostics.length - errors.length;
  const shown = path.relative(terminal.cwd, target) || target;
  if (errors.length > 0) {
    terminal.stderr.write(
      `${style('red', '✖')} ${shown}: ${plural(errors.length, 'error')}${warnings ? `, ${plural(warnings, 'warning')}` : ''}\n`,
    );
  } else {
    const components = result.topology?.components.length ?? 0;
    terminal.stdout.write(
      `${useColor(terminal) ? paint(true)('green', '✔') : '✔'} ${shown}: ${plural(components, 'component')}, valid${
        warnings ? ` (${plural(warnings, 'warning')})` : ''
      }\n`,
    );
    // Valid is not the same as runnable: say which components nothing implements yet.
    for (const entry of planned) {
      terminal.stdout.write(
        `  ${style('yellow', 'planned')} ${path.relative(terminal.cwd, entry.location.file) || entry.location.file}:${entry.location.line}:${entry.location.column} \`${entry.component}\` is \`${entry.kind} ${entry.type}\`: valid, but not implemented yet — \`woodwork run\` will refuse to start it\n`,
      );
    }
  }
  return exitCode;
}

/** Components whose kind/type the catalogue marks `planned`: part of the language, run by nothing yet. */
function plannedComponents(topology: Topology | undefined) {
  return (topology?.components ?? [])
    .filter((component) => {
      const match = findComponentType(component.kind, component.type);
      return match?.kindSpec.status === 'planned' || match?.typeSpec.status === 'planned';
    })
    .map((component) => ({ component: component.name, kind: component.kind, type: component.type, location: component.location }));
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
