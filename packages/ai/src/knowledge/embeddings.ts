/**
 * Embedding models for vector knowledge bases: a provider's through the AI SDK (`embedMany`, which
 * batches and retries), or a local GGUF model on node-llama-cpp that needs no key and no network.
 *
 *   embedding = "local"                                  the GGUF at $WOODWORK_LOCAL_MODEL
 *   embedding = "local:/models/nomic-embed.gguf"         another GGUF (a real embedding model does better)
 *   embedding = "openai/text-embedding-3-small"          OpenAI (key: api_key, else OPENAI_API_KEY)
 *
 * The embedder's `id` is stored with every vector, so a knowledge base indexed with one model is
 * never queried with another (the numbers would not be comparable): it is re-indexed instead.
 */
import { createOpenAI } from '@ai-sdk/openai';
import { embedMany } from 'ai';
import { WoodworkAiError } from '../errors.js';
import { LOCAL_MODEL_VARIABLE, resolveLocalModelFile } from '../providers/local.js';

export interface Embedder {
  /** Names the model exactly (`openai/text-embedding-3-small`, `local:<file>`). */
  readonly id: string;
  embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]>;
  close(): Promise<void>;
}

export interface EmbedderOptions {
  /** `local`, `local:<path>`, or `openai/<model>`. Default: `openai/text-embedding-3-large` when `apiKey` is given (the classic engine's chroma's), else `local`. */
  readonly spec?: string;
  readonly apiKey?: string;
  readonly baseUrl?: string;
  readonly component: string;
  /** Where a relative `local:<path>` starts (the project folder). */
  readonly baseDir?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The classic engine's model (its chroma used text-embedding-3-large). */
export const DEFAULT_OPENAI_EMBEDDING = 'text-embedding-3-large';

export async function createEmbedder(options: EmbedderOptions): Promise<Embedder> {
  const spec = options.spec ?? (options.apiKey ? `openai/${DEFAULT_OPENAI_EMBEDDING}` : 'local');
  if (spec === 'local' || spec.startsWith('local:')) return createLocalEmbedder(spec === 'local' ? undefined : spec.slice('local:'.length), options);
  const [provider, ...rest] = spec.split('/');
  const model = rest.join('/');
  if (provider === 'openai' && model !== '') {
    const apiKey = options.apiKey ?? (options.env ?? process.env).OPENAI_API_KEY;
    if (!apiKey) {
      throw new WoodworkAiError('WW_AI_KEY_MISSING', `no API key for the embedding model ${spec}: OPENAI_API_KEY is not set and the component has no \`api_key\``, {
        component: options.component,
        hint: 'set OPENAI_API_KEY, write api_key = $OPENAI_API_KEY, or use embedding = "local" (no key)',
      });
    }
    const openai = createOpenAI({ apiKey, ...(options.baseUrl ? { baseURL: options.baseUrl } : {}) });
    const embeddingModel = openai.embeddingModel(model);
    return {
      id: spec,
      async embed(texts, signal) {
        if (texts.length === 0) return [];
        const { embeddings } = await embedMany({ model: embeddingModel, values: [...texts], maxRetries: 2, ...(signal ? { abortSignal: signal } : {}) });
        return embeddings;
      },
      close: async () => undefined,
    };
  }
  throw new WoodworkAiError('WW_AI_CONFIG', `unknown embedding model "${spec}"`, {
    component: options.component,
    hint: 'write embedding = "local" (no key), "local:<path to a .gguf>", or "openai/text-embedding-3-small"',
  });
}

async function createLocalEmbedder(path: string | undefined, options: EmbedderOptions): Promise<Embedder> {
  const env = options.env ?? process.env;
  const reference = path ?? env[LOCAL_MODEL_VARIABLE];
  if (!reference) {
    throw new WoodworkAiError('WW_AI_MODEL_NOT_FOUND', `no local embedding model: ${LOCAL_MODEL_VARIABLE} is not set`, {
      component: options.component,
      hint: `write embedding = "local:<path to a .gguf>" (or an hf: reference), or set ${LOCAL_MODEL_VARIABLE} to a .gguf file; in the Woodwork repository: \`eval "$(bash tools/models.sh env)"\` fetches one and sets it`,
    });
  }
  const file = await resolveLocalModelFile({ model: reference, component: options.component, env, ...(options.baseDir ? { baseDir: options.baseDir } : {}) });
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file });
  // Passages are ~1000 characters (~250 tokens): 1024 tokens leaves room for long lines.
  // One thread: llama.cpp's threads spin while they wait for each other, and on a busy machine one
  // that loses its core stalls the rest (see providers/local.ts; measured there at 40x slower).
  const context = await model.createEmbeddingContext({ contextSize: Math.min(1024, model.trainContextSize), threads: 1 });
  let queue: Promise<unknown> = Promise.resolve();
  return {
    id: `local:${file}`,
    async embed(texts, signal) {
      // One evaluation at a time on the context; callers may overlap.
      const run = queue.then(async () => {
        const vectors: number[][] = [];
        for (const text of texts) {
          signal?.throwIfAborted();
          const embedding = await context.getEmbeddingFor(text);
          vectors.push(normalise([...embedding.vector]));
        }
        return vectors;
      });
      queue = run.catch(() => undefined);
      return run;
    },
    async close() {
      await context.dispose();
      await model.dispose();
    },
  };
}

/** Unit length, so cosine distance and dot product agree whatever the store uses. */
function normalise(vector: number[]): number[] {
  const length = Math.hypot(...vector) || 1;
  return vector.map((value) => value / length);
}
