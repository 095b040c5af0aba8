/**
 * The agent's tools: what each reference in `tools = [...]` offers (asked once, over the bus, with
 * `invoke('tools')`), and one call of one tool — with its timeout and output limit — turned into
 * the text the model observes. A tool that fails, times out or answers too much is an observation
 * that says so (naming the limit and the key that sets it), never a failure of the turn.
 */
import { errorMessage, WoodworkRuntimeError, type ComponentReference, type JsonValue, type SessionContext } from '@woodwork/runtime';
import type { JsonSchema, ToolSpec } from '../tools/protocol.js';
import type { ToolObservationPayload } from './events.js';

export interface AgentTool {
  /** The name the model calls. */
  readonly name: string;
  readonly spec: ToolSpec;
  readonly reference: ComponentReference;
  /** `tool`: a tool component (`{ tool, input }`); `agent`: an agent or llm called with text. */
  readonly style: 'tool' | 'agent';
  /** The agent's own tools (`planning`): run in its host, on its session state, not over the bus. */
  readonly local?: (input: unknown, session: SessionContext) => Promise<unknown>;
}

export interface ToolLimits {
  readonly timeoutMs: number;
  readonly maxOutputChars: number;
}

export interface ToolOutcome {
  readonly status: ToolObservationPayload['status'];
  readonly output: string;
  readonly truncated?: { readonly chars: number; readonly limit: number };
  readonly durationMs: number;
}

const AGENT_INPUT: JsonSchema = {
  type: 'object',
  properties: { input: { type: 'string', description: 'What to ask, in words.' } },
  required: ['input'],
  additionalProperties: false,
};

/** Model-safe tool names: providers accept `^[a-zA-Z0-9_-]{1,64}$`. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'tool';
}

/** Asks every referenced tool what it offers. Names that collide get their component's name in front. */
export async function gatherTools(references: readonly ComponentReference[], timeoutMs: number): Promise<Map<string, AgentTool>> {
  const lists = await Promise.all(
    references.map(async (reference): Promise<AgentTool[]> => {
      if (reference.kind === 'agent' || reference.kind === 'llm') {
        const spec: ToolSpec = {
          name: reference.name,
          description:
            reference.kind === 'agent'
              ? `Ask the agent \`${reference.name}\` to do something; it answers in words.`
              : `Ask the language model \`${reference.name}\`; it answers in words.`,
          parameters: AGENT_INPUT,
        };
        return [{ name: safeName(reference.name), spec, reference, style: 'agent' }];
      }
      let specs: unknown;
      try {
        specs = await reference.invoke('tools', null, { timeoutMs });
      } catch (error) {
        throw new WoodworkRuntimeError('WW_RUNTIME_CALL_FAILED', `could not list the tools of \`${reference.name}\` (${reference.kind} ${reference.type}): ${errorMessage(error)}`, {
          component: reference.name,
          hint: `check that \`${reference.name}\` started (its host's log says why not); the agent asks again on its next message`,
          isRetryable: true,
        });
      }
      if (!Array.isArray(specs)) {
        throw new WoodworkRuntimeError('WW_RUNTIME_CALL_FAILED', `\`${reference.name}\` (${reference.kind} ${reference.type}) did not list its tools`, {
          component: reference.name,
          hint: 'a tool component answers invoke("tools") with a list of { name, description, parameters }',
        });
      }
      return (specs as ToolSpec[]).map((spec) => ({ name: safeName(spec.name), spec, reference, style: 'tool' as const }));
    }),
  );
  const all = lists.flat();
  const counts = new Map<string, number>();
  for (const tool of all) counts.set(tool.name, (counts.get(tool.name) ?? 0) + 1);
  return new Map(all.map((tool) => {
    const name = counts.get(tool.name)! > 1 ? safeName(`${tool.reference.name}__${tool.spec.name}`) : tool.name;
    return [name, { ...tool, name }];
  }));
}

/** The observation text of any JSON output. */
export function observationText(output: unknown): string {
  if (typeof output === 'string') return output;
  if (output === undefined || output === null) return '(no output)';
  try {
    return JSON.stringify(output);
  } catch {
    return String(output);
  }
}

/** Cuts an observation to `limit` characters, saying so to the model. */
export function limitOutput(text: string, limit: number, tool: AgentTool): { output: string; truncated?: { chars: number; limit: number } } {
  if (text.length <= limit) return { output: text };
  const key = tool.spec.max_output_chars !== undefined ? `max_output_chars of \`${tool.reference.name}\`` : 'max_observation_chars of the agent';
  return {
    output: `${text.slice(0, limit)}\n[output truncated: ${text.length} characters, the limit is ${limit} (${key}); ask for less]`,
    truncated: { chars: text.length, limit },
  };
}

/** Runs one call of `tool` over the bus, bounded by its limits. Never throws. */
export async function runTool(tool: AgentTool, input: unknown, limits: ToolLimits, signal: AbortSignal, session: SessionContext): Promise<ToolOutcome> {
  const started = performance.now();
  const timeoutMs = tool.spec.timeout_ms ?? limits.timeoutMs;
  const maxOutputChars = tool.spec.max_output_chars ?? limits.maxOutputChars;
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(new ToolTimeout()), timeoutMs);
  try {
    const payload =
      tool.style === 'agent'
        ? observationText((input as { input?: unknown } | null)?.input ?? input)
        : { tool: tool.spec.name, input: (input ?? {}) as JsonValue };
    // The call's own timer stays clear of ours, so a timeout is always named as the tool's.
    const result = tool.local
      ? await tool.local(input, session)
      : await tool.reference.call(payload, { timeoutMs: timeoutMs + 60_000, signal: AbortSignal.any([timer.signal, signal]) });
    return { status: 'ok', ...limitOutput(observationText(result), maxOutputChars, tool), durationMs: performance.now() - started };
  } catch (error) {
    const durationMs = performance.now() - started;
    if (timer.signal.aborted) {
      const key = tool.spec.timeout_ms !== undefined ? `timeout of \`${tool.reference.name}\`` : 'tool_timeout of the agent';
      return { status: 'timed_out', output: `error: \`${tool.name}\` did not answer within ${timeoutMs} ms (${key}); it may still finish on its own`, durationMs };
    }
    if (signal.aborted) throw signal.reason ?? error;
    const text = errorMessage(error).replace(/^`[^`]+` failed: /, '');
    return { status: 'failed', output: `error: \`${tool.name}\` failed: ${text}`, durationMs };
  } finally {
    clearTimeout(timeout);
  }
}

class ToolTimeout extends Error {
  override name = 'TimeoutError';
}
