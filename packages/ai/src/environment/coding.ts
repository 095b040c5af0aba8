/**
 * `environment coding`: the classic engine's coding environment, without Docker. A workspace folder
 * (`local_path`, or a clone of `repo_url`), set up once (`setup_scripts`, with the classic marker
 * file), started once per process (`startup_scripts`), and its actions offered to agents as tools
 * (the tool protocol of `../tools/protocol.ts`): run a command, list, read, write, edit, multi-edit,
 * search, find, back up and restore files.
 *
 * Commands run in a bubblewrap sandbox (`./sandbox.ts`) confined to the workspace, without network
 * unless `network = true`, with a time and an output limit. Where no sandbox can run, commands are
 * refused — each call says why and how to fix it — unless the file says `sandbox = "none"`.
 *
 *   env   = environment coding { repo_url = "https://github.com/me/app.git", setup_scripts = ["setup.sh"] }
 *   coder = agent llm { model = model, tools = [env] }
 *
 * Where things live (the classic engine kept them in `.woodwork/coding-env` under a Docker volume):
 *   - the workspace: `local_path` relative to the .ww file, or an absolute host folder; the classic
 *     value `/workspace` (its container path, the default) means `.woodwork/coding-env` of the project;
 *   - the sandbox's home folder (git's global config, shell history): `.woodwork/environments/<name>/home`.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { defineComponent, errorMessage, type ComponentDefinition, type HandlerContext, type JsonValue } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';
import { isToolCallRequest, toolFlags, type JsonSchema, type ToolKeys, type ToolSpec } from '../tools/protocol.js';
import { bubblewrapProblem, describeResult, runCommand, type SandboxKind, type SandboxOptions } from './sandbox.js';
import { Workspace, WorkspaceError, type Edit } from './workspace.js';

const run = promisify(execFile);

export interface CodingEnvironmentConfig extends ToolKeys {
  readonly repo_url?: string;
  readonly local_path?: string;
  readonly working_directory?: string;
  readonly setup_scripts?: readonly string[];
  readonly startup_scripts?: readonly string[];
  readonly environment_variables?: Readonly<Record<string, unknown>>;
  readonly sandbox?: SandboxKind;
  readonly network?: boolean;
  readonly command_timeout?: number;
  readonly max_command_output?: number;
  readonly read_only_paths?: readonly string[];
  readonly [key: string]: unknown;
}

/** The classic marker: setup scripts ran to the end in this workspace. Removing it runs them again. */
export const SETUP_MARKER = '.woodwork_setup_complete';
const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_COMMAND_OUTPUT = 200_000;
/** What a setup or startup script may take: installs are slow. */
const SCRIPT_TIMEOUT_MS = 15 * 60_000;
const CWD_KEY = 'cwd';

const object = (properties: Record<string, JsonSchema>, required: string[]): JsonSchema => ({ type: 'object', properties, required, additionalProperties: false });
const text = (description: string): JsonSchema => ({ type: 'string', description });
const integer = (description: string): JsonSchema => ({ type: 'integer', description });
const flag = (description: string): JsonSchema => ({ type: 'boolean', description });

/** The tools, under the classic engine's action names, so its prompts keep working. */
function toolSpecs(mount: string, flags: Partial<ToolSpec>, commandTimeoutMs: number): ToolSpec[] {
  const file = text(`A path relative to the workspace (${mount}).`);
  return [
    {
      name: 'execute_command',
      description: `Run a shell command (/bin/sh) in the workspace (${mount}), isolated in a sandbox. A command that is only \`cd <dir>\` changes the folder later commands start in. Output is stdout and stderr together; a non-zero exit code is reported.`,
      parameters: object({ command: text('The command line.') }, ['command']),
      ...flags,
      // The command's own limit plus a margin, so the agent's tool timeout never fires first.
      timeout_ms: Math.max(flags.timeout_ms ?? 0, commandTimeoutMs + 5_000),
    },
    { name: 'list_files', description: 'List every file under a folder of the workspace (recursively; .git and node_modules skipped).', parameters: object({ path: text('A folder relative to the workspace; default the workspace itself.') }, []), ...flags },
    {
      name: 'read_file',
      description: 'Read a text file with line numbers (cat -n style), at most 2000 lines from `offset` (0-based) and 2000 characters a line.',
      parameters: object({ file_path: file, offset: integer('First line to show, 0-based (default 0).'), limit: integer('Most lines to show (default and at most 2000).') }, ['file_path']),
      ...flags,
    },
    { name: 'write_file', description: 'Write a whole file (created with its folders, or replaced).', parameters: object({ file_path: file, content: text('The whole new content.') }, ['file_path', 'content']), ...flags },
    {
      name: 'edit_file',
      description: 'Replace `old_string` with `new_string` in a file. `old_string` must occur exactly once unless `replace_all` is true: include enough surrounding text to make it unique.',
      parameters: object({ file_path: file, old_string: text('The exact text to replace.'), new_string: text('The text to put instead.'), replace_all: flag('Replace every occurrence (default false).') }, ['file_path', 'old_string', 'new_string']),
      ...flags,
    },
    {
      name: 'multi_edit',
      description: 'Several edits of one file at once: each is checked first (each `old_string` found, unique unless replace_all), then all are applied in order, or none. A backup is made first.',
      parameters: object(
        {
          file_path: file,
          edits: {
            type: 'array',
            items: object({ old_string: text('The exact text to replace.'), new_string: text('The text to put instead.'), replace_all: flag('Replace every occurrence.') }, ['old_string', 'new_string']),
          },
        },
        ['file_path', 'edits'],
      ),
      ...flags,
    },
    {
      name: 'search_in_files',
      description: 'Search files for a regular expression; each match as path:line:text.',
      parameters: object(
        {
          pattern: text('A regular expression (JavaScript syntax).'),
          file_glob: text('Which files: a name pattern like *.py (any folder), or a path pattern like src/**/*.ts. Default: all.'),
          context_lines: integer('Lines shown before and after each match (default 0).'),
          case_insensitive: flag('Ignore case (default false).'),
        },
        ['pattern'],
      ),
      ...flags,
    },
    { name: 'find_files', description: 'Find files by glob pattern: *.ts in the folder itself, **/*.ts anywhere below it.', parameters: object({ pattern: text('A glob pattern.'), path: text('The folder to look in (default the workspace).') }, ['pattern']), ...flags },
    { name: 'backup_file', description: 'Copy a file to <file>.backup_<timestamp> and say the backup name.', parameters: object({ file_path: file }, ['file_path']), ...flags },
    { name: 'restore_backup', description: 'Copy a backup back over a file.', parameters: object({ file_path: file, backup_name: text('The backup file, as backup_file named it.') }, ['file_path', 'backup_name']), ...flags },
  ];
}

/** The classic engine's aliases of its actions. */
const ALIASES: Readonly<Record<string, string>> = { run: 'execute_command', ls: 'list_files' };

function stringEnv(variables: Readonly<Record<string, unknown>> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(variables ?? {})) {
    if (value === null || value === undefined) continue;
    // The classic engine allowed nested maps; a program gets them as JSON.
    env[key] = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
  return env;
}

/** `user/repo` is a GitHub repository, as the classic engine read it; anything else is given to git as it is. */
export function cloneUrl(repoUrl: string): string {
  return /^[\w.-]+\/[\w.-]+$/.test(repoUrl) && !existsSync(repoUrl) ? `https://github.com/${repoUrl}.git` : repoUrl;
}

/** The first word of a script entry, when it names a file of the project: that file runs, mounted read-only. */
function projectScript(entry: string, resolvePath: (relative: string) => string): { name: string; file: string; rest: string } | undefined {
  const match = /^\s*(\S+)(.*)$/s.exec(entry);
  if (!match) return undefined;
  const word = match[1]!.replace(/^\.\//, '');
  if (word.includes('..') || path.isAbsolute(word)) return undefined;
  let file: string;
  try {
    file = resolvePath(word);
  } catch {
    return undefined;
  }
  return existsSync(file) ? { name: path.basename(word), file, rest: match[2] ?? '' } : undefined;
}

/**
 * What differs between `environment coding` and the classic `core` tools that map onto it: where
 * the classic container kept the workspace (its path inside, the project folder outside), and which
 * of the actions are offered.
 */
interface EnvironmentPreset {
  readonly kind: string;
  readonly type: string;
  /** The classic container path: the default `local_path` and `working_directory`. */
  readonly mount: string;
  /** Where that path lives in the project. */
  readonly folder: string;
  readonly offer: (specs: readonly ToolSpec[]) => ToolSpec[];
}

function defineEnvironment(preset: EnvironmentPreset): ComponentDefinition<CodingEnvironmentConfig> {
  return defineComponent<CodingEnvironmentConfig>({
    kind: preset.kind,
    type: preset.type,
    resultEvent: 'tool.result',
    create: ({ config, component, logger, io }) => {
      const mount = config.working_directory ?? preset.mount;
      const kind: SandboxKind = config.sandbox ?? 'bubblewrap';
      const commandTimeoutMs = config.command_timeout ?? DEFAULT_COMMAND_TIMEOUT_MS;
      const maxOutputBytes = config.max_command_output ?? DEFAULT_MAX_COMMAND_OUTPUT;
      const specs = preset.offer(toolSpecs(mount, toolFlags(config), commandTimeoutMs));
      const offered = new Set(specs.map((spec) => spec.name));
      let workspace: Workspace | undefined;
      let sandbox: SandboxOptions | undefined;
      /** Why commands cannot run here; undefined when they can. */
      let refusal: string | undefined;

      const fail = (code: 'WW_AI_ENVIRONMENT' | 'WW_AI_SANDBOX_UNAVAILABLE', message: string, hint: string) =>
        new WoodworkAiError(code, message, { component: component.name, location: component.location, hint });

      const scriptsOf = (entries: readonly string[], resolvePath: (relative: string) => string) =>
        entries.map((entry) => {
          const script = projectScript(entry, resolvePath);
          if (!script) return { entry, command: entry };
          // A project file runs with bash when its first line says so, else sh, as `./script` would;
          // inside the sandbox it is mounted under /woodwork/scripts, without one it is where it is.
          const interpreter = /^#!.*\bbash\b/.test(readFileSync(script.file, 'utf8').split('\n', 1)[0] ?? '') ? 'bash' : 'sh';
          const file = kind === 'none' ? script.file : `/woodwork/scripts/${script.name}`;
          return { entry, command: `${interpreter} '${file.replace(/'/g, `'\\''`)}'${script.rest}` };
        });

      async function runScripts(which: 'setup_scripts' | 'startup_scripts', entries: readonly string[], resolvePath: (relative: string) => string) {
        for (const { entry, command } of scriptsOf(entries, resolvePath)) {
          const result = await runCommand(sandbox!, command, { timeoutMs: SCRIPT_TIMEOUT_MS, maxOutputBytes });
          logger.info(`${which}: ${entry} exited ${result.exitCode ?? 'killed'} in ${Math.round(result.durationMs)} ms`);
          if (result.exitCode !== 0) {
            const tail = result.output.trimEnd().split('\n').slice(-15).join('\n');
            throw fail('WW_AI_ENVIRONMENT', `the ${which} entry \`${entry}\` ${result.timedOut ? `ran longer than ${SCRIPT_TIMEOUT_MS / 60_000} minutes` : `failed with exit code ${result.exitCode}`}${tail ? `:\n${tail}` : ''}`, `fix the script (it runs in ${mount} inside the sandbox${config.network ? '' : ', without network: set network = true if it downloads'}); ${which === 'setup_scripts' ? `the setup runs again at the next start, since ${SETUP_MARKER} was not written` : 'startup scripts run at every start'}`);
          }
        }
      }

      return {
        async init(context) {
          const stateDir = path.join(context.projectDir, '.woodwork', 'environments', component.name);
          const local = config.local_path ?? preset.mount;
          const folder =
            local === preset.mount || local.startsWith(`${preset.mount}/`)
              ? path.join(context.projectDir, preset.folder, local.slice(preset.mount.length))
              : path.isAbsolute(local) || local.startsWith('~')
                ? path.resolve(local.replace(/^~(?=$|\/)/, os.homedir()))
                : context.resolvePath(local);
          const home = path.join(stateDir, 'home');
          await mkdir(home, { recursive: true });

          if (config.repo_url) {
            const hasGit = existsSync(path.join(folder, '.git'));
            if (!hasGit) {
              const entries = await readdir(folder).catch(() => [] as string[]);
              if (entries.length > 0) {
                throw fail('WW_AI_ENVIRONMENT', `the workspace ${folder} is not empty and is not a git clone, so \`${config.repo_url}\` cannot be cloned into it`, 'empty the folder, point local_path elsewhere, or remove repo_url to use the folder as it is');
              }
              await mkdir(path.dirname(folder), { recursive: true });
              const url = cloneUrl(config.repo_url);
              try {
                // On the host, not in the sandbox: the clone is the file author's, and needs the network.
                await run('git', ['clone', '--quiet', '--', url, folder], { timeout: 10 * 60_000, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
              } catch (error) {
                await rm(folder, { recursive: true, force: true });
                const stderr = String((error as { stderr?: string }).stderr ?? errorMessage(error)).trim();
                throw fail('WW_AI_ENVIRONMENT', `git could not clone ${url}: ${stderr}`, 'check repo_url (a git URL, a path, or user/repo for GitHub) and that git can reach it');
              }
              logger.info(`cloned ${url} into ${folder}`);
            }
          }
          await mkdir(folder, { recursive: true });
          workspace = new Workspace(folder, mount);

          // The classic engine configured git only when no setup script would.
          const gitconfig = path.join(home, '.gitconfig');
          if (!config.setup_scripts?.length && !existsSync(gitconfig)) {
            await writeFile(gitconfig, `[user]\n\tname = Woodwork Agent\n\temail = agent@woodwork.dev\n[init]\n\tdefaultBranch = main\n[safe]\n\tdirectory = ${mount}\n`);
          }

          const scripts: Record<string, string> = {};
          for (const entry of [...(config.setup_scripts ?? []), ...(config.startup_scripts ?? [])]) {
            const script = projectScript(entry, (relative) => context.resolvePath(relative));
            if (script) scripts[script.name] = script.file;
          }
          sandbox = {
            kind,
            workspace: folder,
            mountPoint: mount,
            home,
            network: config.network === true,
            env: stringEnv(config.environment_variables),
            readOnlyPaths: (config.read_only_paths ?? []).map((entry) => path.resolve(context.projectDir, entry)),
            scripts,
          };

          if (kind === 'bubblewrap') {
            const problem = bubblewrapProblem();
            if (problem) refusal = `${problem}, so \`${component.name}\` runs no commands`;
          } else {
            io.announce?.(`${component.name}: sandbox = "none" — commands run on this machine as this user, with its network, confined to nothing but their working folder ${folder}`);
          }
          const hasScripts = (config.setup_scripts?.length ?? 0) + (config.startup_scripts?.length ?? 0) > 0;
          if (refusal && hasScripts) {
            throw fail('WW_AI_SANDBOX_UNAVAILABLE', `${refusal}, and it has setup or startup scripts to run`, 'install bubblewrap (`apt-get install bubblewrap`, or your distribution\'s bubblewrap package; in the Woodwork repository: `bash tools/sandbox.sh install`), or write sandbox = "none" to run commands unconfined on this machine');
          }

          // Setup: once per workspace, remembered by the classic marker file in it.
          const marker = path.join(folder, SETUP_MARKER);
          const setup = config.setup_scripts ?? [];
          if (setup.length > 0) {
            // The classic way to force a rerun: a first entry that removes the marker.
            if (/^\s*rm\s+-f\s+\S*\.woodwork_setup_complete\b/.test(setup[0]!)) await rm(marker, { force: true });
            if (existsSync(marker)) {
              logger.info(`setup_scripts already ran in ${folder} (${SETUP_MARKER} is there); skipped`);
            } else {
              await runScripts('setup_scripts', setup, (relative) => context.resolvePath(relative));
              await writeFile(marker, `${new Date().toISOString()}\n`);
            }
          }
          if (config.startup_scripts?.length) await runScripts('startup_scripts', config.startup_scripts, (relative) => context.resolvePath(relative));
        },

        methods: {
          tools: () => specs as unknown as JsonValue,
        },

        async handle(message, context) {
          const request = message.payload;
          if (!isToolCallRequest(request)) {
            throw new WoodworkAiError('WW_AI_TOOL_FAILED', `\`${component.name}\` was sent ${JSON.stringify(request)?.slice(0, 80)}, not a tool call`, {
              component: component.name,
              location: component.location,
              hint: "an agent calls it with { tool, input }; list it in an agent's `tools`",
            });
          }
          const tool = ALIASES[request.tool] ?? request.tool;
          if (!offered.has(tool) && !offered.has(request.tool)) {
            throw new WoodworkAiError('WW_AI_TOOL_FAILED', `there is no tool \`${request.tool}\`; \`${component.name}\` offers ${specs.map((spec) => spec.name).join(', ')}`, { component: component.name, location: component.location });
          }
          const input = (typeof request.input === 'object' && request.input !== null ? request.input : {}) as Record<string, unknown>;
          try {
            return await act(tool, input, context);
          } catch (error) {
            if (WoodworkAiError.isAiError(error)) throw error;
            throw new WoodworkAiError('WW_AI_TOOL_FAILED', `${request.tool}: ${error instanceof WorkspaceError ? error.message : errorMessage(error)}`, {
              component: component.name,
              location: component.location,
              hint: error instanceof WorkspaceError ? 'paths are relative to the workspace' : `\`${component.name}\` (environment coding) failed`,
            });
          }
        },
      };

      async function act(tool: string, input: Record<string, unknown>, context: HandlerContext<CodingEnvironmentConfig>): Promise<JsonValue> {
        const ws = workspace!;
        const str = (key: string, fallback?: string) => (typeof input[key] === 'string' ? (input[key] as string) : fallback);
        const need = (key: string) => {
          const value = str(key);
          if (value === undefined) throw new WorkspaceError(`\`${tool}\` needs \`${key}\` (a string)`);
          return value;
        };
        switch (tool) {
          case 'execute_command':
            return executeCommand(str('command') ?? str('input') ?? need('command'), context);
          case 'list_files':
            return ws.listFiles(str('path', '.'));
          case 'read_file':
            return ws.readFile(str('file_path') ?? need('path'), Number(input.offset ?? 0), Number(input.limit ?? 2000));
          case 'write_file':
            return ws.writeFile(str('file_path') ?? need('path'), str('content') ?? '');
          case 'edit_file':
            return ws.editFile(str('file_path') ?? need('path'), need('old_string'), need('new_string'), input.replace_all === true);
          case 'multi_edit':
            return ws.multiEdit(str('file_path') ?? need('path'), input.edits as Edit[]);
          case 'search_in_files':
            return ws.searchInFiles(need('pattern'), str('file_glob', '*'), Number(input.context_lines ?? 0), input.case_insensitive === true);
          case 'find_files':
            return ws.findFiles(need('pattern'), str('path', '.'));
          case 'backup_file':
            return ws.backupFile(str('file_path') ?? need('path'));
          case 'restore_backup':
            return ws.restoreBackup(str('file_path') ?? need('path'), need('backup_name'));
          default:
            throw new WorkspaceError(`there is no action \`${tool}\`; the actions are ${specs.map((spec) => spec.name).join(', ')}`);
        }
      }

      async function executeCommand(command: string, context: HandlerContext<CodingEnvironmentConfig>): Promise<string> {
        if (refusal) {
          throw fail('WW_AI_SANDBOX_UNAVAILABLE', `${refusal}: \`${command.slice(0, 80)}\` was not run`, 'install bubblewrap (`apt-get install bubblewrap`), or write sandbox = "none" in the .ww file to run commands unconfined on this machine');
        }
        const cwd = (await context.session.get<string>(CWD_KEY)) ?? '.';
        // `cd <dir>` alone moves the session's folder, as the classic engine did; `cd x && …` is the shell's.
        const cd = /^\s*cd(?:\s+(?:"([^"]*)"|'([^']*)'|(\S+)))?\s*$/.exec(command);
        if (cd) {
          const target = cd[1] ?? cd[2] ?? cd[3] ?? '';
          // Workspace.resolve takes paths under the mount point as they are and refuses other absolute ones.
          const next = target === '' || target === '~' ? '.' : target.startsWith('/') ? target : path.posix.join(cwd, target);
          const full = await workspace!.resolve(next);
          if (!(await stat(full).catch(() => undefined))?.isDirectory()) throw new WorkspaceError(`cd: ${target}: no such folder in the workspace`);
          const relative = path.relative(workspace!.folder, full) || '.';
          await context.session.set(CWD_KEY, relative);
          return `Changed directory to ${path.posix.join(mount, relative)}`;
        }
        const result = await runCommand(sandbox!, command, { cwd, timeoutMs: commandTimeoutMs, maxOutputBytes, signal: context.signal });
        return describeResult(result, { timeoutMs: commandTimeoutMs, component: component.name });
      }
    },
  });
}

/** `environment coding`: every action; the workspace where the classic engine's container had it. */
export const codingEnvironment = defineEnvironment({ kind: 'environment', type: 'coding', mount: '/workspace', folder: '.woodwork/coding-env', offer: (specs) => [...specs] });

/** The classic `core command_line`: one tool, `run({ input })`, in the classic `.woodwork/vm` folder. */
export const coreCommandLine = defineEnvironment({
  kind: 'core',
  type: 'command_line',
  mount: '/home/ubuntu/repo',
  folder: '.woodwork/vm',
  offer: (specs) => {
    const command = specs.find((spec) => spec.name === 'execute_command')!;
    return [{ ...command, name: 'run', parameters: { type: 'object', properties: { input: { type: 'string', description: 'The command line.' } }, required: ['input'], additionalProperties: false } }];
  },
});

/** The classic `core code`: the file actions, on the same `.woodwork/vm` folder as `core command_line` (and a clone of `repo_url`). */
export const coreCode = defineEnvironment({
  kind: 'core',
  type: 'code',
  mount: '/home/ubuntu/repo',
  folder: '.woodwork/vm',
  offer: (specs) => specs.filter((spec) => spec.name !== 'execute_command'),
});
