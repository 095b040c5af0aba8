/**
 * Pipes and hooks come in three spellings; this turns each into one `PipeSpec`:
 *
 * - `"pipes.ts::contextEnhancer"`                                    (event `*`)
 * - `{ event = "agent.*", function = "hooks.ts::log" }`              (event defaults to `*`)
 * - `{ event: "agent.thought", script_path: "hooks.py", function_name: "print_thought" }` (classic)
 *
 * A JavaScript or TypeScript module written without `::export` means its default export; a Python
 * file always needs the function name, as it has no default.
 */
import type { EntryNode, MapNode, StringNode, ValueNode } from './ast.js';
import type { Reporter } from './diagnostic.js';
import type { SourceLocation } from './location.js';
import { checkProjectPath, describePathProblem, type ProjectFolders } from './project-path.js';
import { describeNode } from './describe.js';
import { didYouMean } from './suggest.js';
import type { PipeSpec } from './topology.js';

const LANGUAGES: Readonly<Record<string, ModuleLanguage>> = {
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
  '.ts': 'ts',
  '.mts': 'ts',
  '.cts': 'ts',
  '.py': 'python',
};

/** The language a pipe, hook or function module runs in, from its extension; undefined for anything else. */
export type ModuleLanguage = PipeSpec['language'];

export function moduleLanguageOf(file: string): ModuleLanguage | undefined {
  // The text from the last `.`: every extension in LANGUAGES is letters and digits after it.
  const dot = file.lastIndexOf('.');
  return dot === -1 ? undefined : LANGUAGES[file.slice(dot).toLowerCase()];
}


const EVENT_PATTERN = /^(\*|[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*(\.\*)?)$/;
const EXPORT_PATTERN = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const MAP_KEYS = ['event', 'function', 'script_path', 'function_name'] as const;

export type PipeRole = 'pipe' | 'hook';

export function normalisePipeSpec(node: ValueNode, role: PipeRole, folders: ProjectFolders, report: Reporter): PipeSpec | undefined {
  if (node.type === 'Invalid') return undefined;
  if (node.type === 'String') return fromReference(node.value, '*', node.location, role, folders, report);
  if (node.type === 'Map') return fromMap(node, role, folders, report);
  if (node.type === 'Template' || node.type === 'EnvReference') {
    report('WW209', `a ${role} cannot use environment references: its module is bundled by the build`, node.location);
    return undefined;
  }
  report('WW209', `expected a ${role}: "file.ts::function" or { event, function }, found ${describeNode(node)}`, node.location, {
    hint: `write "${role}s.ts::myFunction" or { event = "agent.*", function = "${role}s.ts::myFunction" }`,
  });
  return undefined;
}

function fromMap(node: MapNode, role: PipeRole, folders: ProjectFolders, report: Reporter): PipeSpec | undefined {
  const values = new Map<string, { entry: EntryNode; value: StringNode }>();
  let valid = true;
  for (const entry of node.entries) {
    const key = entry.key.name;
    if (!(MAP_KEYS as readonly string[]).includes(key)) {
      report('WW207', `unknown key \`${key}\` in a ${role}`, entry.key.location, {
        hint: didYouMean(key, MAP_KEYS) ?? `a ${role} has \`event\` and \`function\`, or the classic \`script_path\` and \`function_name\``,
      });
      continue;
    }
    const previous = values.get(key);
    if (previous) {
      report('WW217', `duplicate key \`${key}\` in a ${role}`, entry.key.location, {
        related: [{ message: `\`${key}\` is first set here`, location: previous.entry.key.location }],
      });
      continue;
    }
    if (entry.value.type === 'Invalid') {
      valid = false;
      continue;
    }
    if (entry.value.type !== 'String') {
      report('WW209', `\`${key}\` of a ${role} expects a string, found ${describeNode(entry.value)}`, entry.value.location, {
        hint: entry.value.type === 'Reference' ? `quote it: "${entry.value.name}"` : undefined,
      });
      valid = false;
      continue;
    }
    values.set(key, { entry, value: entry.value });
  }
  if (!valid) return undefined;

  const event = values.get('event')?.value;
  const eventName = event?.value ?? '*';
  if (event && !checkEvent(event.value, event.location, report)) return undefined;

  const fn = values.get('function')?.value;
  const scriptPath = values.get('script_path')?.value;
  const functionName = values.get('function_name')?.value;
  if (fn && (scriptPath || functionName)) {
    report('WW215', `a ${role} has either \`function\` or \`script_path\` with \`function_name\`, not both`, node.location);
    return undefined;
  }
  if (fn) return fromReference(fn.value, eventName, fn.location, role, folders, report, node.location);
  if (scriptPath) {
    if (!functionName) {
      report('WW215', `a ${role} with \`script_path\` also needs \`function_name\``, node.location, {
        hint: `add function_name: "my_function", or write function: "${scriptPath.value}::my_function"`,
      });
      return undefined;
    }
    return build(scriptPath.value, functionName.value, eventName, scriptPath.location, functionName.location, role, folders, report, node.location);
  }
  report('WW215', `a ${role} needs \`function\` ("file.ts::name") or \`script_path\` and \`function_name\``, node.location, {
    hint: `write { event = "${eventName}", function = "${role}s.ts::myFunction" }`,
  });
  return undefined;
}

function fromReference(
  text: string,
  event: string,
  location: SourceLocation,
  role: PipeRole,
  folders: ProjectFolders,
  report: Reporter,
  specLocation: SourceLocation = location,
): PipeSpec | undefined {
  const separator = text.lastIndexOf('::');
  const modulePath = separator === -1 ? text : text.slice(0, separator);
  const exportName = separator === -1 ? undefined : text.slice(separator + 2);
  return build(modulePath, exportName, event, location, location, role, folders, report, specLocation);
}

function build(
  modulePath: string,
  exportName: string | undefined,
  event: string,
  moduleLocation: SourceLocation,
  exportLocation: SourceLocation,
  role: PipeRole,
  folders: ProjectFolders,
  report: Reporter,
  specLocation: SourceLocation,
): PipeSpec | undefined {
  const checked = checkProjectPath(modulePath, folders);
  if (!checked.ok) {
    report(checked.reason === 'empty' ? 'WW215' : 'WW216', `${role} module: ${describePathProblem(modulePath, checked.reason)}`, moduleLocation, {
      hint: checked.reason === 'empty' ? `write "${role}s.ts::myFunction"` : `keep ${role} modules in the folder of the .ww file or below it`,
    });
    return undefined;
  }
  const language = moduleLanguageOf(checked.path);
  if (!language) {
    report('WW215', `${role} module \`${modulePath}\` is not a .ts, .js or .py file`, moduleLocation, {
      hint: `write "${role}s.ts::myFunction"; JavaScript and TypeScript run in-process, Python through the bridge`,
    });
    return undefined;
  }
  if (exportName === undefined && language === 'python') {
    report('WW215', `a Python ${role} needs the function name: "${modulePath}::my_function"`, moduleLocation);
    return undefined;
  }
  const exported = exportName ?? 'default';
  if (!EXPORT_PATTERN.test(exported)) {
    report('WW215', `\`${exported}\` is not a function name`, exportLocation, {
      hint: `write "${modulePath}::myFunction" (letters, digits, \`_\` and \`$\`)`,
    });
    return undefined;
  }
  return { event, module: checked.path, export: exported, language, location: specLocation };
}

function checkEvent(event: string, location: SourceLocation, report: Reporter): boolean {
  if (EVENT_PATTERN.test(event)) return true;
  report('WW215', `invalid event pattern "${event}"`, location, {
    hint: 'events are names like "agent.thought"; `*` may only end the pattern ("agent.*", "*")',
  });
  return false;
}
