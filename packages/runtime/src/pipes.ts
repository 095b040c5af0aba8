/**
 * Pipes: synchronous transforms of the messages a component receives, run in order before
 * `handle`. A pipe gets `(payload, context)` and returns the new payload; returning `undefined` (or
 * Python's `None`) keeps the payload as it was. A pipe with an `event` pattern runs only on messages
 * of matching event types. A pipe that throws (or runs past the pipe timeout) fails the message:
 * the runtime reports it as an `agent.error` naming the pipe, its file and the component.
 */
import type { PipeSpec } from '@woodwork/parser';
import { errorMessage, WoodworkRuntimeError } from './errors.js';
import { matchesEvent } from './events.js';
import type { LoadedFunction } from './types.js';

export interface LoadedPipe {
  readonly spec: PipeSpec;
  readonly fn: LoadedFunction;
}

/** What a pipe (and a hook) gets as its second argument: plain JSON, the same for JS and Python. */
export interface PipeContext {
  readonly sessionId: string;
  readonly component: string;
  readonly event: string;
  readonly messageId: string;
  readonly source: string;
}

export type PipeOutcome =
  | { readonly ok: true; readonly payload: unknown }
  | { readonly ok: false; readonly pipe: LoadedPipe; readonly error: WoodworkRuntimeError };

function withTimeout<T>(work: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) return work;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export { withTimeout };

/** `pipes.ts::shout` as written in the file. */
export function describeSpec(spec: PipeSpec): string {
  return `${spec.module}::${spec.export}`;
}

/** Runs the pipes that match `context.event`, in order. Never throws: a failure is an outcome. */
export async function runPipes(
  pipes: readonly LoadedPipe[],
  payload: unknown,
  context: PipeContext,
  timeoutMs: number,
): Promise<PipeOutcome> {
  let current = payload;
  for (const pipe of pipes) {
    if (!matchesEvent(pipe.spec.event, context.event)) continue;
    const name = describeSpec(pipe.spec);
    try {
      const result = await withTimeout(
        pipe.fn.call(current, context),
        timeoutMs,
        () => new Error(`it did not finish within ${timeoutMs} ms`),
      );
      if (result !== undefined && result !== null) current = result;
    } catch (error) {
      const python = (error as { python?: { traceback?: string } }).python;
      return {
        ok: false,
        pipe,
        error: new WoodworkRuntimeError(
          'WW_RUNTIME_PIPE_FAILED',
          `pipe \`${name}\` of component \`${context.component}\` failed: ${errorMessage(error)}`,
          {
            cause: error,
            hint: python?.traceback ? `Python traceback:\n${python.traceback.trimEnd()}` : `fix ${pipe.spec.module}; the message was not processed`,
            location: pipe.spec.location,
            component: context.component,
            sessionId: context.sessionId,
          },
        ),
      };
    }
  }
  return { ok: true, payload: current };
}
