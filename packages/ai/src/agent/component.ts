/**
 * `agent llm`: a tool loop on the model's native tool calls.
 *
 * Each step is one AI SDK `streamText` call with the tools' schemas (tools without `execute`, so
 * the SDK hands the calls back); the agent then makes the calls itself — each through the tool
 * component's `reference.call`, over the bus — and sends the observations back in the next step,
 * until the model answers without calling a tool or `max_steps` is reached. The loop is ours rather
 * than the SDK's `stopWhen` loop because its state must be written to the session store between
 * any two pieces of work (durable steps, approvals answered on another process; see
 * docs/decisions/0008-agent-loop-durable-turns.md). Everything the SDK does per call — the providers' wire
 * formats, tool-call parsing, retries, usage — is the SDK's.
 *
 * Per step: `agent.thought` (text before calls, reasoning), per call `agent.action` → `tool.call`
 * (pipes may rewrite either, and veto a call) → maybe `tool.approval_requested` (the turn pauses)
 * → `tool.observation` (pipes may rewrite it), then `agent.step_complete`. The answer streams as
 * the llm's does and is the component's result (`agent.response`). Payloads: `./events.ts`.
 */
import type { LanguageModelV4 } from '@ai-sdk/provider';
import { jsonSchema, tool as defineTool, type ModelMessage, type ToolSet, type ToolResultPart } from 'ai';
import { defineComponent, errorMessage, traceIdOf, type ChunkWriter, type ComponentReference, type HandlerContext, type JsonValue, type Message } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';
import { describeProviderError, interruptedError, isProviderFailure, timeoutError } from '../llm/errors-from-provider.js';
import { loadPrompt, type PromptTemplate } from '../llm/prompt.js';
import type { LlmProvider } from '../llm/provider.js';
import { memoryClient, type MemoryClient, type MemoryMessage } from '../memory/short-term.js';
import { providers as builtinProviders } from '../providers/index.js';
import { parseAnswer, type ApprovalAnswer } from './approvals.js';
import {
  AgentEvents,
  type AgentActionPayload,
  type AgentInputPayload,
  type AgentStepCompletePayload,
  type ToolApprovalAnsweredPayload,
  type ToolApprovalRequestedPayload,
  type ToolCallPayload,
  type ToolObservationPayload,
} from './events.js';
import { loadEventPipes, type EventPipes } from './event-pipes.js';
import { createAgentModel, type AgentModel } from './model.js';
import { PLANNING_PROMPT, planningTools } from './planning.js';
import { MESSAGES_KEY, TURN_KEY, type CallRecord, type FinishedTurn, type TurnState } from './state.js';
import { PromptCache, runStep, stepModel, stepTools, type StepTools } from './step.js';
import { gatherTools, runTool, type AgentTool } from './toolbox.js';

export interface AgentConfig {
  readonly model: ComponentReference;
  readonly tools?: readonly ComponentReference[];
  readonly max_steps?: number;
  readonly prompt?: string | { readonly file: string; readonly variables?: Readonly<Record<string, unknown>> };
  readonly memory?: ComponentReference;
  readonly knowledge_base?: ComponentReference;
  readonly planning?: boolean;
  /** ms (the topology holds durations as ms). */
  readonly tool_timeout?: number;
  readonly max_observation_chars?: number;
  readonly approval_timeout?: number;
  readonly cache?: boolean;
  /** `required`: the first step must call a tool (small models that would otherwise answer at once). */
  readonly tool_choice?: 'auto' | 'required';
  readonly [key: string]: unknown;
}

export const AGENT_DEFAULTS = {
  maxSteps: 10,
  /** A tool that takes longer than this is most likely stuck; the model can try something else. */
  toolTimeoutMs: 30_000,
  /** ~5 000 tokens: room for a page of results without crowding the context. */
  maxObservationChars: 20_000,
  /** Long enough for a person to read the request, short enough that a turn is not left hanging. */
  approvalTimeoutMs: 10 * 60_000,
  modelTimeoutMs: 120_000,
  firstTokenTimeoutMs: 60_000,
  maxRetries: 2,
} as const;

function isReference(value: unknown): value is ComponentReference {
  return typeof value === 'object' && value !== null && typeof (value as ComponentReference).call === 'function';
}

/** The key of the wake-up that times a paused turn's approval out. */
const APPROVAL_WAKEUP = 'approval_timeout';

/** The wake-up's input: which approval's deadline it is. */
function approvalDeadline(approvalId: string): JsonValue {
  return { woodwork_wakeup: APPROVAL_WAKEUP, approval_id: approvalId };
}

function approvalDeadlineOf(payload: unknown): string | undefined {
  const record = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : undefined;
  return record?.woodwork_wakeup === APPROVAL_WAKEUP && typeof record.approval_id === 'string' ? record.approval_id : undefined;
}

class Pause {
  constructor(readonly payload: ToolApprovalRequestedPayload) {}
}

/** Makes the `agent llm` component; `providers` are the llm types it can drive (all of @woodwork/ai's by default). */
export function defineAgent(providers: readonly LlmProvider[] = builtinProviders) {
  return defineComponent<AgentConfig>({
    kind: 'agent',
    type: 'llm',
    create: ({ config, component }) => {
      const maxSteps = config.max_steps ?? AGENT_DEFAULTS.maxSteps;
      const limits = {
        timeoutMs: config.tool_timeout ?? AGENT_DEFAULTS.toolTimeoutMs,
        maxOutputChars: config.max_observation_chars ?? AGENT_DEFAULTS.maxObservationChars,
      };
      const approvalTimeoutMs = config.approval_timeout ?? AGENT_DEFAULTS.approvalTimeoutMs;
      const memory: MemoryClient | undefined = isReference(config.memory) ? memoryClient(config.memory) : undefined;
      // `knowledge_base = kb` is one more tool component: its search and read tools are offered.
      const toolReferences = [
        ...(config.tools ?? []).filter(isReference),
        ...(isReference(config.knowledge_base) && !(config.tools ?? []).some((tool) => isReference(tool) && tool.name === config.knowledge_base!.name) ? [config.knowledge_base] : []),
      ];
      let model: AgentModel | undefined;
      let prompt: PromptTemplate = { render: () => undefined };
      let pipes: EventPipes | undefined;
      let tools: Promise<Map<string, AgentTool>> | undefined;
      let toolSet: ToolSet = {};
      // The tool set's schemas as the provider takes them, made once per listing.
      let preparedTools: Promise<StepTools> = Promise.resolve(undefined);
      let languageModel: LanguageModelV4 | undefined;

      let listedAt = 0;
      // A new turn asks the tools again when the last listing is older than this, so a tool whose
      // module changed (`woodwork dev` restarts it) is offered with its new schema.
      const TOOLS_FRESH_MS = 2_000;
      const loadTools = (refresh: boolean) => {
        if (refresh && tools !== undefined && performance.now() - listedAt > TOOLS_FRESH_MS) tools = undefined;
        if (tools === undefined) listedAt = performance.now();
        tools ??= gatherTools(toolReferences, limits.timeoutMs).then(
          (found) => {
            if (config.planning === true) for (const tool of planningTools(component.name)) if (!found.has(tool.name)) found.set(tool.name, tool);
            toolSet = Object.fromEntries(
              [...found.values()].map((tool) => [tool.name, defineTool({ description: tool.spec.description, inputSchema: jsonSchema(tool.spec.parameters as never) })]),
            );
            preparedTools = stepTools(toolSet);
            return preparedTools.then(() => found);
          },
          (error: unknown) => {
            tools = undefined; // ask again next turn: the tool's host may be starting
            throw error;
          },
        );
        return tools;
      };

      return {
        async init(context) {
          if (!isReference(config.model)) {
            throw new WoodworkAiError('WW_AI_CONFIG', `\`${component.name}\` has no \`model\``, {
              component: component.name,
              location: component.location,
              hint: 'add model = <an llm component> to the agent',
            });
          }
          model = await createAgentModel(config.model, providers, component, context);
          languageModel = stepModel(model.model);
          // The agent's own prompt wins; else the llm's (its system prompt is part of "the model").
          const spec = config.prompt ?? (model.config.prompt as AgentConfig['prompt']);
          const loaded = await loadPrompt(spec, { component: component.name, resolvePath: (relative) => context.resolvePath(relative) });
          prompt =
            config.planning === true
              ? { render: (values) => [loaded.render(values), PLANNING_PROMPT].filter((part) => part !== undefined && part !== '').join('\n\n') }
              : loaded;
          pipes = await loadEventPipes(context);
        },

        async handle(message: Message, context: HandlerContext<AgentConfig>) {
          const loaded = await loadState(context);
          // The approval's deadline (`approval_timeout`), delivered by the runtime's wake-up timer
          // from whichever instance is alive: it ends the pause if the turn still waits for it.
          const deadline = approvalDeadlineOf(message.payload);
          if (loaded?.status === 'finished') {
            if (deadline !== undefined) return undefined;
            if (loaded.message_ids.includes(message.id)) return loaded.answer; // delivered again
          }
          const stored = loaded?.status === 'finished' ? undefined : loaded;
          if (stored?.earlier_message_ids?.includes(message.id)) return undefined; // taken in already
          if (deadline !== undefined) {
            if (stored?.status !== 'paused' || stored.paused?.approval_id !== deadline) return undefined; // answered meanwhile
            if (Date.now() < stored.paused.expires_at) {
              // Early (another host's clock): wait for the deadline this host sees.
              await context.session.wakeAt(APPROVAL_WAKEUP, stored.paused.expires_at, approvalDeadline(deadline));
              return undefined;
            }
          }
          if (deadline === undefined && stored?.status === 'paused' && stored.message_id === message.id && stored.paused?.request) {
            // The message that paused the turn, delivered again (its host died before the broker
            // heard it was done): it is not an answer. Say the question again; the pause stands.
            await context.emit(AgentEvents.approvalRequested, stored.paused.request);
            return { text: stored.paused.request.text, approval_requested: stored.paused.request as unknown as JsonValue };
          }
          const resuming = stored !== undefined && (stored.status === 'paused' || (stored.status === 'running' && stored.message_id === message.id));
          const available = await loadTools(!resuming);
          let state: TurnState;
          let answer: ApprovalAnswer | undefined;
          if (stored?.status === 'paused' && stored.paused) {
            answer = deadline !== undefined ? { kind: 'none' } : parseAnswer(message.payload, message.text);
            const expired = deadline !== undefined || Date.now() > stored.paused.expires_at;
            if (deadline === undefined) await context.session.cancelWake(APPROVAL_WAKEUP);
            if (expired && answer.kind === 'none' && deadline === undefined) {
              // The deadline passed before its wake-up came (delivery lag): the turn is given up
              // and the input is a new turn.
              await answerApproval(context, stored, { outcome: 'expired' }, stored.calls.find((call) => call.call_id === stored.paused!.call_id)!);
              state = await newTurn(message);
            } else {
              state = stored;
              state.earlier_message_ids = [...(state.earlier_message_ids ?? []), state.message_id];
              state.message_id = message.id;
              state.status = 'running';
              const call = state.calls.find((candidate) => candidate.call_id === stored.paused!.call_id)!;
              if (answer.kind === 'answer' && answer.id !== undefined && answer.id !== stored.paused.approval_id) {
                throw new WoodworkAiError('WW_AI_CONFIG', `\`${component.name}\` has no pending approval \`${answer.id}\`; it waits for \`${stored.paused.approval_id}\``, {
                  component: component.name,
                  sessionId: message.sessionId,
                  hint: `answer { approval: { id: "${stored.paused.approval_id}", approved: true | false } }, or yes / no`,
                });
              }
              const outcome = expired ? 'expired' : answer.kind === 'answer' && answer.approved ? 'granted' : 'denied';
              const reason = expired
                ? `no answer within ${approvalTimeoutMs} ms (approval_timeout)`
                : answer.kind === 'answer'
                  ? answer.reason
                  : `the user answered instead: ${message.text}`;
              await answerApproval(context, state, { outcome, ...(reason === undefined ? {} : { reason }) }, call);
              delete state.paused;
            }
          } else if (stored?.status === 'running' && stored.message_id === message.id) {
            // The same message again: its first handling died (a crashed host, a retry). Resume —
            // also when the answer was recorded and only the reply was lost (`done`).
            state = stored;
            for (const call of state.calls) {
              if (call.status !== 'running') continue;
              const tool = available.get(call.tool);
              if (tool?.spec.idempotent) {
                call.status = 'ready';
              } else {
                call.status = 'done';
                call.observation = {
                  status: 'interrupted',
                  output: `error: the call of \`${call.tool}\` was in flight when the agent's host stopped; it may or may not have happened. Check before repeating it.`,
                  duration_ms: 0,
                };
              }
            }
          } else {
            state = await newTurn(message);
          }
          if (state !== stored) {
            await context.emit(AgentEvents.input, { turn_id: state.turn_id, input: state.user_text, payload: message.payload, source: message.source } satisfies AgentInputPayload);
          }

          let writer: ChunkWriter | undefined;
          const prompts = new PromptCache();
          // The conversation is written in pieces, each step's new messages under a key of their
          // own, so a step writes what it added and not the whole conversation again; the rest of
          // the state is small and written as each piece of work finishes.
          const resumed = stored !== undefined && state === stored;
          let savedMessages = resumed ? state.messages.length : 0;
          if (stored !== undefined && !resumed) await forget(context, stored.pieces ?? 0); // a turn left behind
          const save = async () => {
            const { messages, ...rest } = state;
            if (messages.length > savedMessages) {
              await context.session.set(`${MESSAGES_KEY}.${state.pieces}`, messages.slice(savedMessages) as unknown as JsonValue);
              state.pieces++;
              savedMessages = messages.length;
            }
            await context.session.set(TURN_KEY, { ...rest, pieces: state.pieces } as unknown as JsonValue);
          };
          try {
            await save();
            for (;;) {
              if (state.calls.length > 0) {
                await runCalls(context, state, available, save);
                const results: ToolResultPart[] = state.calls.map((call) => ({
                  type: 'tool-result',
                  toolCallId: call.call_id,
                  toolName: call.tool,
                  output: { type: 'text', value: call.observation!.output },
                }));
                state.messages.push({ role: 'tool', content: results });
                await context.emit(AgentEvents.stepComplete, {
                  turn_id: state.turn_id,
                  step: state.step,
                  tool_calls: state.calls.map((call) => ({ call_id: call.call_id, tool: call.tool, status: call.observation!.status })),
                  finish_reason: state.finish_reason,
                } satisfies AgentStepCompletePayload);
                state.calls = [];
                // Not written here: the model step's write, next, records this too. A host that dies
                // in between resumes with the calls done and reused (their observations sent again).
              }
              if (state.done) break;
              if (state.step >= maxSteps) {
                throw new WoodworkAiError('WW_AI_MAX_STEPS', `\`${component.name}\` used all ${maxSteps} steps (max_steps) and the model still asked for tools`, {
                  component: component.name,
                  location: component.location,
                  sessionId: message.sessionId,
                  hint: 'raise `max_steps`, or make the prompt or the tools more direct',
                });
              }
              // Provider failures count on the provider's circuit, as in the llm component (no host retry).
              writer = await context.downstream(model!.provider.providerName).call(() => modelStep(context, state, available, writer, prompts), { isFailure: isProviderFailure });
              await save();
            }
          } catch (error) {
            if (error instanceof Pause) {
              state.status = 'paused';
              await save();
              // The deadline fires even if no input ever comes, on whichever instance is alive then.
              await context.session.wakeAt(APPROVAL_WAKEUP, state.paused!.expires_at, approvalDeadline(state.paused!.approval_id));
              await context.emit(AgentEvents.approvalRequested, error.payload);
              if (writer) {
                await writer.write(`${state.text.some((text) => text !== '') ? '\n\n' : ''}${error.payload.text}`);
                return undefined;
              }
              return { text: error.payload.text, approval_requested: error.payload as unknown as JsonValue };
            }
            throw error;
          }

          const answerText = state.text.filter((text) => text !== '').join('\n\n');
          if (memory) {
            await memory.append([
              { role: 'user', content: state.user_text },
              { role: 'assistant', content: state.text.at(-1) ?? answerText },
            ]);
          }
          await finish(context, state, answerText);
          // Streamed: the chunks are the result (the runtime routes their joined text).
          return writer ? undefined : answerText;
        },

        async stop() {
          await model?.close();
        },
      };

      async function loadState(context: HandlerContext): Promise<TurnState | FinishedTurn | undefined> {
        const rest = await context.session.get<Omit<TurnState, 'messages'> | FinishedTurn>(TURN_KEY);
        if (rest === undefined || rest.status === 'finished') return rest;
        const pieces = await Promise.all(Array.from({ length: rest.pieces ?? 0 }, (_, index) => context.session.get<ModelMessage[]>(`${MESSAGES_KEY}.${index}`)));
        return { ...rest, messages: pieces.flatMap((piece) => piece ?? []) } as TurnState;
      }

      /** Replaces a turn's state with what a redelivery of its messages needs (`FinishedTurn`). */
      async function finish(context: HandlerContext, state: TurnState, answer: string): Promise<void> {
        const finished: FinishedTurn = { version: 1, status: 'finished', turn_id: state.turn_id, message_ids: [...(state.earlier_message_ids ?? []), state.message_id], answer };
        await Promise.all([
          context.session.set(TURN_KEY, finished as unknown as JsonValue),
          ...Array.from({ length: state.pieces }, (_, index) => context.session.delete(`${MESSAGES_KEY}.${index}`)),
        ]);
      }

      /** Deletes a turn's state (its pieces too). */
      async function forget(context: HandlerContext, pieces: number): Promise<void> {
        await Promise.all([context.session.delete(TURN_KEY), ...Array.from({ length: pieces }, (_, index) => context.session.delete(`${MESSAGES_KEY}.${index}`))]);
      }

      async function newTurn(message: Message): Promise<TurnState> {
        const history: MemoryMessage[] = memory ? await memory.load() : [];
        const userText = message.text;
        return {
          version: 1,
          turn_id: traceIdOf(message.envelope.trace) ?? message.id,
          message_id: message.id,
          status: 'running',
          user_text: userText,
          messages: [...history, { role: 'user', content: userText }],
          step: 0,
          calls: [],
          finish_reason: '',
          text: [],
          pieces: 0,
          done: false,
        };
      }

      async function answerApproval(context: HandlerContext, state: TurnState, answer: { outcome: ToolApprovalAnsweredPayload['outcome']; reason?: string }, call: CallRecord) {
        await context.emit(AgentEvents.approvalAnswered, {
          turn_id: state.turn_id,
          approval_id: call.call_id,
          call_id: call.call_id,
          tool: call.tool,
          outcome: answer.outcome,
          ...(answer.reason === undefined ? {} : { reason: answer.reason }),
        } satisfies ToolApprovalAnsweredPayload);
        if (answer.outcome === 'granted') {
          call.approved = true;
          return;
        }
        call.approved = false;
        call.status = 'done';
        call.observation = {
          status: 'denied',
          output:
            answer.outcome === 'expired'
              ? `not run: no one approved the call of \`${call.tool}\` in time (${answer.reason ?? 'approval_timeout'}). Do not retry it; say what you would have done.`
              : `not run: the user denied the call of \`${call.tool}\`${answer.reason ? ` (${answer.reason})` : ''}. Do not retry it.`,
          duration_ms: 0,
        };
      }

      /** Makes the step's calls: events and pipes in order, the calls themselves at once. */
      async function runCalls(context: HandlerContext, state: TurnState, available: Map<string, AgentTool>, save: () => Promise<void>) {
        const scene = { sessionId: context.session.id, messageId: context.message.id };
        for (const call of state.calls) {
          if (call.status !== 'new') continue;
          const action = await pipes!.run(
            'agent.action',
            { turn_id: state.turn_id, step: state.step, call_id: call.call_id, tool: call.tool, input: call.input } satisfies AgentActionPayload,
            scene,
          );
          if (action !== false) {
            call.tool = action.tool;
            call.input = action.input;
          }
          await context.emit(AgentEvents.action, action === false ? { turn_id: state.turn_id, step: state.step, call_id: call.call_id, tool: call.tool, input: call.input } : action);
          const tool = available.get(call.tool);
          const callPayload: ToolCallPayload = {
            turn_id: state.turn_id,
            step: state.step,
            call_id: call.call_id,
            tool: call.tool,
            component: tool?.reference.name ?? '',
            input: call.input,
            ...(tool?.spec.approval ? { approval: true } : {}),
          };
          const piped = action === false ? false : await pipes!.run('tool.call', callPayload, scene);
          const final: ToolCallPayload = piped === false ? { ...callPayload, veto: action === false ? 'vetoed by a pipe on agent.action' : 'vetoed by a pipe on tool.call' } : piped;
          call.input = final.input;
          if (typeof final.veto === 'string' && final.veto !== '') call.veto = final.veto;
          else if (final.veto !== undefined && final.veto !== null && (final.veto as unknown) !== false) call.veto = 'vetoed by a pipe on tool.call';
          if (final.approval === true) call.approval = true;
          await context.emit(AgentEvents.toolCall, final);
          call.status = 'ready';
          if (!tool && !call.veto) {
            call.status = 'done';
            call.observation = {
              status: 'unknown_tool',
              output: `error: there is no tool \`${call.tool}\`; the tools are ${[...available.keys()].map((name) => `\`${name}\``).join(', ') || 'none'}`,
              duration_ms: 0,
            };
          } else if (call.invalid !== undefined && !call.veto) {
            call.status = 'done';
            call.observation = { status: 'failed', output: `error: the input for \`${call.tool}\` does not match its schema: ${call.invalid}`, duration_ms: 0 };
          } else if (call.veto) {
            call.status = 'done';
            call.observation = { status: 'vetoed', output: `not run: the call was vetoed (${call.veto}). Do not retry it.`, duration_ms: 0 };
          }
        }

        // `cache = true`: an identical call made earlier in this turn is answered from its observation.
        const cacheKey = (call: CallRecord) => `${call.tool} ${JSON.stringify(call.input)}`;
        if (config.cache === true) {
          for (const call of state.calls) {
            const hit = call.status === 'ready' && !call.approval ? state.cache?.[cacheKey(call)] : undefined;
            if (hit !== undefined) {
              call.status = 'done';
              call.observation = { status: 'ok', output: hit, duration_ms: 0 };
            }
          }
        }

        // One write records the events sent (`ready`) and the calls about to go out (`running`), so
        // a resume neither sends those events again nor repeats a call that may have happened.
        const ready = state.calls.filter((call) => call.status === 'ready' && (!call.approval || call.approved === true));
        for (const call of ready) call.status = 'running';
        await save();
        // Writes of the state are chained, so parallel calls never interleave two versions.
        let writes = Promise.resolve();
        const record = () => (writes = writes.then(save));
        await Promise.all(
          ready.map(async (call) => {
            const outcome = await runTool(available.get(call.tool)!, call.input, limits, context.signal, context.session);
            call.observation = {
              status: outcome.status,
              output: outcome.output,
              ...(outcome.truncated ? { truncated: outcome.truncated } : {}),
              duration_ms: Math.round(outcome.durationMs * 100) / 100,
            };
            call.status = 'done';
            if (config.cache === true && outcome.status === 'ok') (state.cache ??= {})[cacheKey(call)] = outcome.output;
            await record();
          }),
        );
        await writes;

        for (const call of state.calls) {
          if (call.status === 'ready' && call.approval && call.approved === undefined) {
            const expiresAt = Date.now() + approvalTimeoutMs;
            const tool = available.get(call.tool)!;
            const request: ToolApprovalRequestedPayload = {
              turn_id: state.turn_id,
              step: state.step,
              approval_id: call.call_id,
              call_id: call.call_id,
              tool: call.tool,
              component: tool.reference.name,
              input: call.input,
              expires_at: new Date(expiresAt).toISOString(),
              text: `\`${component.name}\` wants to call \`${call.tool}\` with ${JSON.stringify(call.input)}. Allow it? (yes / no)`,
            };
            state.paused = { approval_id: call.call_id, call_id: call.call_id, expires_at: expiresAt, request };
            throw new Pause(request);
          }
        }

        // Observations go out in the model's order, after their pipes.
        for (const call of state.calls) {
          if (call.observed) continue;
          const observation = call.observation!;
          const payload: ToolObservationPayload = {
            turn_id: state.turn_id,
            step: state.step,
            call_id: call.call_id,
            tool: call.tool,
            component: available.get(call.tool)?.reference.name ?? '',
            ok: observation.status === 'ok',
            output: observation.output,
            status: observation.status,
            ...(observation.truncated ? { truncated: observation.truncated } : {}),
            duration_ms: observation.duration_ms,
          };
          const piped = await pipes!.run('tool.observation', payload, scene);
          const final = piped === false ? payload : piped;
          call.observation = { ...observation, output: typeof final.output === 'string' ? final.output : JSON.stringify(final.output) };
          await context.emit(AgentEvents.toolObservation, final);
          call.observed = true;
        }
      }

      /** One model call; records the step in `state`. Returns the stream writer (opened at the first text). */
      async function modelStep(
        context: HandlerContext,
        state: TurnState,
        available: Map<string, AgentTool>,
        writer: ChunkWriter | undefined,
        prompts: PromptCache,
      ): Promise<ChunkWriter | undefined> {
        const agentModel = model!;
        const llm = agentModel.config;
        const sessionId = context.session.id;
        const scene = agentModel.scene(sessionId);
        const last = state.step + 1 >= maxSteps;
        const system = prompt.render({ sessionId, context: undefined });
        const metrics = context.metrics.model({ provider: agentModel.provider.providerName, model: agentModel.modelId });
        const timeoutMs = typeof llm.timeout_ms === 'number' ? llm.timeout_ms : AGENT_DEFAULTS.modelTimeoutMs;
        const firstTokenMs = typeof llm.first_token_timeout_ms === 'number' ? llm.first_token_timeout_ms : AGENT_DEFAULTS.firstTokenTimeoutMs;
        const timers = new AbortController();
        const total = setTimeout(() => timers.abort(timeoutError(scene, 'total', timeoutMs)), timeoutMs);
        let firstToken: ReturnType<typeof setTimeout> | undefined = setTimeout(() => timers.abort(timeoutError(scene, 'first_token', firstTokenMs)), firstTokenMs);
        const started = performance.now();
        let chunks = 0;
        const separator = state.text.some((previous) => previous !== '') ? '\n\n' : '';
        const maxStepsError = () =>
          new WoodworkAiError('WW_AI_MAX_STEPS', `\`${component.name}\` used all ${maxSteps} steps (max_steps) and the model still asked for tools`, {
            component: component.name,
            location: component.location,
            sessionId,
            hint: 'raise `max_steps`, or make the prompt or the tools more direct',
          });
        const fail = (error: unknown): never => {
          const reason = timers.signal.aborted ? timers.signal.reason : undefined;
          const cause = context.signal.aborted && !timers.signal.aborted ? (context.signal.reason ?? error) : error;
          const described = WoodworkAiError.isAiError(reason) ? reason : chunks > 0 && !WoodworkAiError.isAiError(cause) ? interruptedError(scene, cause, chunks) : describeProviderError(scene, cause);
          metrics.recordDuration((performance.now() - started) / 1000, described.code);
          throw described;
        };
        let result: Awaited<ReturnType<typeof runStep>>;
        try {
          const abortSignal = AbortSignal.any([timers.signal, context.signal]);
          const tools = available.size > 0 ? await preparedTools : undefined;
          result = await runStep(
            {
              model: languageModel!,
              prompt: await prompts.prompt(languageModel!, system, state.messages, abortSignal),
              tools,
              toolChoice: tools === undefined ? undefined : last ? { type: 'none' } : state.step === 0 && config.tool_choice === 'required' ? { type: 'required' } : { type: 'auto' },
              settings: {
                ...(typeof llm.temperature === 'number' ? { temperature: llm.temperature } : {}),
                ...(typeof llm.max_tokens === 'number' ? { maxOutputTokens: llm.max_tokens } : {}),
                ...(llm.headers === undefined ? {} : { headers: { ...(llm.headers as Record<string, string>) } }),
              },
              maxRetries: typeof llm.max_retries === 'number' ? llm.max_retries : AGENT_DEFAULTS.maxRetries,
              abortSignal,
            },
            {
              onFirst: () => {
                clearTimeout(firstToken);
                firstToken = undefined;
                metrics.recordTimeToFirstChunk((performance.now() - started) / 1000);
              },
              onText: async (delta) => {
                if (component.streaming) {
                  writer ??= context.stream();
                  await writer.write(chunks === 0 ? `${separator}${delta}` : delta);
                }
                chunks++;
              },
            },
          );
          if (result.message) state.messages.push(result.message);
        } catch (error) {
          fail(error);
        } finally {
          clearTimeout(total);
          if (firstToken !== undefined) clearTimeout(firstToken);
        }
        const { text, reasoning, usage, finishReason } = result!;
        // A call of an unknown tool, or with input that does not parse, is still ours to answer.
        const calls: CallRecord[] = result!.calls.map((call) => ({
          call_id: call.toolCallId,
          tool: call.toolName,
          input: call.input ?? {},
          status: 'new',
          ...(call.invalid === undefined || !available.has(call.toolName) ? {} : { invalid: call.invalid }),
        }));
        metrics.recordDuration((performance.now() - started) / 1000);
        if (usage) context.step.recordUsage(metrics, usage);
        state.step++;
        state.text.push(text);
        state.finish_reason = finishReason;
        if (reasoning !== '') await context.emit(AgentEvents.thought, { turn_id: state.turn_id, step: state.step, thought: reasoning, kind: 'reasoning' });
        if (calls.length === 0) {
          state.done = true;
          await context.emit(AgentEvents.stepComplete, {
            turn_id: state.turn_id,
            step: state.step,
            tool_calls: [],
            finish_reason: finishReason,
            ...(usage ? { usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens } } : {}),
          } satisfies AgentStepCompletePayload);
          return writer;
        }
        if (last) throw maxStepsError();
        if (text !== '') await context.emit(AgentEvents.thought, { turn_id: state.turn_id, step: state.step, thought: text, kind: 'text' });
        state.calls = calls;
        return writer;
      }
    },
  });
}

export const agentLlm = defineAgent();
