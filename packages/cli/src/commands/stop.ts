/**
 * `woodwork stop [file]`: stops the `woodwork up` of this project from any terminal. It asks the
 * supervisor (SIGTERM), which sends SIGTERM to each process; each drains its in-flight work.
 * Whatever still runs after `--timeout` seconds is killed (SIGKILL). Processes left behind by a
 * supervisor that died are stopped the same way. Stopping what does not run is not an error.
 */
import { isAlive, readUpState, removeUpState } from '@woodwork/runtime/distributed';
import { ExitCode, paint, useColor, type Terminal } from '../terminal.js';
import { displayPath, liveProcesses, printError, projectDirOf, seconds } from './up.js';

export interface StopOptions {
  /** Seconds before SIGKILL. */
  readonly timeout?: string;
}

function signal(pid: number, name: NodeJS.Signals, group = false): void {
  try {
    process.kill(group ? -pid : pid, name);
  } catch {
    if (group) signal(pid, name);
  }
}

export async function stopCommand(terminal: Terminal, file: string | undefined, options: StopOptions): Promise<number> {
  const { projectDir } = await projectDirOf(terminal, file);
  const shown = displayPath(terminal, projectDir);
  let timeoutMs: number;
  try {
    timeoutMs = seconds(options.timeout, '--timeout', 45);
  } catch (error) {
    printError(terminal, (error as Error).message, (error as { hint?: string }).hint);
    return ExitCode.usage;
  }
  const style = paint(useColor(terminal));
  const state = await readUpState(projectDir);
  if (!state) {
    terminal.stdout.write(`nothing to stop: no woodwork up runs in ${shown}\n`);
    return ExitCode.ok;
  }
  const live = await liveProcesses(state);
  const children = live.children;
  if (!live.supervisor && children.length === 0) {
    await removeUpState(projectDir);
    terminal.stdout.write(`nothing to stop: the woodwork up of ${shown} had already ended (removed its stale state)\n`);
    return ExitCode.ok;
  }

  // The supervisor stops its processes in order and removes the state file; without it, we do.
  if (live.supervisor) signal(state.pid, 'SIGTERM');
  else for (const pid of children) signal(pid, 'SIGTERM');
  const pids = [...(live.supervisor ? [state.pid] : []), ...children];
  terminal.stdout.write(
    `stopping ${children.length} process${children.length === 1 ? '' : 'es'}${live.supervisor ? ` through the supervisor (pid ${state.pid})` : ' left behind by a supervisor that is gone'}…\n`,
  );
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const stubborn = pids.filter(isAlive);
  for (const pid of stubborn) signal(pid, 'SIGKILL', pid !== state.pid);
  if (stubborn.length > 0) {
    const killDeadline = Date.now() + 5_000;
    while (stubborn.some(isAlive) && Date.now() < killDeadline) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (stubborn.length > 0 || !live.supervisor) await removeUpState(projectDir);
  if (stubborn.some(isAlive)) {
    printError(terminal, `could not stop pid${stubborn.length === 1 ? '' : 's'} ${stubborn.filter(isAlive).join(', ')}`, 'check them with `ps`; they may belong to another user');
    return ExitCode.problems;
  }
  terminal.stdout.write(
    stubborn.length > 0
      ? `${style('yellow', 'stopped')} (${stubborn.length} process${stubborn.length === 1 ? '' : 'es'} killed after ${timeoutMs / 1000} s)\n`
      : `${style('green', 'stopped')}\n`,
  );
  return ExitCode.ok;
}
