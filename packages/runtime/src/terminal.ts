/**
 * `runTerminal`: a terminal session with a running topology — what `woodwork run` and
 * `woodwork dev` show. Three modes, one loop:
 *
 * - interactive (stdin is a TTY): a `> ` prompt with line editing and history (node:readline);
 *   each line is one turn; the prompt comes back when the turn completed; Ctrl-C or Ctrl-D ends it;
 * - piped (stdin is not a TTY): each line is one turn, in order; the end of input ends it;
 * - one-shot (`inputs`): each given text is one turn; then it ends.
 *
 * What is printed: a reply that an `output console` component did not already print here (a
 * topology without an output, with another output, or whose output runs in another process),
 * streamed chunks of such a reply as they arrive, and every `agent.error` (on stderr, with the
 * place and the hint).
 */
import { createInterface, type Interface } from 'node:readline';
import { EventTypes, textOf, type AgentErrorPayload, type StreamChunkPayload } from './events.js';
import { errorMessage, formatLocation } from './errors.js';
import { traceIdOf } from './trace.js';
import type { SessionClient, SessionEvent } from './types.js';
import type { Topology } from '@woodwork/parser';

export interface TerminalOptions {
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: unknown };
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  /** Texts to send one after the other instead of reading stdin (`woodwork run --input`). */
  readonly inputs?: readonly string[];
  /** Default: stdin is a TTY. */
  readonly interactive?: boolean;
  /** Default `> `. */
  readonly prompt?: string;
  /** The component input goes into. Default: the runtime's (the first input component). */
  readonly to?: string;
  /** Continue this session instead of starting one. */
  readonly sessionId?: string;
  readonly color?: boolean;
  /** Ends the session early (the CLI aborts it on SIGINT and SIGTERM). */
  readonly signal?: AbortSignal;
  /** Printed once before the first prompt in interactive mode. */
  readonly banner?: string;
  /** Paths in error places are shown relative to this folder. */
  readonly cwd?: string;
  /**
   * The `output console` components that write in this process, so their replies are not printed
   * twice. Default: every one of the topology (the runtime runs them here). A client of components
   * that run in other processes (`woodwork run --attach`) passes `[]`: their console is elsewhere.
   */
  readonly consoleOutputsHere?: readonly string[];
}

export interface TerminalResult {
  readonly sessionId: string;
  readonly turns: number;
  /** Turns that reported at least one `agent.error` (or timed out). */
  readonly failedTurns: number;
  /** How it ended: `end of input`, `interrupted` (Ctrl-C / signal), `closed` (Ctrl-D). */
  readonly reason: 'end of input' | 'interrupted' | 'closed';
}

/** What `runTerminal` needs of a runtime (a `Runtime`, or a client of a remote one). */
export interface TerminalRuntime extends SessionClient {
  readonly topology: Topology;
}

const red = (on: boolean, text: string) => (on ? `\u001b[31m${text}\u001b[39m` : text);
const dim = (on: boolean, text: string) => (on ? `\u001b[2m${text}\u001b[22m` : text);

export async function runTerminal(runtime: TerminalRuntime, options: TerminalOptions): Promise<TerminalResult> {
  const stdin = options.stdin ?? process.stdin;
  const interactive = options.inputs === undefined && (options.interactive ?? stdin.isTTY === true);
  const color = options.color ?? false;
  const consoleOutputs = new Set(
    options.consoleOutputsHere ??
      runtime.topology.components.filter((component) => component.kind === 'output' && component.type === 'console').map((component) => component.name),
  );
  const sessionId = options.sessionId ?? (await runtime.create());
  const events = runtime.events(sessionId, { from: 'live' })[Symbol.asyncIterator]();
  let turns = 0;
  let failedTurns = 0;
  let interrupted = false;
  const stop = new AbortController();
  const onAbort = () => {
    interrupted = true;
    stop.abort();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  const printError = (event: SessionEvent) => {
    const payload = event.payload as Partial<AgentErrorPayload> | null;
    const message = payload?.error?.message ?? textOf(event.payload);
    const place = payload?.location ? ` ${dim(color, `(${formatLocation(payload.location, options.cwd)})`)}` : '';
    options.stderr.write(`${red(color, 'error')} ${message}${place}\n`);
    if (payload?.error?.hint) options.stderr.write(`  ${dim(color, 'hint:')} ${payload.error.hint}\n`);
  };

  /** Sends one input and prints what comes back until the turn completes. */
  const turn = async (text: string): Promise<void> => {
    turns++;
    let failed = false;
    const streamed = new Set<string>();
    let current;
    try {
      current = await runtime.submit(sessionId, text, options.to === undefined ? {} : { to: options.to });
    } catch (error) {
      failedTurns++;
      options.stderr.write(`${red(color, 'error')} ${errorMessage(error)}\n`);
      return;
    }
    const timedOut = current.result.then(
      () => new Promise<never>(() => undefined),
      (error: unknown) => ({ error }),
    );
    const stopped = new Promise<{ stopped: true }>((resolve) => {
      if (stop.signal.aborted) resolve({ stopped: true });
      stop.signal.addEventListener('abort', () => resolve({ stopped: true }), { once: true });
    });
    for (;;) {
      const next = await Promise.race([events.next(), timedOut, stopped]);
      if ('stopped' in next) return;
      if ('error' in next) {
        failedTurns++;
        options.stderr.write(`${red(color, 'error')} ${errorMessage(next.error)}\n`);
        return;
      }
      if (next.done) return;
      const event = next.value;
      if (traceIdOf(event.trace) !== current.turnId) continue;
      switch (event.event_type) {
        case EventTypes.streamChunk: {
          const source = event.component_source;
          if (consoleOutputs.has(source) || !endsAtSession(runtime.topology, source)) break;
          const payload = event.payload as StreamChunkPayload;
          if (payload.data_type === 'text' && typeof payload.data === 'string' && payload.data !== '') {
            options.stdout.write(payload.data);
            streamed.add(source);
          }
          break;
        }
        case EventTypes.streamRestarted: {
          // Its producer died mid-stream and the reply is produced again from the start: what was
          // printed of it is void. A terminal cannot take it back, so it says so.
          const source = event.component_source;
          if (!streamed.has(source)) break;
          options.stdout.write(`\n${dim(color, '(the reply restarts: the component producing it was handed the message again after its host died)')}\n`);
          break;
        }
        case EventTypes.sessionReplied: {
          const source = event.component_source;
          if (consoleOutputs.has(source)) break;
          if (streamed.has(source)) {
            options.stdout.write('\n');
            break;
          }
          const reply = textOf(event.payload);
          options.stdout.write(reply.endsWith('\n') ? reply : `${reply}\n`);
          break;
        }
        case EventTypes.agentError:
          failed = true;
          printError(event);
          break;
        case EventTypes.turnCompleted:
          if (failed) failedTurns++;
          return;
        default:
          break;
      }
    }
  };

  let reason: TerminalResult['reason'] = 'end of input';
  try {
    if (options.inputs !== undefined) {
      for (const text of options.inputs) {
        if (stop.signal.aborted) break;
        await turn(text);
      }
    } else {
      reason = await readLines(stdin, options, interactive, turn, stop.signal, onAbort);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await events.return?.();
    await runtime.end(sessionId, interrupted ? 'interrupted' : 'ended').catch(() => undefined);
  }
  if (interrupted) reason = 'interrupted';
  return { sessionId, turns, failedTurns, reason };
}

/** Whether `component`'s result goes back to the session (it has nowhere else to go). */
function endsAtSession(topology: Topology, component: string): boolean {
  const found = topology.components.find((candidate) => candidate.name === component);
  return found !== undefined && found.to.length === 0 && found.kind !== 'output';
}

async function readLines(
  stdin: NodeJS.ReadableStream & { isTTY?: boolean },
  options: TerminalOptions,
  interactive: boolean,
  turn: (text: string) => Promise<void>,
  signal: AbortSignal,
  interrupt: () => void,
): Promise<TerminalResult['reason']> {
  const rl: Interface = createInterface({
    input: stdin,
    output: interactive ? options.stdout : undefined,
    terminal: interactive,
    prompt: options.prompt ?? '> ',
    historySize: 500,
  });
  let reason: TerminalResult['reason'] = interactive ? 'closed' : 'end of input';
  const closed = new Promise<void>((resolve) => rl.once('close', resolve));
  const onAbort = () => {
    reason = 'interrupted';
    rl.close();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  if (interactive) {
    rl.on('SIGINT', () => {
      // Ctrl-C: stop waiting for the turn in progress and end the session.
      options.stdout.write('\n');
      interrupt();
    });
    if (options.banner) options.stdout.write(`${options.banner}\n`);
    rl.prompt();
  }
  // Lines are handled one at a time, in order: a line typed (or piped) while a turn runs waits.
  const lines: string[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  rl.on('line', (line) => {
    lines.push(line);
    wake?.();
  });
  void closed.then(() => {
    ended = true;
    wake?.();
  });
  try {
    for (;;) {
      const line = lines.shift();
      if (line === undefined) {
        if (ended || signal.aborted) break;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      const text = line.trim();
      if (text !== '') await turn(text);
      if (signal.aborted) break;
      if (interactive && !ended) rl.prompt();
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    rl.close();
  }
  return reason;
}
