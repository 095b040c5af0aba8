/**
 * `woodwork validate [file]`: checks a .ww file the way a compiler checks source — every problem at
 * once, with file:line:col and a code frame — and prints the topology with --json.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { providers } from '@woodwork/ai';
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
  const loaded = await loadTopology(target, { mode: 'validate', env: terminal.env, checkExports: true });
  const result = { ...loaded, diagnostics: inPlace(loaded.diagnostics, missingProviderKeys(loaded.topology, terminal.env)) };
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

/**
 * WW301 as a warning: an `llm` whose provider needs a key, with no `api_key` in the file and the
 * provider's variable unset here. `woodwork run` would refuse to start it (WW_AI_KEY_MISSING, in
 * the same words); a warning, not an error, because the key is a secret of the environment the
 * topology runs in (CI checks files without it), as unset `$NAME` references are when validating.
 * A written `api_key` is left to the parser, which warns about its variable if it is unset.
 */
function missingProviderKeys(topology: Topology | undefined, env: Readonly<Record<string, string | undefined>>): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  for (const component of topology?.components ?? []) {
    if (component.kind !== 'llm' || component.config.api_key !== undefined) continue;
    const key = providers.find((provider) => provider.type === component.type)?.apiKey;
    if (!key?.required || env[key.variable]) continue;
    const { file, line, column } = component.location;
    diagnostics.push({
      code: 'WW301',
      severity: 'warning',
      message: `component \`${component.name}\` (llm ${component.type}) has no API key: ${key.variable} is not set and the component has no \`api_key\``,
      file,
      line,
      column,
      endLine: line,
      endColumn: column + component.name.length,
      hint: `set ${key.variable} in the environment, or write api_key = $${key.variable} and put it in a .env file beside the .ww file; without a key, \`woodwork run\` refuses to start \`${component.name}\``,
    });
  }
  return diagnostics;
}

/** `more` among the loader's sorted diagnostics, by file (in the loader's order) and position. */
function inPlace(sorted: readonly Diagnostic[], more: readonly Diagnostic[]): Diagnostic[] {
  if (more.length === 0) return [...sorted];
  const files = [...new Set([...sorted, ...more].map((diagnostic) => diagnostic.file))];
  const rank = (diagnostic: Diagnostic) => files.indexOf(diagnostic.file);
  // A stable sort: the loader's order stands among its own diagnostics.
  return [...sorted, ...more].sort((a, b) => rank(a) - rank(b) || a.line - b.line || a.column - b.column);
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
