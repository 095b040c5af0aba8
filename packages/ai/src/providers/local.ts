/**
 * `llm local`: a GGUF model run inside this process on node-llama-cpp (llama.cpp's prebuilt CPU
 * binaries, from the npm registry: nothing is compiled, no server, no key). `createLocalModel`
 * is an AI SDK language model like any provider's (spec v4, what `ai@7` calls natively: `doStream`
 * emits `text-start` / `text-delta` / `text-end` / `finish` with usage), so the llm component treats
 * it exactly as it treats OpenAI; `localProvider` is the `llm local` type on the provider seam.
 *
 * Where the time goes, and so what is shared: loading a model (reading and mapping the file,
 * ~0.5–2 s for 100 MB) is the slow part, so one loaded model serves every component of the process
 * that names the same file, counted by reference and freed when the last one closes. A context (the
 * KV cache) is shared by the components that also agree on its size and threads; it has a fixed
 * number of sequences (`sequences`, default 1), and a call waits for a free one — one generation
 * already keeps every core busy, so running more at once only splits the cores between them. A
 * sequence keeps what it last evaluated, so a session's next turn, whose history starts with the
 * previous one, evaluates only the new messages.
 *
 * `model` is a path (absolute, `~/…`, or relative to `baseDir`) or a Hugging Face reference
 * (`hf:user/repo/file.gguf`, `hf:user/repo:Q4_K_M`) resolved by node-llama-cpp's own
 * `resolveModelFile` in `modelsDirectory`: found there, it is used as it is; missing, it is
 * downloaded unless `download` is off (`HF_HUB_OFFLINE=1`, Hugging Face's own switch), and a
 * download that makes no progress for `downloadStallMs` is given up with an error saying where to
 * put the file by hand.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4Content,
  LanguageModelV4FinishReason,
  LanguageModelV4GenerateResult,
  LanguageModelV4StreamPart,
  LanguageModelV4StreamResult,
  LanguageModelV4Usage,
  SharedV4Warning,
} from '@ai-sdk/provider';
import { randomUUID } from 'node:crypto';
import type { GbnfJsonSchema, Llama, LlamaChat, LlamaChatResponse, LlamaContext, LlamaJsonSchemaGrammar, LlamaModel } from 'node-llama-cpp';
import type { ErrorLocation } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';
import type { LlmConfig, LlmProvider } from '../llm/provider.js';
import { forcedCall, planTools, toHistory } from './local-tools.js';

/** `llm local`'s model (a .gguf path or an hf: reference) when the file names none. */
export const LOCAL_MODEL_VARIABLE = 'WOODWORK_LOCAL_MODEL';
// Said to users of the published packages, who have none of the repository's scripts.
const FETCH_HINT =
  'set `model` to a .gguf file or to an hf: reference (`model = "hf:user/repo/file.gguf"`, downloaded once into ~/.cache/woodwork/models), or set WOODWORK_LOCAL_MODEL to one of those; in the Woodwork repository: `eval "$(bash tools/models.sh env)"` fetches SmolLM2-135M-Instruct (98 MB) once and sets it';

export interface LocalModelSettings {
  /** A .gguf path (absolute, `~/…`, or relative to `baseDir`) or an `hf:` reference. */
  readonly model: string;
  /** Tokens the context holds: prompt, history and reply (default 4096; capped at what the model was trained for). */
  readonly contextSize?: number;
  /**
   * CPU threads (default: the cores this process may use less one, at least 1). llama.cpp's threads
   * spin while they wait for each other, so one that loses its core to another thread — Node's
   * own, which streams the reply, or another process — stalls them all: measured on 2 busy cores,
   * 2 threads ran at 1.6 tokens/s where 1 thread ran at 60.
   */
  readonly threads?: number;
  /** Generations at once per context (default 1: one already uses every core); more calls wait for a free one. */
  readonly sequences?: number;
  /** Where a relative path starts (default: the current directory). */
  readonly baseDir?: string;
  /** Where `hf:` models are looked up and downloaded to (default `$WOODWORK_CACHE_DIR/models`, else `~/.cache/woodwork/models`). */
  readonly modelsDirectory?: string;
  /** Whether an `hf:` model missing from `modelsDirectory` is downloaded (default: yes, unless HF_HUB_OFFLINE=1). */
  readonly download?: boolean;
  /** A download with no progress for this long is given up (default 30 s: an unreachable hub fails instead of hanging). */
  readonly downloadStallMs?: number;
  /** Aborts a load or download in progress. */
  readonly signal?: AbortSignal;
  /** For the default directories and switches (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Named in errors: the component this model is for, and its place in the .ww file. */
  readonly component?: string;
  readonly location?: ErrorLocation;
}

/** What was loaded, for notices and benchmarks. */
export interface LocalModelInfo {
  /** The .gguf file. */
  readonly path: string;
  /** `model` as given (a path or an hf: reference). */
  readonly reference: string;
  /** The model's name from its metadata (`SmolLM2-135M-Instruct.Q4_1`), else the file name. */
  readonly name: string;
  /** Parameters as the file states them (`135M`), when it does. */
  readonly sizeLabel: string | undefined;
  /** Parameters as a number, from the label; undefined when the file does not say. */
  readonly parameters: number | undefined;
  readonly fileBytes: number;
  readonly contextSize: number;
  readonly threads: number;
  /** Milliseconds the load took in this call; 0 when the model was already loaded in this process. */
  readonly loadMs: number;
}

export interface LocalLanguageModel extends LanguageModelV4 {
  readonly info: LocalModelInfo;
  /** Releases this handle; the model is freed when no handle of the process uses it any more. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// One llama.cpp binding, one model per file, one context per (file, size, threads) — per process

type NodeLlamaCpp = typeof import('node-llama-cpp');

interface SharedContext {
  readonly context: LlamaContext;
  readonly free: LlamaChat[];
  readonly waiting: Array<(chat: LlamaChat) => void>;
  users: number;
}

interface SharedModel {
  readonly model: LlamaModel;
  readonly loadMs: number;
  readonly contexts: Map<string, Promise<SharedContext>>;
  users: number;
}

let binding: Promise<{ module: NodeLlamaCpp; llama: Llama }> | undefined;
const models = new Map<string, Promise<SharedModel>>();

function loadBinding(): Promise<{ module: NodeLlamaCpp; llama: Llama }> {
  binding ??= (async () => {
    const module = await import('node-llama-cpp');
    // gpu: false — these are CPU builds everywhere we promise to run; probing for CUDA or Vulkan
    // costs seconds and prints warnings. build: 'never' — a missing prebuilt binary is an error
    // to report, never a compile at run time. maxThreads: llama.cpp counts the host's CPUs, not the
    // ones this process may use (4 on a 2-core container here), and oversubscribed threads spin
    // against each other until a reply takes minutes.
    const llama = await module.getLlama({ gpu: false, build: 'never', logLevel: module.LlamaLogLevel.error, maxThreads: os.availableParallelism() });
    return { module, llama };
  })();
  binding.catch(() => (binding = undefined));
  return binding;
}

async function releaseBindingIfUnused(): Promise<void> {
  if (models.size > 0 || binding === undefined) return;
  const current = binding;
  binding = undefined;
  await (await current).llama.dispose();
}

async function acquireModel(file: string, settings: LocalModelSettings): Promise<SharedModel> {
  let entry = models.get(file);
  if (entry === undefined) {
    entry = (async () => {
      let llama: Llama;
      try {
        ({ llama } = await loadBinding());
      } catch (error) {
        throw localError(
          settings,
          `llama.cpp did not start (node-llama-cpp on ${process.platform}-${process.arch}): ${(error as Error).message}`,
          'node-llama-cpp brings prebuilt CPU binaries as optional npm packages (@node-llama-cpp/<platform>-<arch>); reinstall without --omit=optional, or on a platform it has binaries for',
        );
      }
      const started = performance.now();
      let model: LlamaModel;
      try {
        model = await llama.loadModel({ modelPath: file, ...(settings.signal ? { loadSignal: settings.signal } : {}) });
      } catch (error) {
        throw localError(settings, `could not load the model ${file}: ${(error as Error).message}`, 'check that the file is a complete GGUF model (a download cut short is not); fetch it again');
      }
      return { model, loadMs: performance.now() - started, contexts: new Map(), users: 0 };
    })();
    models.set(file, entry);
    entry.catch(() => models.delete(file));
  }
  const shared = await entry;
  shared.users++;
  return shared;
}

async function acquireContext(shared: SharedModel, contextSize: number, threads: number, sequences: number): Promise<SharedContext> {
  const key = `${contextSize}:${threads}:${sequences}`;
  let entry = shared.contexts.get(key);
  if (entry === undefined) {
    entry = (async () => {
      const { module } = await binding!;
      const context = await shared.model.createContext({ contextSize, threads, sequences });
      const free: LlamaChat[] = [];
      for (let index = 0; index < sequences; index++) free.push(new module.LlamaChat({ contextSequence: context.getSequence() }));
      return { context, free, waiting: [], users: 0 };
    })();
    shared.contexts.set(key, entry);
    entry.catch(() => shared.contexts.delete(key));
  }
  const context = await entry;
  context.users++;
  return context;
}

async function releaseContext(file: string, shared: SharedModel, context: SharedContext): Promise<void> {
  context.users--;
  if (context.users === 0) {
    for (const [key, entry] of shared.contexts) if ((await entry) === context) shared.contexts.delete(key);
    for (const chat of context.free) chat.dispose({ disposeSequence: true });
    await context.context.dispose();
  }
  await releaseModel(file, shared);
}

async function releaseModel(file: string, shared: SharedModel): Promise<void> {
  shared.users--;
  if (shared.users > 0) return;
  models.delete(file);
  await shared.model.dispose();
  await releaseBindingIfUnused();
}

/** A free sequence of the context, waiting for one when all are busy (FIFO). */
function takeSequence(context: SharedContext, signal: AbortSignal | undefined): Promise<LlamaChat> {
  const chat = context.free.pop();
  if (chat) return Promise.resolve(chat);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      const index = context.waiting.indexOf(handOver);
      if (index >= 0) context.waiting.splice(index, 1);
      reject(signal!.reason);
    };
    const handOver = (given: LlamaChat) => {
      signal?.removeEventListener('abort', onAbort);
      resolve(given);
    };
    if (signal?.aborted) return reject(signal.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    context.waiting.push(handOver);
  });
}

function giveBackSequence(context: SharedContext, chat: LlamaChat): void {
  const next = context.waiting.shift();
  if (next) next(chat);
  else context.free.push(chat);
}

// ---------------------------------------------------------------------------------------------
// Finding the file

function defaultModelsDirectory(env: Readonly<Record<string, string | undefined>>): string {
  const cache = env.WOODWORK_CACHE_DIR || path.join(env.HOME || os.homedir(), '.cache', 'woodwork');
  return path.join(cache, 'models');
}

function localError(settings: LocalModelSettings, message: string, hint: string): WoodworkAiError {
  const who = settings.component ? `llm \`${settings.component}\` (local): ` : '';
  return new WoodworkAiError('WW_AI_MODEL_NOT_FOUND', `${who}${message}`, {
    hint,
    ...(settings.component === undefined ? {} : { component: settings.component }),
    ...(settings.location === undefined ? {} : { location: settings.location }),
  });
}

/** The .gguf file `model` names: a path checked to exist, or an hf: reference resolved (and downloaded). */
export async function resolveLocalModelFile(settings: LocalModelSettings): Promise<string> {
  const env = settings.env ?? process.env;
  const reference = settings.model.trim();
  if (!/^(hf:|huggingface:|https?:)/i.test(reference)) {
    const expanded = reference.startsWith('~/') ? path.join(env.HOME || os.homedir(), reference.slice(2)) : reference;
    const file = path.resolve(settings.baseDir ?? process.cwd(), expanded);
    if (!existsSync(file)) {
      throw localError(settings, `no model file at ${file}`, `${FETCH_HINT}`);
    }
    if (!statSync(file).isFile()) throw localError(settings, `${file} is not a file`, 'set `model` to a .gguf file');
    return file;
  }
  const directory = settings.modelsDirectory ?? defaultModelsDirectory(env);
  const download = settings.download ?? !['1', 'true', 'yes'].includes((env.HF_HUB_OFFLINE ?? '').toLowerCase());
  const { resolveModelFile } = await import('node-llama-cpp');
  const byHand = `download the .gguf file yourself into ${directory} (under the name node-llama-cpp's resolver gives it: hf:user/repo/file.gguf is hf_user_file.gguf), or set \`model\` to the file's path`;
  if (!download) {
    try {
      return await resolveModelFile(reference, { directory, download: false, cli: false });
    } catch (error) {
      throw localError(settings, `${reference} is not in ${directory} and downloads are off (HF_HUB_OFFLINE=1): ${(error as Error).message}`, `unset HF_HUB_OFFLINE to download it, or ${byHand}`);
    }
  }
  // node-llama-cpp retries an unreachable hub for minutes before it says so, and its signal reaches
  // only the transfer, not the lookup before it: a watchdog gives up once nothing moved for a while.
  const stallMs = settings.downloadStallMs ?? 30_000;
  const transfer = new AbortController();
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let stalled!: (error: Error) => void;
  const giveUp = new Promise<never>((_, reject) => (stalled = reject));
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      transfer.abort();
      stalled(localError(settings, `could not download ${reference}: nothing arrived for ${Math.round(stallMs / 1000)} s (is the Hugging Face hub reachable from here?)`, `check the network (and HF_TOKEN for a gated model), or ${byHand}`));
    }, stallMs);
    watchdog.unref?.();
  };
  const onAbort = () => stalled(settings.signal!.reason as Error);
  settings.signal?.addEventListener('abort', onAbort, { once: true });
  arm();
  try {
    return await Promise.race([
      resolveModelFile(reference, { directory, download: 'auto', cli: false, signal: transfer.signal, onProgress: arm }),
      giveUp,
    ]);
  } catch (error) {
    if (WoodworkAiError.isAiError(error)) throw error;
    throw localError(settings, `could not resolve ${reference}: ${(error as Error).message}`, `check the reference (hf:user/repo/file.gguf or hf:user/repo:quant), or ${byHand}`);
  } finally {
    clearTimeout(watchdog);
    settings.signal?.removeEventListener('abort', onAbort);
  }
}

// ---------------------------------------------------------------------------------------------
// The AI SDK model

/** Tokens a forced tool call may take when the call sets no limit: a call's arguments are short, and a small model may otherwise fill a string forever. */
const FORCED_CALL_MAX_TOKENS = 512;

const SIZE_UNITS: Record<string, number> = { K: 1e3, M: 1e6, B: 1e9, T: 1e12 };

function parameterCount(label: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([KMBT])$/i.exec(label?.trim() ?? '');
  return match ? Number(match[1]) * SIZE_UNITS[match[2]!.toUpperCase()]! : undefined;
}

function finishReason(response: Pick<LlamaChatResponse, 'metadata'> | undefined, aborted: boolean): LanguageModelV4FinishReason {
  const raw = response?.metadata.stopReason;
  if (aborted || raw === 'abort') return { unified: 'other', raw: raw ?? 'abort' };
  if (raw === 'maxTokens') return { unified: 'length', raw };
  if (raw === 'functionCalls') return { unified: 'tool-calls', raw };
  return { unified: 'stop', raw };
}

function unsupportedSettings(options: LanguageModelV4CallOptions): SharedV4Warning[] {
  const warnings: SharedV4Warning[] = [];
  if (options.responseFormat?.type === 'json') warnings.push({ type: 'unsupported', feature: 'responseFormat', details: 'llm local answers in text' });
  return warnings;
}

/**
 * Loads (or shares) a local GGUF model and returns it as an AI SDK language model. Throws a
 * `WoodworkAiError` (`WW_AI_MODEL_NOT_FOUND`) naming the path or reference when there is no file.
 */
export async function createLocalModel(settings: LocalModelSettings): Promise<LocalLanguageModel> {
  const file = await resolveLocalModelFile(settings);
  const threads = Math.max(1, Math.floor(settings.threads ?? os.availableParallelism() - 1));
  const sequences = Math.max(1, Math.floor(settings.sequences ?? 1));
  // Keyed by the real file, so a symlink (an hf: cache entry pointing at a file fetched another way) shares it.
  const key = realpathSync(file);
  const fresh = !models.has(key);
  const shared = await acquireModel(key, settings);
  const contextSize = Math.min(settings.contextSize ?? 4096, shared.model.trainContextSize || Number.POSITIVE_INFINITY);
  let context: SharedContext;
  try {
    context = await acquireContext(shared, contextSize, threads, sequences);
  } catch (error) {
    await releaseModel(key, shared);
    throw localError(settings, `could not make a context of ${contextSize} tokens for ${file}: ${(error as Error).message}`, 'lower `context_size`, or free memory');
  }
  const general = shared.model.fileInfo.metadata?.general;
  const sizeLabel = typeof general?.size_label === 'string' ? general.size_label : undefined;
  const info: LocalModelInfo = {
    path: file,
    reference: settings.model,
    name: path.basename(file).replace(/\.gguf$/i, ''),
    sizeLabel,
    parameters: parameterCount(sizeLabel),
    fileBytes: statSync(file).size,
    contextSize: context.context.contextSize,
    threads,
    loadMs: fresh ? shared.loadMs : 0,
  };
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await releaseContext(key, shared, context);
  };

  // Grammars for forced tool calls, by schema: making one compiles a GBNF grammar (milliseconds),
  // and an agent offers the same tools every step.
  const grammars = new Map<string, Promise<LlamaJsonSchemaGrammar<never>>>();
  const grammarFor = async (schema: GbnfJsonSchema): Promise<LlamaJsonSchemaGrammar<never>> => {
    const key = JSON.stringify(schema);
    let grammar = grammars.get(key);
    if (grammar === undefined) {
      const { llama } = await binding!;
      grammar = llama.createGrammarForJsonSchema(schema as never) as Promise<LlamaJsonSchemaGrammar<never>>;
      grammars.set(key, grammar);
      grammar.catch(() => grammars.delete(key));
    }
    return grammar;
  };

  const doStream = async (options: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> => {
    if (closed) throw localError(settings, `the model ${file} was closed (its component stopped)`, 'start the runtime again');
    const warnings = unsupportedSettings(options);
    const tools = planTools(options, warnings);
    const history = toHistory(options.prompt, warnings, tools.mode === 'forced' ? tools.instruction : undefined);
    const grammar = tools.mode === 'forced' ? await grammarFor(tools.schema) : undefined;
    // Aborted by the caller's signal or by the reader cancelling the stream: either way the
    // generation stops at the next token and the sequence goes back to the pool.
    const stop = new AbortController();
    const signal = options.abortSignal ? AbortSignal.any([options.abortSignal, stop.signal]) : stop.signal;
    let open = true;
    const stream = new ReadableStream<LanguageModelV4StreamPart>({
      start(controller) {
        // Text deltas leave on the next turn of the event loop (setImmediate), not inside
        // node-llama-cpp's callback: the callback runs in the generation loop, which dispatches the
        // next token's decode a few microtasks later, and what a delta sets off (the AI SDK's
        // streams, the llm component, events) would otherwise run first and delay every token by
        // its whole cost. Deferred, it runs while llama.cpp's thread computes the next token. A
        // delta still leaves in the same turn of the event loop; deltas that arrive before it
        // fires are enqueued together, in order; any other part enqueues them first.
        let deltas: LanguageModelV4StreamPart[] = [];
        let scheduled = false;
        const flush = () => {
          scheduled = false;
          const parts = deltas;
          deltas = [];
          if (open) for (const part of parts) controller.enqueue(part);
        };
        const emitDelta = (part: LanguageModelV4StreamPart) => {
          if (!open) return;
          deltas.push(part);
          if (!scheduled) {
            scheduled = true;
            setImmediate(flush);
          }
        };
        const emit = (part: LanguageModelV4StreamPart) => {
          if (deltas.length > 0) flush();
          if (open) controller.enqueue(part);
        };
        void (async () => {
          let chat: LlamaChat | undefined;
          try {
            chat = await takeSequence(context, signal);
            emit({ type: 'stream-start', warnings });
            emit({ type: 'response-metadata', modelId: info.name, timestamp: new Date() });
            const sequence = chat.sequence;
            const before = sequence.tokenMeter.getState();
            let started = false;
            const penalties = options.presencePenalty !== undefined || options.frequencyPenalty !== undefined;
            const response = await chat.generateResponse(history, {
              signal,
              stopOnAbortSignal: true,
              ...(options.maxOutputTokens === undefined ? (grammar ? { maxTokens: FORCED_CALL_MAX_TOKENS } : {}) : { maxTokens: options.maxOutputTokens }),
              ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
              ...(options.topK === undefined ? {} : { topK: options.topK }),
              ...(options.topP === undefined ? {} : { topP: options.topP }),
              ...(options.seed === undefined ? {} : { seed: options.seed }),
              ...(options.stopSequences?.length ? { customStopTriggers: options.stopSequences } : {}),
              ...(penalties
                ? { repeatPenalty: { ...(options.presencePenalty === undefined ? {} : { presencePenalty: options.presencePenalty }), ...(options.frequencyPenalty === undefined ? {} : { frequencyPenalty: options.frequencyPenalty }) } }
                : {}),
              ...(grammar ? { grammar } : tools.mode === 'auto' ? { functions: tools.functions, documentFunctionParams: true } : {}),
              onTextChunk(text) {
                // A forced call's text is the call's JSON, reported as the call below.
                if (text === '' || grammar) return;
                if (!started) {
                  started = true;
                  emitDelta({ type: 'text-start', id: '0' });
                }
                emitDelta({ type: 'text-delta', id: '0', delta: text });
              },
            });
            if (started) emit({ type: 'text-end', id: '0' });
            let calls = 0;
            if (grammar && tools.mode === 'forced' && response.metadata.stopReason !== 'abort' && response.metadata.stopReason !== 'maxTokens') {
              // The grammar makes the reply parse; a reply cut short by the token limit does not.
              const call = forcedCall(tools, grammar.parse(response.response));
              emit({ type: 'tool-call', toolCallId: `call_${randomUUID()}`, toolName: call.toolName, input: call.input });
              calls++;
            }
            for (const call of response.functionCalls ?? []) {
              emit({ type: 'tool-call', toolCallId: `call_${randomUUID()}`, toolName: call.functionName, input: JSON.stringify(call.params ?? {}) });
              calls++;
            }
            const used = sequence.tokenMeter.diff(before);
            // The sequence now holds prompt + reply; what of the prompt was already there from an
            // earlier call (the same session's previous turn) was read from the cache.
            const promptTokens = Math.max(used.usedInputTokens, sequence.nextTokenIndex - used.usedOutputTokens);
            const usage: LanguageModelV4Usage = {
              inputTokens: { total: promptTokens, noCache: used.usedInputTokens, cacheRead: promptTokens - used.usedInputTokens, cacheWrite: undefined },
              outputTokens: { total: used.usedOutputTokens, text: used.usedOutputTokens, reasoning: undefined },
            };
            if (options.abortSignal?.aborted) throw options.abortSignal.reason;
            emit({ type: 'finish', usage, finishReason: calls > 0 ? { unified: 'tool-calls', raw: response.metadata.stopReason } : finishReason(response, signal.aborted) });
            if (open) controller.close();
          } catch (error) {
            if (deltas.length > 0) flush();
            if (open) controller.error(error);
          } finally {
            open = false;
            if (chat) giveBackSequence(context, chat);
          }
        })();
      },
      cancel() {
        open = false;
        stop.abort();
      },
    });
    return { stream, request: { body: { model: file, history, ...(tools.mode === 'none' ? {} : { tools: tools.mode }) } } };
  };

  const doGenerate = async (options: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> => {
    const { stream, request } = await doStream(options);
    let text = '';
    let usage: LanguageModelV4Usage | undefined;
    let reason: LanguageModelV4FinishReason = { unified: 'other', raw: undefined };
    let warnings: SharedV4Warning[] = [];
    const calls: LanguageModelV4Content[] = [];
    for await (const part of stream) {
      if (part.type === 'text-delta') text += part.delta;
      else if (part.type === 'tool-call') calls.push(part);
      else if (part.type === 'stream-start') warnings = part.warnings;
      else if (part.type === 'finish') {
        usage = part.usage;
        reason = part.finishReason;
      }
    }
    const content: LanguageModelV4Content[] = [...(text === '' ? [] : [{ type: 'text' as const, text }]), ...calls];
    return {
      content,
      finishReason: reason,
      usage: usage ?? { inputTokens: { total: undefined, noCache: undefined, cacheRead: undefined, cacheWrite: undefined }, outputTokens: { total: undefined, text: undefined, reasoning: undefined } },
      warnings,
      ...(request ? { request } : {}),
    };
  };

  return {
    specificationVersion: 'v4',
    provider: 'local',
    modelId: info.name,
    supportedUrls: {},
    doStream,
    doGenerate,
    info,
    close,
    [Symbol.asyncDispose]: close,
  };
}

// ---------------------------------------------------------------------------------------------
// `llm local` on the provider seam

/** "answers come from X (135M parameters, 98 MB), a very small local model …": what the user is told at start. */
export function describeLocalModel(info: LocalModelInfo): string {
  const size = [info.sizeLabel ? `${info.sizeLabel} parameters` : undefined, `${Math.round(info.fileBytes / 1e6)} MB`].filter(Boolean).join(', ');
  const small = info.parameters !== undefined && info.parameters < 1e9;
  return small
    ? `answers come from ${info.name} (${size}), a very small local model running on this machine's CPU: expect short, simple and often wrong answers. For a capable model set OPENAI_API_KEY or ANTHROPIC_API_KEY and use llm openai or llm claude.`
    : `answers come from ${info.name} (${size}), a local model running on this machine's CPU.`;
}

function positiveInteger(config: LlmConfig, key: string): number | undefined {
  const value = config[key];
  return typeof value === 'number' && Number.isFinite(value) && value >= 1 ? Math.floor(value) : undefined;
}

export const localProvider: LlmProvider = {
  type: 'local',
  providerName: 'local',
  label: 'the local model',
  // Read when the component is made, so setting it (or a .env) before the run is enough.
  // Empty when unset, so that createModel (not the shared "no model" check) says how to get one.
  get defaultModel() {
    return process.env[LOCAL_MODEL_VARIABLE] || '';
  },
  createModel: async (config, context) => {
    const reference = typeof config.model === 'string' ? config.model.trim() : '';
    if (reference === '') {
      throw new WoodworkAiError('WW_AI_MODEL_NOT_FOUND', `no model: \`${context.component.name}\` has no \`model\` and ${LOCAL_MODEL_VARIABLE} is not set`, {
        component: context.component.name,
        location: context.component.location,
        hint: FETCH_HINT,
      });
    }
    const contextSize = positiveInteger(config, 'context_size');
    const threads = positiveInteger(config, 'threads');
    const model = await createLocalModel({
      model: reference,
      baseDir: context.projectDir,
      env: context.env,
      signal: context.signal,
      component: context.component.name,
      location: context.component.location,
      ...(contextSize === undefined ? {} : { contextSize }),
      ...(threads === undefined ? {} : { threads }),
    });
    // Said once per load, not once per handle: an agent driving this llm makes a handle of its own
    // on the same loaded model, and the user declared one model. Named after the llm either way.
    if (model.info.loadMs > 0) context.logger.warn(describeLocalModel(model.info), { component: context.component.name, file: model.info.path });
    else context.logger.debug(`shares the local model ${model.info.name} already loaded in this process`, { llm: context.component.name, file: model.info.path });
    return { model, close: () => model.close() };
  },
};
