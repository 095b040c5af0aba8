/**
 * Where the CLI writes and whether it may use colour. Commands receive a `Terminal` instead of
 * touching `process` so tests can run them in-process and read exactly what a user would see.
 */
export interface Terminal {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export function processTerminal(): Terminal {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/** Colour follows the conventions users expect: FORCE_COLOR wins, then NO_COLOR, then "is it a TTY". */
export function useColor(terminal: Terminal, stream: 'stdout' | 'stderr' = 'stdout'): boolean {
  const { env } = terminal;
  if (env.FORCE_COLOR === '0' || env.FORCE_COLOR === 'false') return false;
  if (env.FORCE_COLOR !== undefined) return true;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return terminal[stream].isTTY === true;
}

const codes = { red: [31, 39], yellow: [33, 39], green: [32, 39], dim: [2, 22], bold: [1, 22], cyan: [36, 39] } as const;
export type Style = keyof typeof codes;

export function paint(enabled: boolean) {
  return (style: Style, text: string) => (enabled ? `\u001b[${codes[style][0]}m${text}\u001b[${codes[style][1]}m` : text);
}

/** Exit codes shared by every command: 0 fine, 1 problems found in the user's input, 2 wrong usage. */
export const ExitCode = { ok: 0, problems: 1, usage: 2 } as const;
