/**
 * The classic coding environment's file actions, on a workspace folder: list, read (numbered lines,
 * the classic limits), write, edit (a unique match), multi-edit (all or nothing), search in files,
 * find files, backup and restore. They run in Node, not through a shell, so no file content is ever
 * quoted into a command line; every path is checked to stay inside the workspace — after symbolic
 * links are followed, so a link the agent made cannot lead out of it.
 *
 * Results are the classic engine's sentences (`Updated file a.txt`), which prompts written for it
 * expect; what could not be done throws a `WorkspaceError` whose message the agent shows the model.
 */
import { copyFile, mkdir, readdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { minimatch } from 'minimatch';

/** The classic read limits: 2000 lines a call, 2000 characters a line. */
export const READ_LIMIT_LINES = 2000;
export const READ_LIMIT_LINE_CHARS = 2000;
/** Search output is cut at this many matching lines, so one broad pattern cannot flood the model. */
const SEARCH_MAX_LINES = 500;
/** Folders that listing, finding and searching skip: version control internals and installed packages. */
const SKIPPED = new Set(['.git', 'node_modules']);

export class WorkspaceError extends Error {
  override name = 'WorkspaceError';
}

export interface Edit {
  readonly old_string: string;
  readonly new_string: string;
  readonly replace_all?: boolean;
}

export class Workspace {
  private root: string | undefined;

  /**
   * @param folder the workspace on the host
   * @param mountPoint where commands see it (`/workspace`): a path given that way is taken as relative
   */
  constructor(
    readonly folder: string,
    readonly mountPoint: string,
  ) {}

  /** The host path of `relative`, checked to stay inside the workspace (links followed). */
  async resolve(relative: string): Promise<string> {
    this.root ??= await realpath(this.folder);
    let given = String(relative ?? '.').trim() || '.';
    if (given === this.mountPoint || given.startsWith(`${this.mountPoint}/`)) given = given.slice(this.mountPoint.length).replace(/^\/+/, '') || '.';
    if (path.isAbsolute(given)) throw new WorkspaceError(`'${relative}' is outside the workspace: give a path relative to it (or under ${this.mountPoint})`);
    const full = path.resolve(this.root, given);
    // The deepest part of the path that exists, with its links followed, must be inside.
    let existing = full;
    const rest: string[] = [];
    for (;;) {
      try {
        existing = await realpath(existing);
        break;
      } catch {
        rest.unshift(path.basename(existing));
        const parent = path.dirname(existing);
        if (parent === existing) break;
        existing = parent;
      }
    }
    const real = path.join(existing, ...rest);
    if (real !== this.root && !real.startsWith(this.root + path.sep)) {
      throw new WorkspaceError(`'${relative}' is outside the workspace (${this.mountPoint}); paths cannot leave it`);
    }
    return real;
  }

  /** The path as the model should write it: relative to the workspace, `/` separated. */
  private relative(full: string): string {
    return path.relative(this.root!, full).split(path.sep).join('/') || '.';
  }

  private async readText(relative: string): Promise<{ full: string; text: string }> {
    const full = await this.resolve(relative);
    const info = await stat(full).catch(() => undefined);
    if (!info?.isFile()) throw new WorkspaceError(`File '${relative}' not found`);
    return { full, text: await readFile(full, 'utf8') };
  }

  /** Every file under `relative` (recursively; `.git` and `node_modules` skipped), relative paths. */
  async listFiles(relative = '.'): Promise<string[]> {
    const start = await this.resolve(relative);
    const info = await stat(start).catch(() => undefined);
    if (!info) throw new WorkspaceError(`'${relative}' not found`);
    if (info.isFile()) return [this.relative(start)];
    const files: string[] = [];
    await this.walk(start, (file) => {
      files.push(this.relative(file));
    });
    return files.sort();
  }

  private async walk(folder: string, visit: (file: string) => void | Promise<void>): Promise<void> {
    const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) {
        if (!SKIPPED.has(entry.name)) await this.walk(full, visit);
      } else if (entry.isFile()) {
        await visit(full);
      }
    }
  }

  /** `cat -n` style: the line number right-aligned in 6 columns, a tab, the line. */
  async readFile(relative: string, offset = 0, limit = READ_LIMIT_LINES): Promise<string> {
    const { text } = await this.readText(relative);
    if (text.trim() === '') return 'System reminder: File exists but has empty contents';
    const lines = text.split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    const start = Math.max(0, Math.trunc(Number(offset) || 0));
    if (start >= lines.length) throw new WorkspaceError(`Line offset ${start} exceeds file length (${lines.length} lines)`);
    const count = Math.min(Math.max(1, Math.trunc(Number(limit) || READ_LIMIT_LINES)), READ_LIMIT_LINES);
    const end = Math.min(start + count, lines.length);
    const out: string[] = [];
    for (let index = start; index < end; index++) out.push(`${String(index + 1).padStart(6)}\t${lines[index]!.slice(0, READ_LIMIT_LINE_CHARS)}`);
    if (end < lines.length) out.push(`[${lines.length - end} more lines: read again with offset ${end}]`);
    return out.join('\n');
  }

  async writeFile(relative: string, content: string): Promise<string> {
    const full = await this.resolve(relative);
    await mkdir(path.dirname(full), { recursive: true });
    await writeAtomically(full, String(content ?? ''));
    return `Updated file ${this.relative(full)}`;
  }

  async editFile(relative: string, oldString: string, newString: string, replaceAll = false): Promise<string> {
    const { full, text } = await this.readText(relative);
    const { content, replaced } = applyEdit(text, { old_string: oldString, new_string: newString, replace_all: replaceAll }, undefined);
    await writeAtomically(full, content);
    return replaceAll ? `Successfully replaced ${replaced} instance(s) of the string in '${relative}'` : `Successfully replaced string in '${relative}'`;
  }

  /** Every edit is checked against the file as it is before any is applied; then all are applied, or none. */
  async multiEdit(relative: string, edits: readonly Edit[]): Promise<string> {
    if (!Array.isArray(edits) || edits.length === 0) throw new WorkspaceError('edits must be a non-empty list of { old_string, new_string, replace_all? }');
    const { full, text } = await this.readText(relative);
    edits.forEach((edit, index) => {
      if (typeof edit?.old_string !== 'string' || typeof edit?.new_string !== 'string') {
        throw new WorkspaceError(`Edit ${index + 1} must be an object with 'old_string' and 'new_string'`);
      }
      applyEdit(text, edit, index + 1);
    });
    await this.backupFile(relative);
    let content = text;
    let total = 0;
    edits.forEach((edit, index) => {
      const applied = applyEdit(content, edit, index + 1);
      content = applied.content;
      total += applied.replaced;
    });
    await writeAtomically(full, content);
    return `Successfully applied ${edits.length} edits with ${total} total replacements to '${relative}'`;
  }

  /** Lines matching a regular expression, as `path:line:text` (`path-line-text` for context lines). */
  async searchInFiles(pattern: string, fileGlob = '*', contextLines = 0, caseInsensitive = false): Promise<string> {
    let regex: RegExp;
    try {
      regex = new RegExp(pattern, caseInsensitive ? 'i' : '');
    } catch (error) {
      throw new WorkspaceError(`'${pattern}' is not a valid regular expression: ${(error as Error).message}`);
    }
    const matches = matcher(fileGlob);
    const context = Math.max(0, Math.trunc(Number(contextLines) || 0));
    const out: string[] = [];
    let cut = false;
    await this.walk(await this.resolve('.'), async (file) => {
      if (cut) return;
      const relative = this.relative(file);
      if (!matches(relative)) return;
      const text = await readFile(file, 'utf8').catch(() => '');
      if (text.includes('\u0000')) return; // binary
      const lines = text.split(/\r?\n/);
      const shown = new Map<number, boolean>();
      lines.forEach((line, index) => {
        if (!regex.test(line)) return;
        for (let near = Math.max(0, index - context); near <= Math.min(lines.length - 1, index + context); near++) {
          if (!shown.get(near)) shown.set(near, near === index);
        }
      });
      for (const index of [...shown.keys()].sort((a, b) => a - b)) {
        if (out.length >= SEARCH_MAX_LINES) {
          cut = true;
          return;
        }
        out.push(`${relative}${shown.get(index) ? ':' : '-'}${index + 1}${shown.get(index) ? ':' : '-'}${lines[index]}`);
      }
    });
    if (out.length === 0) return 'No matches found';
    if (cut) out.push(`[stopped at ${SEARCH_MAX_LINES} lines: narrow the pattern or file_glob]`);
    return out.join('\n');
  }

  /** Files whose path (relative to `relative`) matches a glob: `*.ts` in that folder, `**\/*.ts` below it. */
  async findFiles(pattern: string, relative = '.'): Promise<string[]> {
    const start = await this.resolve(relative);
    const glob = String(pattern);
    const found: string[] = [];
    await this.walk(start, (file) => {
      if (minimatch(path.relative(start, file).split(path.sep).join('/'), glob, { dot: true })) found.push(this.relative(file));
    });
    return found.sort();
  }

  async backupFile(relative: string): Promise<string> {
    const { full } = await this.readText(relative);
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
    let backup = `${full}.backup_${stamp}`;
    for (let n = 2; await stat(backup).then(() => true, () => false); n++) backup = `${full}.backup_${stamp}_${n}`;
    await copyFile(full, backup);
    return `Backup created: ${this.relative(backup)}`;
  }

  async restoreBackup(relative: string, backupName: string): Promise<string> {
    const backup = await this.resolve(backupName);
    if (!(await stat(backup).catch(() => undefined))?.isFile()) throw new WorkspaceError(`Backup file '${backupName}' not found`);
    const full = await this.resolve(relative);
    await copyFile(backup, full);
    return `Successfully restored '${relative}' from backup '${backupName}'`;
  }
}

/** The classic `file_glob`: a bare pattern (`*.py`) matches file names anywhere; one with `/` matches paths. */
function matcher(glob: string): (relative: string) => boolean {
  const pattern = String(glob || '*');
  const options = { dot: true, matchBase: !pattern.includes('/') };
  return (relative) => minimatch(relative, pattern, options);
}

function count(text: string, part: string): number {
  if (part === '') return 0;
  let found = 0;
  for (let at = text.indexOf(part); at !== -1; at = text.indexOf(part, at + part.length)) found++;
  return found;
}

function applyEdit(text: string, edit: Edit, number: number | undefined): { content: string; replaced: number } {
  const which = number === undefined ? '' : ` for edit ${number}`;
  if (edit.old_string === '') throw new WorkspaceError(`old_string${which} is empty: give the exact text to replace`);
  const found = count(text, edit.old_string);
  if (found === 0) throw new WorkspaceError(`String not found in file${which}: '${edit.old_string}'`);
  if (found > 1 && !edit.replace_all) {
    throw new WorkspaceError(
      `String${which} '${edit.old_string}' appears ${found} times in file. Use replace_all=true to replace all instances, or provide a more specific string with surrounding context.`,
    );
  }
  return edit.replace_all
    ? { content: text.split(edit.old_string).join(edit.new_string), replaced: found }
    : { content: text.replace(edit.old_string, () => edit.new_string), replaced: 1 };
}

/** Writes through a temporary file and a rename, so a reader never sees half a file. */
async function writeAtomically(full: string, content: string): Promise<void> {
  const temporary = `${full}.ww-tmp-${process.pid}`;
  await writeFile(temporary, content);
  await rename(temporary, full);
}
