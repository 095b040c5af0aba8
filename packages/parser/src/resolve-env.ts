/**
 * Environment references, resolved at load time (never when parsing, never into build artifacts):
 * `resolveEnv()` returns a copy of the topology with every `{ $env }` and `{ $template }` replaced
 * by its value, converted to what the key expects (`port: $PORT` becomes a number). Every missing
 * variable is reported at once, each with every place it is used: as an error when loading to run,
 * as a warning when validating (so a file can be checked without its secrets).
 *
 * With `components`, only part of the topology is resolved: the process that runs those components
 * (a distributed host) needs their variables and the bus's, not the secrets of the others.
 */
import { findComponentType } from './catalogue.js';
import { createDiagnostic, hasErrors, sortDiagnostics, type Diagnostic } from './diagnostic.js';
import { WoodworkParserError } from './errors.js';
import { setAtPath, valueAtPath } from './json-path.js';
import type { EnvUsage, EnvValue, TemplateValue, Topology } from './topology.js';

export type LoadMode = 'validate' | 'run';

export interface ResolveEnvOptions {
  /** The variables (the process environment merged with `.env`, the process winning). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly mode: LoadMode;
  /**
   * Resolve only the references of these components (by name) and those outside any component (the
   * bus): references of the other components are neither checked nor reported, and stay `{ $env }`
   * / `{ $template }` in the copy. Names that are not in the topology match nothing. Default: every
   * component.
   */
  readonly components?: readonly string[];
}

export interface ResolveEnvResult {
  /** The topology with every reference replaced; present only when every one could be resolved. */
  readonly resolved?: Topology;
  readonly diagnostics: Diagnostic[];
}

export function resolveEnv(topology: Topology, options: ResolveEnvOptions): ResolveEnvResult {
  if (options?.mode !== 'validate' && options?.mode !== 'run') {
    throw new WoodworkParserError('INVALID_ARGUMENT', "resolveEnv() needs { env, mode: 'validate' | 'run' }");
  }
  if (options.components !== undefined && !Array.isArray(options.components)) {
    throw new WoodworkParserError('INVALID_ARGUMENT', 'resolveEnv() takes `components` as an array of component names');
  }
  const { env, mode } = options;
  const severity = mode === 'run' ? 'error' : 'warning';
  const inScope = usageFilter(topology, options.components);
  const diagnostics: Diagnostic[] = [];
  let complete = true;

  for (const variable of topology.env) {
    const unset = env[variable.name] === undefined;
    const needed = variable.usages.filter((usage) => unset && usage.default === undefined && inScope(usage));
    if (needed.length === 0) continue;
    complete = false;
    const [first, ...others] = needed as [EnvUsage, ...EnvUsage[]];
    const times = needed.length === 1 ? '' : ` (used ${needed.length} times)`;
    diagnostics.push(
      createDiagnostic('WW301', `environment variable \`${variable.name}\` is not set${times}`, first.location, {
        severity,
        hint: `set it in the environment or in .env beside the .ww file${mode === 'validate' ? ' before running' : ''}, or give a default: \${${variable.name}:-value}`,
        related: others.map((usage) => ({ message: `\`${variable.name}\` is also used here`, location: usage.location })),
      }),
    );
  }

  if (mode === 'validate') diagnostics.push(...missingKeysFromEnv(topology, env, options.components));

  // Only a complete resolution is returned; without one, the copy (a tenth of checking a large
  // file in an editor, where secrets are often unset) would be thrown away.
  const resolved = complete ? (structuredClone(topology) as Topology) : undefined;
  const done = new Set<string>();
  for (const variable of topology.env) {
    for (const usage of variable.usages) {
      if (!inScope(usage)) continue;
      const key = JSON.stringify(usage.path);
      if (done.has(key)) continue;
      done.add(key);
      const original = valueAtPath(topology, usage.path) as EnvValue | TemplateValue | undefined;
      if (original === undefined) continue;
      const text = substitute(original, env);
      if (text === undefined) continue;
      const converted = convert(text, usage.expects);
      if (converted === undefined) {
        complete = false;
        diagnostics.push(
          createDiagnostic('WW305', `expected ${usage.expects === 'number' ? 'a number' : 'true or false'} from the environment, found "${text}"`, usage.location, {
            severity,
            hint: `check the value of ${describeVariables(original)}`,
          }),
        );
        continue;
      }
      if (resolved) setAtPath(resolved, usage.path, converted);
    }
  }

  const sorted = sortDiagnostics(diagnostics);
  return resolved && complete && !hasErrors(sorted) ? { resolved, diagnostics: sorted } : { diagnostics: sorted };
}

/**
 * WW301 warnings for keys whose value comes from an environment variable when left out (`fromEnv`,
 * an `llm`'s `api_key`), required, and missing both ways. Only when validating: the key is a secret
 * of the environment the topology runs in, and at run time the component itself refuses to start
 * without it, in the same words.
 */
function missingKeysFromEnv(topology: Topology, env: ResolveEnvOptions['env'], components: readonly string[] | undefined): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  for (const component of topology.components) {
    if (components !== undefined && !components.includes(component.name)) continue;
    const keys = findComponentType(component.kind, component.type)?.typeSpec.keys ?? {};
    for (const [key, spec] of Object.entries(keys)) {
      if (!spec.fromEnv?.required || component.config[key] !== undefined || env[spec.fromEnv.variable]) continue;
      const { variable } = spec.fromEnv;
      diagnostics.push(
        createDiagnostic('WW301', `component \`${component.name}\` (${component.kind} ${component.type}) has no API key: ${variable} is not set and the component has no \`${key}\``, component.location, {
          severity: 'warning',
          hint: `set ${variable} in the environment, or write ${key} = $${variable} and put it in a .env file beside the .ww file; without a key, \`woodwork run\` refuses to start \`${component.name}\``,
        }),
      );
    }
  }
  return diagnostics;
}

/**
 * Whether a usage is resolved: all of them without `components`; else those of the listed components
 * (`["components", index, …]`) and every one outside a component. `woodwork build` uses the same
 * rule to give each container the variables its host resolves.
 */
export function usageFilter(topology: Topology, components: readonly string[] | undefined): (usage: EnvUsage) => boolean {
  if (components === undefined) return () => true;
  const listed = new Set(components);
  return (usage) => {
    if (usage.path[0] !== 'components') return true;
    const index = usage.path[1];
    return typeof index === 'number' && listed.has(topology.components[index]?.name ?? '');
  };
}

/** The text an env value or template stands for, or undefined when a variable is missing. */
function substitute(value: EnvValue | TemplateValue, env: ResolveEnvOptions['env']): string | undefined {
  const parts = '$template' in value ? value.$template : [value];
  let text = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      text += part;
      continue;
    }
    const set = env[part.$env];
    // As in a shell, `${NAME:-default}` also uses the default when NAME is set but empty.
    const chosen = set === undefined || (set === '' && part.default !== undefined) ? part.default : set;
    if (chosen === undefined) return undefined;
    text += chosen;
  }
  return text;
}

function convert(text: string, expects: EnvUsage['expects']): string | number | boolean | undefined {
  if (expects === 'number') {
    const number = Number(text.trim().replace(/_/g, ''));
    return text.trim() !== '' && Number.isFinite(number) ? number : undefined;
  }
  if (expects === 'boolean') {
    return /^true$/i.test(text.trim()) ? true : /^false$/i.test(text.trim()) ? false : undefined;
  }
  return text;
}

function describeVariables(value: EnvValue | TemplateValue): string {
  const names = ('$template' in value ? value.$template : [value]).flatMap((part) => (typeof part === 'string' ? [] : [`\`${part.$env}\``]));
  return names.join(', ');
}

