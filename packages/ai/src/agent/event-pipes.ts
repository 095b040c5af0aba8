/**
 * Pipes on the events an agent emits. The runtime runs a component's pipes on the messages it
 * receives; an agent also runs the pipes of its own `pipes` list whose `event` names one of the
 * events it emits mid-turn — `agent.action`, `tool.call`, `tool.observation` (exactly, or by a
 * pattern such as `tool.*`) — on that event's payload before emitting it, so the payload a pipe
 * returns is what happens: the call made, the observation the model sees. The string spelling
 * (`"pipes.ts::f"`, event `*`) stays a pipe of received messages only.
 *
 * Same contract as the runtime's pipes: `(payload, context)`, return the new payload or
 * `undefined`/`None` to keep it; JS, TS and Python alike. A pipe on `tool.call` may also veto the
 * call: return `false`, or the payload with `veto: "why"`.
 */
import type { PipeSpec } from '@woodwork/parser';
import { errorMessage, matchesEvent, type ComponentContext, type LoadedFunction } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';

export const REWRITABLE_EVENTS = ['agent.action', 'tool.call', 'tool.observation'] as const;
export type RewritableEvent = (typeof REWRITABLE_EVENTS)[number];

interface EventPipe {
  readonly spec: PipeSpec;
  readonly fn: LoadedFunction;
}

export interface EventPipes {
  readonly size: number;
  /** Runs the matching pipes in order; `false` when one vetoed (only meaningful for `tool.call`). */
  run<T>(event: RewritableEvent, payload: T, scene: { sessionId: string; messageId: string }): Promise<T | false>;
}

const none: EventPipes = { size: 0, run: async (_event, payload) => payload };

export async function loadEventPipes(context: ComponentContext, pipeTimeoutMs = 30_000): Promise<EventPipes> {
  const own = context.topology.components.find((component) => component.name === context.component.name);
  const specs = (own?.pipes ?? []).filter((spec) => spec.event !== '*' && REWRITABLE_EVENTS.some((event) => matchesEvent(spec.event, event)));
  if (specs.length === 0) return none;
  const pipes: EventPipe[] = [];
  for (const spec of specs) {
    const module = await context.loadFunctions(spec.module);
    const fn = module.get(spec.export);
    if (!fn) {
      throw new WoodworkAiError('WW_AI_PIPE_FAILED', `pipe \`${spec.module}::${spec.export}\` of \`${context.component.name}\`: ${spec.module} has no function \`${spec.export}\``, {
        component: context.component.name,
        location: spec.location,
        hint: `its functions are ${module.functions.map((candidate) => `\`${candidate.name}\``).join(', ') || 'none'}`,
      });
    }
    pipes.push({ spec, fn });
  }
  return {
    size: pipes.length,
    async run(event, payload, scene) {
      let current: unknown = payload;
      for (const pipe of pipes) {
        if (!matchesEvent(pipe.spec.event, event)) continue;
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          const result = await Promise.race([
            pipe.fn.call(current, { sessionId: scene.sessionId, component: context.component.name, event, messageId: scene.messageId, source: context.component.name }),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`it did not finish within ${pipeTimeoutMs} ms`)), pipeTimeoutMs);
            }),
          ]);
          if (result === false) return false;
          if (result !== undefined && result !== null) current = result;
        } catch (error) {
          const python = (error as { python?: { traceback?: string } }).python;
          throw new WoodworkAiError('WW_AI_PIPE_FAILED', `pipe \`${pipe.spec.module}::${pipe.spec.export}\` on ${event} of \`${context.component.name}\` failed: ${errorMessage(error)}`, {
            component: context.component.name,
            location: pipe.spec.location,
            sessionId: scene.sessionId,
            hint: python?.traceback ? `Python traceback:\n${python.traceback.trimEnd()}` : `fix ${pipe.spec.module}; the turn stopped at this ${event}`,
          });
        } finally {
          clearTimeout(timer);
        }
      }
      return current as typeof payload;
    },
  };
}
