/**
 * File paths written in a `.ww` file (pipe and hook modules, tool modules, prompt files): relative
 * to the `.ww` file and required to stay inside the project folder, so that a build can copy the
 * project and nothing else. Purely lexical: nothing here touches the file system.
 */
import path from 'node:path';

export interface ProjectFolders {
  /** The folder of the `.ww` file: paths are relative to it. */
  readonly baseDir: string;
  /** The project folder: paths must resolve inside it (by default, baseDir). */
  readonly root: string;
}

export type ProjectPathCheck =
  | { readonly ok: true; /** Normalised, `/`-separated, relative to baseDir. */ readonly path: string }
  | { readonly ok: false; readonly reason: 'empty' | 'absolute' | 'outside' };

// One file is often named many times (one pipe module for every component): each path written is
// checked once per set of folders (one per analysis), as the answer is purely lexical.
const checked = new WeakMap<ProjectFolders, Map<string, ProjectPathCheck>>();

export function checkProjectPath(written: string, folders: ProjectFolders): ProjectPathCheck {
  let known = checked.get(folders);
  if (!known) {
    known = new Map();
    checked.set(folders, known);
  }
  let result = known.get(written);
  if (!result) {
    result = checkPath(written, folders);
    known.set(written, result);
  }
  return result;
}

function checkPath(written: string, folders: ProjectFolders): ProjectPathCheck {
  const slashed = written.replace(/\\/g, '/');
  if (slashed.trim() === '') return { ok: false, reason: 'empty' };
  if (path.posix.isAbsolute(slashed) || path.win32.isAbsolute(written)) return { ok: false, reason: 'absolute' };
  const resolved = path.resolve(folders.baseDir, slashed);
  const fromRoot = path.relative(path.resolve(folders.root), resolved);
  if (fromRoot === '..' || fromRoot.startsWith(`..${path.sep}`) || path.isAbsolute(fromRoot)) return { ok: false, reason: 'outside' };
  return { ok: true, path: path.posix.normalize(slashed).replace(/^\.\//, '') };
}

export function describePathProblem(written: string, reason: 'empty' | 'absolute' | 'outside'): string {
  switch (reason) {
    case 'empty':
      return 'the path is empty';
    case 'absolute':
      return `\`${written}\` is an absolute path; paths are relative to the .ww file and stay inside the project folder`;
    case 'outside':
      return `\`${written}\` points outside the project folder`;
  }
}
