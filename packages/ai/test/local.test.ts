/**
 * `llm local` for real: SmolLM2-135M-Instruct (the file `bash tools/models.sh` fetches) loaded by
 * node-llama-cpp, on the CPU, through the AI SDK and through the runtime. Nothing here is mocked;
 * replies are never compared with fixed text (a 135M model's words are its own), only their shape,
 * order, token counts and what the runtime did with them.
 */
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { streamText } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleLogger, type SessionEvent } from '@woodwork/runtime';
import { createLocalModel, type LocalLanguageModel } from '../src/providers/local.js';
import { localModelPath } from './support/local-model.js';
import { eventsUntil, project, started } from './support/project.js';

const file = localModelPath();

async function collect(model: LocalLanguageModel, prompt: string, options: { maxOutputTokens?: number; abortAfter?: number } = {}) {
  const abort = new AbortController();
  const result = streamText({ model, system: 'You are a helpful assistant.', prompt, maxOutputTokens: options.maxOutputTokens ?? 12, abortSignal: abort.signal });
  const deltas: string[] = [];
  const types: string[] = [];
  for await (const part of result.fullStream) {
    types.push(part.type);
    if (part.type === 'text-delta') {
      deltas.push(part.text);
      if (deltas.length === options.abortAfter) abort.abort();
    }
  }
  return { deltas, types, result };
}

// Loading the model takes seconds on a busy machine; a test that loads it gets minutes, not the default 30 s.
const slow = { timeout: 180_000 };

describe('createLocalModel', slow, () => {
  let model: LocalLanguageModel;
  beforeAll(async () => {
    model = await createLocalModel({ model: file });
  });
  afterAll(() => model?.close());

  it('loads the GGUF file and says what it is', () => {
    expect(model.specificationVersion).toBe('v4');
    expect(model.info.path).toBe(file);
    expect(model.info.sizeLabel).toBe('135M');
    expect(model.info.parameters).toBe(135e6);
    expect(model.info.fileBytes).toBeGreaterThan(50e6);
    expect(model.info.threads).toBeGreaterThanOrEqual(1);
  });

  it('streams the reply token by token through streamText, with usage and the finish reason', async () => {
    // A story never fits in 10 tokens, so the reply is cut by the limit: finish reason `length`.
    const { deltas, types, result } = await collect(model, 'Write a long story about a lighthouse keeper.', { maxOutputTokens: 10 });
    expect(deltas.length).toBeGreaterThan(2);
    expect(types.indexOf('text-start')).toBeLessThan(types.indexOf('text-delta'));
    expect(types.lastIndexOf('text-delta')).toBeLessThan(types.indexOf('text-end'));
    expect(types.at(-1)).toBe('finish');
    expect(await result.text).toBe(deltas.join(''));
    const usage = await result.usage;
    expect(usage.outputTokens).toBe(10);
    expect(usage.inputTokens).toBeGreaterThan(5);
    expect(await result.finishReason).toBe('length');
  });

  it('stops generating when the caller aborts, and the next call gets the freed sequence', async () => {
    const aborted = await collect(model, 'Write a long story about a lighthouse keeper.', { maxOutputTokens: 200, abortAfter: 3 });
    expect(aborted.types).toContain('abort');
    expect(aborted.deltas.length).toBeLessThan(20);
    // one sequence: a generation still running would hold it and this call would wait forever
    const next = await collect(model, 'Say yes.', { maxOutputTokens: 4 });
    expect(next.deltas.length).toBeGreaterThan(0);
  });

  it('queues calls beyond its sequences instead of failing them', async () => {
    const [first, second] = await Promise.all([
      collect(model, 'Write a long story about a clockmaker.', { maxOutputTokens: 6 }),
      collect(model, 'Write a long story about a beekeeper.', { maxOutputTokens: 6 }),
    ]);
    expect((await first.result.usage).outputTokens).toBe(6);
    expect((await second.result.usage).outputTokens).toBe(6);
  });

  it('shares one loaded model per file in the process, freed when the last handle closes', async () => {
    const again = await createLocalModel({ model: file });
    expect(again.info.loadMs).toBe(0);
    const other = await createLocalModel({ model: file, contextSize: 1024 });
    expect(other.info.loadMs).toBe(0);
    expect(other.info.contextSize).toBe(1024);
    await again.close();
    expect((await (await collect(other, 'Write a long story about a tailor.', { maxOutputTokens: 3 })).result.usage).outputTokens).toBe(3);
    await other.close();
    // the first handle still works after the others closed
    expect((await collect(model, 'Say hi.', { maxOutputTokens: 3 })).deltas.length).toBeGreaterThan(0);
  });

  it('names the path and what a user of the packages can do when the file is missing (the repository script only as such)', async () => {
    const missing = path.join(tmpdir(), 'no-such-dir', 'model.gguf');
    const error = await createLocalModel({ model: missing, component: 'chat' }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'WW_AI_MODEL_NOT_FOUND', component: 'chat' });
    expect((error as Error).message).toContain(missing);
    const hint = (error as { hint: string }).hint;
    expect(hint).toMatch(/^set `model` to a \.gguf file or to an hf: reference/);
    expect(hint).toContain('WOODWORK_LOCAL_MODEL');
    expect(hint).toContain('in the Woodwork repository: `eval "$(bash tools/models.sh env)"`');
  });
});

describe('hf: references, through node-llama-cpp resolveModelFile', slow, () => {
  const reference = 'hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m-instruct-q4_1.gguf';

  it('uses the file already in the models directory, without the hub', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-hf-'));
    try {
      // The name node-llama-cpp's resolver gives this reference in its directory.
      await symlink(file, path.join(dir, 'hf_HuggingFaceTB_smollm2-135m-instruct-q4_1.gguf'));
      await using model = await createLocalModel({ model: reference, modelsDirectory: dir, download: false });
      expect(model.info.path).toBe(path.join(dir, 'hf_HuggingFaceTB_smollm2-135m-instruct-q4_1.gguf'));
      expect(model.info.reference).toBe(reference);
      expect((await collect(model, 'Say hi.', { maxOutputTokens: 3 })).deltas.length).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says where to put the file when it is not there and downloads are off', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-hf-'));
    try {
      const error = await createLocalModel({ model: reference, modelsDirectory: dir, env: { HF_HUB_OFFLINE: '1' } }).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'WW_AI_MODEL_NOT_FOUND' });
      expect((error as Error).message).toContain(reference);
      expect((error as Error).message).toContain(dir);
      expect((error as { hint: string }).hint).toMatch(/unset HF_HUB_OFFLINE/);
      expect((error as { hint: string }).hint).toContain(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives up a download that makes no progress (no hub reachable here), naming the reference', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ww-hf-'));
    try {
      const error = await createLocalModel({ model: 'hf:woodwork-test/not-a-repo/none.gguf', modelsDirectory: dir, downloadStallMs: 1500 }).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: 'WW_AI_MODEL_NOT_FOUND' });
      expect((error as Error).message).toMatch(/hf:woodwork-test\/not-a-repo\/none\.gguf/);
      expect((error as { hint: string }).hint).toContain(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Tokens each turn's `chat` step recorded (from `metrics.component_performance` events). */
function tokensOf(events: readonly SessionEvent[]): number[] {
  return events
    .filter((event) => event.event_type === 'metrics.component_performance' && event.component_source === 'chat')
    .map((event) => (event.payload as { tokens_processed: number | null }).tokens_processed ?? 0);
}

describe('llm local in a topology', slow, () => {
  // Questions whose lengths make memory visible in the token counts: the first is long, the second
  // short, and replies are capped, so the second turn's prompt is larger than the first's only when
  // it carries the first exchange.
  const first = 'Hello! My name is Ada Lovelace, I was born in London in 1815, and I wrote the first published algorithm for a machine.';
  const second = 'What is my name?';
  const topology = (memory: boolean) => `
    chat = llm local {
      model = "${file}"
      prompt = "You are a helpful assistant."
      max_tokens = 8
      ${memory ? 'memory = history' : ''}
    }
    ${memory ? 'history = memory short_term {}' : ''}
  `;

  it('streams chunks to the session, records usage, and says it is a very small model when it starts', async () => {
    await using files = await project({ 'main.ww': topology(false) });
    const lines: string[] = [];
    const logger = createConsoleLogger({ level: 'warn', stream: { write: (line: string) => lines.push(line) } as unknown as NodeJS.WritableStream });
    await using runtime = await started(await files.load(), { logger, metrics: { events: true } });
    expect(lines.join('')).toMatch(/chat: answers come from SmolLM2-135M-Instruct\.Q4_1 \(135M parameters, \d+ MB\), a very small local model/);
    const sessionId = await runtime.create();
    const events = runtime.events(sessionId);
    const result = await runtime.ask(sessionId, 'Name a colour.');
    const seen = await eventsUntil(events, 'turn.completed');
    expect(result.ok).toBe(true);
    const chunks = seen.filter((event) => event.event_type === 'stream.chunk').map((event) => (event.payload as { data?: unknown }).data).filter((data) => typeof data === 'string' && data !== '');
    expect(chunks.length).toBeGreaterThan(1);
    expect(result.text).toBe(chunks.join(''));
    // usage reaches @woodwork/metrics: input and output tokens of the call
    await expect.poll(() => tokensOf(seen).length).toBe(1);
    expect(tokensOf(seen)[0]).toBeGreaterThan(8);
  });

  it('remembers the conversation across turns through memory short_term', async () => {
    const turns = async (memory: boolean) => {
      await using files = await project({ 'main.ww': topology(memory) });
      await using runtime = await started(await files.load(), { metrics: { events: true } });
      const sessionId = await runtime.create();
      const events = runtime.events(sessionId);
      expect((await runtime.ask(sessionId, first)).ok).toBe(true);
      const second_ = await runtime.ask(sessionId, second);
      expect(second_.ok).toBe(true);
      const seen: SessionEvent[] = [];
      for await (const event of events) {
        seen.push(event);
        if (tokensOf(seen).length === 2) break;
      }
      return tokensOf(seen);
    };
    const [withoutFirst, withoutSecond] = await turns(false);
    const [withFirst, withSecond] = await turns(true);
    // Without memory the short question is a smaller call than the long one; with it, the second
    // call carries the first question and reply as well.
    expect(withoutSecond!).toBeLessThan(withoutFirst!);
    expect(withSecond!).toBeGreaterThan(withFirst!);
  });

  it('refuses to start without a model file, naming the path and how to get one', async () => {
    await using files = await project({ 'main.ww': 'chat = llm local { model = "models/missing.gguf" }\n' });
    const error = await started(await files.load()).catch((caught: unknown) => caught);
    const text = `${(error as Error).message}\n${(error as { hint?: string }).hint ?? ''}\n${JSON.stringify(error)}`;
    expect(text).toContain(path.join(files.dir, 'models', 'missing.gguf'));
    expect(text).toContain('set `model` to a .gguf file or to an hf: reference');
    expect(text).toContain('in the Woodwork repository: `eval "$(bash tools/models.sh env)"`');
    expect(text).toContain('WW_AI_MODEL_NOT_FOUND');
  });

  it('without `model` and without WOODWORK_LOCAL_MODEL, says how to get a model', async () => {
    await using files = await project({ 'main.ww': 'chat = llm local {}\n' });
    const saved = process.env.WOODWORK_LOCAL_MODEL;
    delete process.env.WOODWORK_LOCAL_MODEL;
    try {
      const error = await started(await files.load()).catch((caught: unknown) => caught);
      const text = `${(error as Error).message}\n${(error as { hint?: string }).hint ?? ''}\n${JSON.stringify(error)}`;
      expect(text).toContain('WOODWORK_LOCAL_MODEL is not set');
      expect(text).toContain('or set WOODWORK_LOCAL_MODEL to one of those');
      expect(text).toContain('in the Woodwork repository:');
    } finally {
      process.env.WOODWORK_LOCAL_MODEL = saved;
    }
  });
});
