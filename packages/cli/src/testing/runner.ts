/**
 * Runs one scenario embedded: the `.ww` file's topology on a private in-memory bus, with every
 * `llm` component pointed at a scripted model server of its own (`@woodwork/ai/testing`), so the
 * real provider code, agent loop, tools, pipes and memory run and only the model's words are
 * scripted. Tools the scenario mocks answer from the scenario; everything else runs for real.
 * `live` leaves the models alone (real providers, real keys) and still mocks the tools.
 *
 * What a turn did is read from the session's events (filtered by the turn's trace id), the same
 * events the gateway and the console show, so an expectation holds for what a client would see.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { aiComponents } from '@woodwork/ai';
import { startScriptedServer, type RecordedRequest, type ScriptedReply, type ScriptedServer } from '@woodwork/ai/testing';
import { didYouMean, loadTopology, type ConfigValue, type Diagnostic, type Topology, type TopologyComponent } from '@woodwork/parser';
import {
  createComponentRegistry,
  createRuntime,
  serializeRuntimeError,
  silentLogger,
  textOf,
  traceIdOf,
  WoodworkRuntimeError,
  type Component,
  type ComponentDefinition,
  type ComponentRegistry,
  type Runtime,
  type SessionEvent,
} from '@woodwork/runtime';
import { DEFAULT_TIMEOUT_MS, toRegExp, type ModelStep, type Scenario, type ScenarioTurn, type ToolAnswer, type TurnExpectations } from './scenario.js';

/** One expectation that did not hold (or a problem that stopped the scenario). */
export interface Failure {
  /** 0-based turn, or undefined for the scenario as a whole. */
  readonly turn?: number;
  readonly message: string;
  readonly expected?: string;
  readonly actual?: string;
  /** Where in the scenario file the expectation is written. */
  readonly line?: number;
  readonly column?: number;
}

/** What one turn did. */
export interface TurnObservation {
  readonly input: unknown;
  readonly reply: string;
  readonly ok: boolean;
  readonly errors: readonly { readonly code: string; readonly message: string; readonly component?: string }[];
  readonly toolCalls: readonly { readonly tool: string; readonly input: unknown }[];
  /** Event types in order, without stream chunks and metrics. */
  readonly events: readonly string[];
  readonly steps: number;
  /** Model calls, per llm component (scripted runs only). */
  readonly modelCalls: Readonly<Record<string, number>>;
  readonly durationMs: number;
}

export interface ScenarioOutcome {
  readonly scenario: Scenario;
  /** `error`: it could not run (the `.ww` file, a component that did not start); `problems` says why. */
  readonly status: 'passed' | 'failed' | 'error';
  /** The turns that were answered, in order. */
  readonly turns: readonly TurnObservation[];
  /**
   * The turn that got no answer (it timed out, or the ask failed), which ended the scenario: it
   * ran, so reports count it, but it has no observation. The turns after it did not run.
   */
  readonly unanswered?: { readonly turn: number; readonly timedOut: boolean; readonly durationMs: number };
  readonly failures: readonly Failure[];
  /** Load problems of the `.ww` file, printed like `woodwork validate`. */
  readonly diagnostics: readonly Diagnostic[];
  readonly sources: Readonly<Record<string, string>>;
  readonly durationMs: number;
}

export interface RunScenarioOptions {
  /** The process environment (the scenario's `env` goes over it). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Real providers instead of the scripted server. */
  readonly live?: boolean;
}

const API_KEY = 'woodwork-test';
/** Events a test does not look at one by one: too many, or timing-dependent. */
const QUIET_EVENTS = new Set(['stream.chunk', 'metrics.component_performance', 'component.saturated']);

export async function runScenario(scenario: Scenario, options: RunScenarioOptions): Promise<ScenarioOutcome> {
  const started = performance.now();
  const env = { ...options.env, ...scenario.env };
  const failures: Failure[] = [];
  const turns: TurnObservation[] = [];
  const outcome = (status: ScenarioOutcome['status'], extra: Partial<ScenarioOutcome> = {}): ScenarioOutcome => ({
    scenario,
    status,
    turns,
    failures,
    diagnostics: [],
    sources: {},
    durationMs: performance.now() - started,
    ...extra,
  });

  // A `.ww` file that is not there is the scenario's mistake: say so at its `file`, not at a place in a file that does not exist.
  const missing = await missingWwFile(scenario);
  if (missing) {
    failures.push(missing);
    return outcome('error');
  }

  // First without resolving anything, to learn which components are models: in a scripted run
  // their keys and URLs are never needed, so their variables need not be set.
  const first = await loadTopology(scenario.wwFile, { mode: 'validate', env });
  if (!first.topology) return outcome('error', { diagnostics: first.diagnostics.filter((d) => d.severity === 'error'), sources: first.sources });
  const models = options.live ? [] : first.topology.components.filter((component) => component.kind === 'llm');
  const modelNames = new Set(models.map((component) => component.name));
  const loaded = await loadTopology(scenario.wwFile, {
    mode: 'run',
    env,
    ...(modelNames.size === 0 ? {} : { components: first.topology.components.filter((c) => !modelNames.has(c.name)).map((c) => c.name) }),
  });
  if (!loaded.resolved) return outcome('error', { diagnostics: loaded.diagnostics.filter((d) => d.severity === 'error'), sources: loaded.sources });

  const scripts = new Map<string, ModelScript>();
  const servers: ScriptedServer[] = [];
  let runtime: Runtime | undefined;
  const abort = new AbortController();
  try {
    // Live, the scripted answers are simply not used: the same scenario runs both ways.
    const problem = options.live ? undefined : checkModelScripts(scenario, [...modelNames]);
    if (problem) {
      failures.push(problem);
      return outcome('error');
    }
    const rewritten: TopologyComponent[] = [];
    for (const component of loaded.resolved.components) {
      if (!modelNames.has(component.name)) {
        rewritten.push(component);
        continue;
      }
      const script = new ModelScript(component.name, failures);
      scripts.set(component.name, script);
      const server = await startScriptedServer({ apiKey: API_KEY, respond: (request) => script.next(request) });
      servers.push(server);
      rewritten.push(scriptedModel(component, server));
    }
    const topology: Topology = { ...loaded.resolved, components: rewritten };

    const mocks = new ToolMocks(scenario, failures);
    runtime = createRuntime(topology, {
      registry: mockingRegistry(mocks),
      env,
      // What goes wrong shows in the turn's events and the report; log lines would interleave across parallel scenarios.
      logger: silentLogger,
      io: { stdout: sink(), stderr: sink(), color: false },
      turnTimeoutMs: scenario.timeoutMs,
      drainTimeoutMs: 1_000,
      queueDepthIntervalMs: 0,
    });
    try {
      await runtime.start();
    } catch (error) {
      failures.push({ message: `the topology did not start: ${describeError(error)}` });
      return outcome('error');
    }

    const sessionId = await runtime.create();
    const events: SessionEvent[] = [];
    void (async () => {
      for await (const event of runtime.events(sessionId, { from: 'history', signal: abort.signal })) events.push(event);
    })().catch(() => undefined);

    let unanswered: ScenarioOutcome['unanswered'];
    for (const [index, turn] of scenario.turns.entries()) {
      for (const [name, script] of scripts) script.begin(index, stepsFor(turn, name, modelNames.size));
      const turnStarted = performance.now();
      let result;
      try {
        result = await runtime.ask(sessionId, turn.input, { timeoutMs: scenario.timeoutMs });
      } catch (error) {
        // The runtime's own advice names its API (`turnTimeoutMs`); a scenario's author has `timeout_ms`.
        const timedOut = WoodworkRuntimeError.isInstance(error) && error.code === 'WW_RUNTIME_TIMEOUT';
        unanswered = { turn: index, timedOut, durationMs: performance.now() - turnStarted };
        failures.push({
          turn: index,
          message: timedOut
            ? `no answer within ${scenario.timeoutMs} ms: raise the scenario's \`timeout_ms\` (default ${DEFAULT_TIMEOUT_MS}) if the turn may take longer`
            : `no answer within ${scenario.timeoutMs} ms (timeout_ms): ${describeError(error)}`,
          ...at(scenario, ['turns', index]),
        });
        break;
      }
      const durationMs = performance.now() - turnStarted;
      const mine = await eventsOfTurn(events, result.turnId);
      const modelCalls: Record<string, number> = {};
      for (const [name, script] of scripts) {
        modelCalls[name] = script.calls;
        script.end(scenario);
      }
      const observation: TurnObservation = {
        input: turn.input,
        reply: result.text,
        ok: result.ok,
        errors: result.errors.map(errorOf),
        toolCalls: mine.filter((event) => event.event_type === 'tool.call').map((event) => {
          const payload = event.payload as { tool: string; input: unknown };
          return { tool: payload.tool, input: payload.input ?? null };
        }),
        events: eventTypes(mine),
        steps: mine.filter((event) => event.event_type === 'agent.step_complete').length,
        modelCalls,
        durationMs,
      };
      turns.push(observation);
      failures.push(...checkTurn(scenario, index, turn.expect ?? {}, observation));
    }
    mocks.checkKeys();
    return outcome(failures.length === 0 ? 'passed' : 'failed', unanswered ? { unanswered } : {});
  } finally {
    abort.abort();
    await runtime?.stop().catch(() => undefined);
    await Promise.all(servers.map((server) => server.close().catch(() => undefined)));
  }
}

// ---------------------------------------------------------------------------------------------
// The scripted model

/** The model's answers for one llm component, turn by turn; a call with none left is a failure. */
class ModelScript {
  calls = 0;
  private turn = 0;
  private steps: readonly ModelStep[] | undefined;
  private used = 0;

  constructor(
    readonly component: string,
    private readonly failures: Failure[],
  ) {}

  begin(turn: number, steps: readonly ModelStep[] | undefined): void {
    this.turn = turn;
    this.steps = steps;
    this.used = 0;
    this.calls = 0;
  }

  next(request: RecordedRequest): ScriptedReply {
    this.calls++;
    // Nothing scripted for this turn: the model echoes, so a scenario can start with inputs alone.
    if (this.steps === undefined) return { text: `You said: ${request.userText}` };
    const step = this.steps[this.used++];
    if (step === undefined) {
      this.failures.push({
        turn: this.turn,
        message: `the model \`${this.component}\` was called ${this.calls} times; the scenario scripts ${this.steps.length} answer${this.steps.length === 1 ? '' : 's'} for this turn`,
        expected: `${this.steps.length} model call${this.steps.length === 1 ? '' : 's'}`,
        actual: `${this.calls} or more`,
      });
      return { status: 400, message: `woodwork test: the scenario has no answer left for call ${this.calls} of \`${this.component}\`` };
    }
    return toScriptedReply(step);
  }

  end(scenario: Scenario): void {
    if (this.steps !== undefined && this.used < this.steps.length) {
      this.failures.push({
        turn: this.turn,
        message: `the model \`${this.component}\` was called ${this.used} time${this.used === 1 ? '' : 's'}; the scenario scripts ${this.steps.length} answers for this turn`,
        expected: `${this.steps.length} model calls`,
        actual: `${this.used}`,
        ...at(scenario, ['turns', this.turn, 'model']),
      });
    }
  }
}

function toScriptedReply(step: ModelStep): ScriptedReply {
  return {
    ...(step.text === undefined ? {} : { text: step.text }),
    ...(step.tool_calls === undefined ? {} : { toolCalls: step.tool_calls.map((call) => ({ name: call.name, arguments: call.arguments ?? {} })) }),
    ...(step.usage === undefined ? {} : { usage: { inputTokens: step.usage.input_tokens, outputTokens: step.usage.output_tokens } }),
    ...(step.delay_ms === undefined ? {} : { delayMs: step.delay_ms }),
    ...(step.chunk_delay_ms === undefined ? {} : { chunkDelayMs: step.chunk_delay_ms }),
    ...(step.status === undefined ? {} : { status: step.status }),
    ...(step.message === undefined ? {} : { message: step.message }),
  };
}

function stepsFor(turn: ScenarioTurn, component: string, modelCount: number): readonly ModelStep[] | undefined {
  if (turn.model === undefined) return undefined;
  if (Array.isArray(turn.model)) return modelCount === 1 ? (turn.model as readonly ModelStep[]) : undefined;
  return (turn.model as Readonly<Record<string, readonly ModelStep[]>>)[component];
}

/** A list of answers needs exactly one model to go to; a map must name models that exist. */
function checkModelScripts(scenario: Scenario, models: readonly string[]): Failure | undefined {
  for (const [index, turn] of scenario.turns.entries()) {
    if (turn.model === undefined) continue;
    if (models.length === 0) {
      return { turn: index, message: 'the scenario scripts model answers, but the topology has no llm component', ...at(scenario, ['turns', index, 'model']) };
    }
    if (Array.isArray(turn.model)) {
      if (models.length > 1) {
        return {
          turn: index,
          message: `the topology has ${models.length} llm components (${models.map((name) => `\`${name}\``).join(', ')}): say which answers, as \`model: { ${models[0]}: [...] }\``,
          ...at(scenario, ['turns', index, 'model']),
        };
      }
      continue;
    }
    for (const name of Object.keys(turn.model)) {
      if (!models.includes(name)) {
        return {
          turn: index,
          message: `\`${name}\` is not an llm component of ${path.basename(scenario.wwFile)}; ${suggest(name, models)}its llm components are ${models.map((model) => `\`${model}\``).join(', ')}`,
          ...at(scenario, ['turns', index, 'model', name]),
        };
      }
    }
  }
  return undefined;
}

const BASE_URL: Record<string, (server: ScriptedServer) => string> = {
  openai: (server) => server.openaiBaseUrl,
  openai_compatible: (server) => server.openaiBaseUrl,
  claude: (server) => server.anthropicBaseUrl,
  ollama: (server) => server.ollamaBaseUrl,
};

/**
 * The component as it runs against the scripted server: its provider's real code with `base_url`
 * and a test key. `llm local` has no wire protocol, so it runs as `openai_compatible` (the local
 * model itself, a GGUF file, is what a scripted test must not need); so does a type the server
 * does not speak (one a project registered itself), which is the best stand-in there is.
 */
function scriptedModel(component: TopologyComponent, server: ScriptedServer): TopologyComponent {
  const type = component.type === 'local' || BASE_URL[component.type] === undefined ? 'openai_compatible' : component.type;
  const config: Record<string, ConfigValue> = {};
  for (const [key, value] of Object.entries(component.config)) {
    if (component.type === 'local' && (key === 'context_size' || key === 'threads')) continue;
    if (!hasEnvReference(value)) config[key] = value;
  }
  config.base_url = BASE_URL[type]!(server);
  config.api_key = API_KEY;
  if (type !== component.type || typeof config.model !== 'string') config.model = 'scripted';
  // A scripted error is the answer to test; retrying would take the next scripted answer instead.
  config.max_retries = 0;
  return { ...component, type, config };
}

function hasEnvReference(value: ConfigValue): boolean {
  if (value === null || typeof value !== 'object') return false;
  if ('$env' in value || '$template' in value) return true;
  if (Array.isArray(value)) return value.some(hasEnvReference);
  if ('$ref' in value) return false;
  return Object.values(value as Record<string, ConfigValue>).some(hasEnvReference);
}

// ---------------------------------------------------------------------------------------------
// Mocked tools

class ToolMocks {
  /** Tool components, and the tools they offered the model: a key under `tools` must name one. */
  readonly components = new Set<string>();
  readonly offered = new Set<string>();

  constructor(
    private readonly scenario: Scenario,
    private readonly failures: Failure[],
  ) {}

  /** A key under `tools` that names nothing offered is a typo: the real tool would run unnoticed. */
  checkKeys(): void {
    if (this.offered.size === 0) return; // no agent asked for its tools: nothing to compare with
    for (const key of Object.keys(this.scenario.tools)) {
      if (this.offered.has(key) || this.components.has(key)) continue;
      this.failures.push({
        message: `tools.${key} names no tool: ${suggest(key, [...this.offered, ...this.components])}the tools offered are ${[...this.offered].sort().map((name) => `\`${name}\``).join(', ')} (of ${[...this.components].sort().map((name) => `\`${name}\``).join(', ')})`,
        ...at(this.scenario, ['tools', key]),
      });
    }
  }

  /** The answers for a call, by tool name first, then by the tool component's name. */
  answersFor(component: string, tool: string): readonly ToolAnswer[] | undefined {
    return this.scenario.tools[tool] ?? this.scenario.tools[component];
  }

  answer(component: string, tool: string, input: unknown): unknown {
    const key = this.scenario.tools[tool] ? tool : component;
    const answers = this.answersFor(component, tool)!;
    const match = answers.find((answer) => answer.input === undefined || containsFields(input, answer.input));
    if (!match) {
      const message = `the call of \`${tool}\` with ${JSON.stringify(input)} matches none of the answers in tools.${key}`;
      this.failures.push({ message, ...at(this.scenario, ['tools', key]) });
      throw new WoodworkRuntimeError('WW_RUNTIME_INVALID_ARGUMENT', `woodwork test: ${message}`, { hint: `add an answer without \`input\`, or with fields this call has, under tools.${key}` });
    }
    if (match.error !== undefined) throw new Error(match.error);
    return match.output ?? null;
  }
}

function containsFields(input: unknown, fields: Readonly<Record<string, unknown>>): boolean {
  if (typeof input !== 'object' || input === null) return false;
  return Object.entries(fields).every(([key, value]) => isDeepStrictEqual((input as Record<string, unknown>)[key], value));
}

/**
 * The default components, with every tool component wrapped: a call the scenario mocks is
 * answered from the scenario, any other goes to the real tool. The real component still starts,
 * so the model is offered its real tools and schemas.
 */
function mockingRegistry(mocks: ToolMocks): ComponentRegistry {
  const registry = createComponentRegistry();
  for (const definition of aiComponents) registry.register(definition, { replace: true });
  for (const entry of registry.list()) {
    if (entry.role !== 'tool') continue;
    const real = entry.definition;
    const wrapped: ComponentDefinition<any> = {
      ...real,
      create: async (context) => {
        const component: Component<any> = await real.create(context);
        const handle: Component<any>['handle'] = async (message, handlerContext) => {
          const request = message.payload as { tool?: unknown; input?: unknown } | null;
          const tool = typeof request?.tool === 'string' ? request.tool : undefined;
          if (tool !== undefined && mocks.answersFor(context.component.name, tool)) return mocks.answer(context.component.name, tool, request?.input ?? {});
          return component.handle ? component.handle(message, handlerContext) : message.payload;
        };
        mocks.components.add(context.component.name);
        const realTools = component.methods?.tools;
        const methods = realTools
          ? {
              ...component.methods,
              tools: async (args: unknown, handlerContext: Parameters<NonNullable<typeof realTools>>[1]) => {
                const specs = await realTools(args, handlerContext);
                if (Array.isArray(specs)) for (const spec of specs) if (typeof spec?.name === 'string') mocks.offered.add(spec.name);
                return specs;
              },
            }
          : component.methods;
        return new Proxy(component, {
          get: (target, property, receiver) => (property === 'handle' ? handle : property === 'methods' ? methods : Reflect.get(target, property, receiver)),
        });
      },
    };
    registry.register(wrapped, { replace: true });
  }
  return registry;
}

// ---------------------------------------------------------------------------------------------
// Expectations

function checkTurn(scenario: Scenario, index: number, expect: TurnExpectations, seen: TurnObservation): Failure[] {
  const failures: Failure[] = [];
  const where = (key: string, ...more: (string | number)[]) => at(scenario, ['turns', index, 'expect', key, ...more]);
  if (expect.error === undefined && !seen.ok) {
    failures.push({
      turn: index,
      message: 'the turn failed',
      expected: 'no error',
      actual: seen.errors.map((error) => `${error.code}: ${error.message}`).join('\n'),
      ...at(scenario, ['turns', index]),
    });
  }
  if (expect.error !== undefined) {
    const matched = seen.errors.some((error) => error.code.includes(expect.error!) || error.message.includes(expect.error!));
    if (!matched) {
      failures.push({
        turn: index,
        message: seen.ok ? 'the turn did not fail' : 'the turn failed with another error',
        expected: `an error with ${expect.error}`,
        actual: seen.ok ? `no error; reply: ${seen.reply}` : seen.errors.map((error) => `${error.code}: ${error.message}`).join('\n'),
        ...where('error'),
      });
    }
  }
  if (expect.reply !== undefined && expect.reply !== seen.reply) {
    failures.push({ turn: index, message: 'the reply differs', expected: expect.reply, actual: seen.reply, ...where('reply') });
  }
  for (const [position, text] of listOf(expect.reply_contains).entries()) {
    if (!seen.reply.includes(text)) {
      failures.push({ turn: index, message: `the reply does not contain ${JSON.stringify(text)}`, actual: seen.reply, ...where('reply_contains', ...(typeof expect.reply_contains === 'string' ? [] : [position])) });
    }
  }
  for (const [position, pattern] of listOf(expect.reply_matches).entries()) {
    if (!toRegExp(pattern).test(seen.reply)) {
      failures.push({ turn: index, message: `the reply does not match ${pattern}`, actual: seen.reply, ...where('reply_matches', ...(typeof expect.reply_matches === 'string' ? [] : [position])) });
    }
  }
  if (expect.tool_calls !== undefined) {
    const wanted = expect.tool_calls;
    const differs = wanted.length !== seen.toolCalls.length || wanted.some((call, i) => call.tool !== seen.toolCalls[i]!.tool || (call.input !== undefined && !isDeepStrictEqual(call.input, seen.toolCalls[i]!.input)));
    if (differs) {
      failures.push({ turn: index, message: 'the tool calls differ', expected: callsText(wanted), actual: callsText(seen.toolCalls), ...where('tool_calls') });
    }
  }
  if (expect.events !== undefined) {
    let position = 0;
    for (const type of seen.events) if (type === expect.events[position]) position++;
    if (position < expect.events.length) {
      failures.push({
        turn: index,
        message: `the event \`${expect.events[position]}\` did not come${position > 0 ? ` after \`${expect.events[position - 1]}\`` : ''}`,
        expected: expect.events.join('\n'),
        actual: seen.events.join('\n'),
        ...where('events', position),
      });
    }
  }
  if (expect.steps !== undefined && expect.steps !== seen.steps) {
    failures.push({ turn: index, message: 'the agent took another number of steps', expected: String(expect.steps), actual: String(seen.steps), ...where('steps') });
  }
  return failures;
}

function listOf(value: string | readonly string[] | undefined): readonly string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : value;
}

function callsText(calls: readonly { readonly tool: string; readonly input?: unknown }[]): string {
  return calls.length === 0 ? '(no tool calls)' : calls.map((call) => `${call.tool}(${call.input === undefined ? '…' : JSON.stringify(call.input)})`).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** The failure when the scenario's `.ww` file (its `file`, else `main.ww` beside it) is not a file. */
async function missingWwFile(scenario: Scenario): Promise<Failure | undefined> {
  const isFile = await stat(scenario.wwFile).then((found) => found.isFile(), () => false);
  if (isFile) return undefined;
  const folder = path.dirname(scenario.file);
  const named = scenario.document.get('file');
  const message =
    typeof named === 'string'
      ? `\`file\` names ${JSON.stringify(named)}, but there is no such file: it is read relative to the scenario's folder, so here ${scenario.wwFile}`
      : `there is no main.ww beside the scenario (in ${folder}): move the scenario next to its .ww file, or say which file it runs with \`file: path/to/main.ww\``;
  return { message, ...at(scenario, ['file']) };
}

/** `did you mean \`x\`? ` when a candidate is close, else nothing. */
function suggest(word: string, candidates: readonly string[]): string {
  const suggestion = didYouMean(word, candidates);
  return suggestion === undefined ? '' : `${suggestion} `;
}

function at(scenario: Scenario, path: readonly (string | number)[]): { line: number; column: number } {
  const { line, column } = scenario.locate(path);
  return { line, column };
}

/** The turn's events, once its `turn.completed` has been read (the reader may trail `ask` a little). */
async function eventsOfTurn(events: readonly SessionEvent[], turnId: string): Promise<SessionEvent[]> {
  const deadline = Date.now() + 2_000;
  const mine = () => events.filter((event) => traceIdOf(event.trace) === turnId);
  while (Date.now() < deadline && !mine().some((event) => event.event_type === 'turn.completed')) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return mine();
}

/** Event types in order; a run of the same type (an agent's thoughts) counts once. */
export function eventTypes(events: readonly SessionEvent[]): string[] {
  const types: string[] = [];
  for (const event of events) {
    if (QUIET_EVENTS.has(event.event_type)) continue;
    if (types[types.length - 1] !== event.event_type) types.push(event.event_type);
  }
  return types;
}

function errorOf(event: SessionEvent): { code: string; message: string; component?: string } {
  const payload = event.payload as { error?: { code?: string; message?: string }; component?: string } | null;
  return {
    code: payload?.error?.code ?? 'UNKNOWN',
    message: payload?.error?.message ?? textOf(event.payload),
    ...(payload?.component === undefined ? {} : { component: payload.component }),
  };
}

function describeError(error: unknown): string {
  if (WoodworkRuntimeError.isInstance(error)) {
    const problems = error.problems.length > 0 ? error.problems : [error];
    return problems.map((problem) => {
      const serialized = serializeRuntimeError(problem);
      const place = problem.location ? ` (${problem.location.file}:${problem.location.line}:${problem.location.column})` : '';
      return `${serialized.code}: ${serialized.message}${place}${problem.hint ? ` — ${problem.hint}` : ''}`;
    }).join('; ');
  }
  return error instanceof Error ? error.message : String(error);
}

function sink(): NodeJS.WritableStream {
  return new Writable({ write: (_chunk, _encoding, done) => done() });
}
