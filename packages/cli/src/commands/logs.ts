/**
 * `woodwork logs [file] [--component X] [--follow]`: the output of the processes of a `woodwork up`,
 * from `.woodwork/logs/<unit>.log` — merged in time order, each line prefixed by its unit (in
 * colour on a TTY). `--follow` keeps printing new lines until Ctrl-C. Works while `up` runs and
 * after it stopped (the files stay until the next `up`).
 */
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { logsDir, readUpState } from '@woodwork/runtime/distributed';
import { ExitCode, useColor, type Terminal } from '../terminal.js';
import { displayPath, printError, projectDirOf, unitPrefix } from './up.js';

export interface LogsOptions {
  readonly component?: string;
  readonly follow?: boolean;
  /** Only the last N lines (of the merged output) before following. */
  readonly lines?: string;
  readonly timestamps?: boolean;
}

interface Source {
  readonly unit: string;
  readonly file: string;
  offset: number;
  pending: string;
}

interface Line {
  readonly unit: string;
  readonly time: string;
  readonly text: string;
}

const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)$/;

function parseLine(unit: string, raw: string): Line {
  const match = TIMESTAMP.exec(raw);
  return match ? { unit, time: match[1]!, text: match[2]! } : { unit, time: '', text: raw };
}

/** Reads what was appended to a source since last time; complete lines only. */
async function readNew(source: Source): Promise<Line[]> {
  let size: number;
  try {
    size = (await stat(source.file)).size;
  } catch {
    return [];
  }
  if (size < source.offset) {
    // A new `up` truncated it: start over.
    source.offset = 0;
    source.pending = '';
  }
  if (size === source.offset) return [];
  const handle = await open(source.file, 'r');
  try {
    const buffer = Buffer.alloc(size - source.offset);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, source.offset);
    source.offset += bytesRead;
    const text = source.pending + buffer.subarray(0, bytesRead).toString('utf8');
    const parts = text.split('\n');
    source.pending = parts.pop() ?? '';
    return parts.map((raw) => parseLine(source.unit, raw));
  } finally {
    await handle.close();
  }
}

export async function logsCommand(terminal: Terminal, file: string | undefined, options: LogsOptions): Promise<number> {
  const { projectDir } = await projectDirOf(terminal, file);
  const dir = logsDir(projectDir);
  const shownDir = displayPath(terminal, dir);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.log')).map((name) => name.slice(0, -'.log'.length));
  } catch {
    printError(terminal, `no logs in ${shownDir}`, '`woodwork up` writes them there; start it first');
    return ExitCode.problems;
  }
  let limit: number | undefined;
  if (options.lines !== undefined) {
    limit = Number(options.lines);
    if (!Number.isInteger(limit) || limit < 0) {
      printError(terminal, `--lines is ${JSON.stringify(options.lines)}, which is not a whole number`, 'for example --lines 100');
      return ExitCode.usage;
    }
  }

  // Units in the order `up` started them (the state file knows), then any other log file.
  const state = await readUpState(projectDir);
  const order = [...(state?.processes.map((entry) => entry.name) ?? []).filter((name) => names.includes(name)), ...names.filter((name) => !state?.processes.some((entry) => entry.name === name)).sort()];
  let selected = order;
  if (options.component !== undefined) {
    const wanted = options.component;
    const owner = state?.processes.find((entry) => entry.name === wanted || entry.components.includes(wanted))?.name ?? wanted;
    if (!order.includes(owner)) {
      printError(terminal, `no logs of \`${wanted}\` in ${shownDir}`, `the logs there are of: ${order.join(', ') || 'nothing yet'}`);
      return ExitCode.problems;
    }
    selected = [owner];
  }

  const color = useColor(terminal);
  const width = Math.max(2, ...selected.map((name) => name.length));
  const print = (line: Line) => {
    const index = line.unit === 'up' ? -1 : order.indexOf(line.unit);
    const time = options.timestamps && line.time ? `${line.time} ` : '';
    terminal.stdout.write(`${unitPrefix(line.unit, index, width, color)}${time}${line.text}\n`);
  };
  const sources: Source[] = selected.map((unit) => ({ unit, file: path.join(dir, `${unit}.log`), offset: 0, pending: '' }));

  const first = (await Promise.all(sources.map(readNew))).flat();
  // Stable sort: lines of one file keep their order; files interleave by time.
  first.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  for (const line of limit === undefined ? first : first.slice(Math.max(0, first.length - limit))) print(line);
  if (!options.follow) return ExitCode.ok;

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    while (!stop.signal.aborted) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          stop.signal.removeEventListener('abort', wake);
          resolve();
        }, 200);
        stop.signal.addEventListener('abort', wake, { once: true });
      });
      if (options.component === undefined) {
        // A unit that appeared since (a new `up` with another topology).
        const current = await readdir(dir).catch(() => [] as string[]);
        for (const name of current) {
          const unit = name.slice(0, -'.log'.length);
          if (name.endsWith('.log') && !sources.some((source) => source.unit === unit)) {
            order.push(unit);
            sources.push({ unit, file: path.join(dir, name), offset: 0, pending: '' });
          }
        }
      }
      const fresh = (await Promise.all(sources.map(readNew))).flat();
      fresh.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
      for (const line of fresh) print(line);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return ExitCode.ok;
}
