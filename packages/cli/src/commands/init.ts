/**
 * `woodwork init [dir]`: writes a small project that `woodwork validate` accepts and
 * `woodwork run` runs without API keys. Refuses to overwrite anything unless --force.
 */
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';
import { projectTemplate } from '../templates/project.js';
import { cliVersion } from '../version.js';

export interface InitOptions {
  readonly force?: boolean;
}

export async function initCommand(terminal: Terminal, dir: string, options: InitOptions): Promise<number> {
  const target = path.resolve(terminal.cwd, dir);
  const style = paint(useColor(terminal, 'stderr'));
  const files = projectTemplate(path.basename(target), cliVersion, terminal.env);

  const existing: string[] = [];
  for (const file of Object.keys(files)) {
    if (await exists(path.join(target, file))) existing.push(file);
  }
  if (existing.length > 0 && !options.force) {
    terminal.stderr.write(
      `${style('red', 'error')} woodwork init: ${path.relative(terminal.cwd, target) || '.'} already has ${existing.join(', ')}.\n` +
        `  Nothing was written. Pick an empty folder (woodwork init my-agent) or pass --force to overwrite those files.\n`,
    );
    return ExitCode.problems;
  }

  await mkdir(target, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    await writeFile(path.join(target, file), content);
  }
  const shown = path.relative(terminal.cwd, target) || '.';
  terminal.stdout.write(
    `Created a Woodwork project in ${shown}: ${Object.keys(files).join(', ')}\n\n` +
      `Next:\n` +
      (shown === '.' ? '' : `  cd ${shellWord(shown)}\n`) +
      `  npm install\n` +
      `  npx woodwork validate\n` +
      `  npx woodwork run\n` +
      `  npx woodwork test\n`,
  );
  return ExitCode.ok;
}

/** A path as a shell word that can be copied as it is: quoted when it holds spaces or other special characters. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
