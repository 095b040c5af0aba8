/**
 * `knowledge_base chroma`: documents embedded into a collection of a Chroma server (the official JS
 * client), retrieved by meaning: top-k passages into an `llm`'s prompt with their sources named, and
 * a `query` tool for agents.
 *
 *   kb = knowledge_base chroma {
 *     url       = "http://127.0.0.1:8000"     # a Chroma server; without url, one of the project's own on `path` (./chroma-server.ts)
 *     documents = "docs"                      # the folder indexed (classic: file_to_embed)
 *     embedding = "local"                     # or "openai/text-embedding-3-small" (classic: api_key set)
 *   }
 *
 * Each knowledge base has its own collection (`collection`, default its name). The folder is indexed
 * incrementally at start (`index_on_start`, default true; cheap when nothing changed) and by
 * `woodwork index`; see `./indexer.ts`.
 */
import path from 'node:path';
import { defineComponent, errorMessage, type ComponentDefinition, type JsonValue } from '@woodwork/runtime';
import { WoodworkAiError } from '../errors.js';
import { isToolCallRequest, toolFlags, type ToolKeys, type ToolSpec } from '../tools/protocol.js';
import { acquireLocalChroma, LocalChromaError } from './chroma-server.js';
import { createEmbedder, type Embedder } from './embeddings.js';
import { describeReport, indexFolder, type ChromaCollection, type IndexProgress, type IndexReport } from './indexer.js';
import { asJson, formatPassages, isRetrieveRequest, type Passage } from './passages.js';

export interface ChromaKnowledgeBaseConfig extends ToolKeys {
  readonly url?: string;
  readonly collection?: string;
  readonly documents?: string;
  /** The classic engine's name for `documents`. */
  readonly file_to_embed?: string;
  /** Without `url`: the data folder of the project's own Chroma server (the classic embedded Chroma's; default `.woodwork/chroma`). */
  readonly path?: string;
  readonly embedding?: string;
  readonly api_key?: string;
  readonly base_url?: string;
  readonly top_k?: number;
  readonly chunk_size?: number;
  readonly index_on_start?: boolean;
  readonly [key: string]: unknown;
}

export const DEFAULT_CHROMA_URL = 'http://127.0.0.1:8000';
/** Where the classic engine's embedded Chroma kept its data, and where a server of the project's own keeps it. */
export const DEFAULT_CHROMA_PATH = '.woodwork/chroma';

export interface OpenedKnowledgeBase {
  readonly collection: ChromaCollection;
  readonly embedder: Embedder;
  /** The folder indexed, when the knowledge base has one. */
  readonly folder: string | undefined;
  readonly chunkSize: number;
  index(options?: { onProgress?: (progress: IndexProgress) => void; signal?: AbortSignal }): Promise<IndexReport>;
  retrieve(query: string, k: number, signal?: AbortSignal): Promise<Passage[]>;
  close(): Promise<void>;
}

/** `woodwork-<name>`, in the characters Chroma allows (3-512 of a-z, 0-9, `.`, `_`, `-`, alphanumeric at both ends). */
export function defaultCollection(name: string): string {
  return `woodwork-${name}`.replace(/[^A-Za-z0-9._-]/g, '-').replace(/[^A-Za-z0-9]+$/, '').slice(0, 512);
}

function fail(name: string, message: string, hint: string, retryable = false) {
  return new WoodworkAiError('WW_AI_KNOWLEDGE_BASE', message, { component: name, hint, isRetryable: retryable });
}

/** Connects a chroma knowledge base's config (env resolved) to its server, collection and embedder. */
export async function openChromaKnowledgeBase(config: ChromaKnowledgeBaseConfig, options: { name: string; projectDir: string; env?: Readonly<Record<string, string | undefined>> }): Promise<OpenedKnowledgeBase> {
  const { name } = options;
  let local: { url: string; release: () => Promise<void> } | undefined;
  if (config.url === undefined) {
    // The classic engine's embedded Chroma: a server of the project's own on its data folder.
    const folder = path.resolve(options.projectDir, config.path ?? DEFAULT_CHROMA_PATH);
    try {
      local = await acquireLocalChroma(folder, options.env ?? process.env);
    } catch (error) {
      throw fail(name, errorMessage(error), error instanceof LocalChromaError ? error.hint : 'give the knowledge base the url of a running Chroma server');
    }
  }
  const url = new URL(config.url ?? local!.url);
  // Loaded when a chroma knowledge base starts, not with the package: most topologies have none.
  const { ChromaClient } = await import('chromadb');
  const client = new ChromaClient({ host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)), ssl: url.protocol === 'https:' });
  const collectionName = config.collection ?? defaultCollection(name);
  let collection: ChromaCollection;
  try {
    // No embedding function: vectors always come from our embedder, so the client never loads its default one.
    collection = (await client.getOrCreateCollection({ name: collectionName, embeddingFunction: null, metadata: { 'hnsw:space': 'cosine', created_by: 'woodwork' } })) as unknown as ChromaCollection;
  } catch (error) {
    await local?.release();
    const message = errorMessage(error);
    if (/Bad request|Validation error|status: 4\d\d/i.test(message)) {
      throw fail(name, `the Chroma server at ${url.origin} refused the collection \`${collectionName}\`: ${message}`, 'collection names are 3-512 characters of a-z, A-Z, 0-9, `.`, `_`, `-`, starting and ending with a letter or digit');
    }
    throw fail(name, `the Chroma server at ${url.origin} did not answer: ${message}`, `start a Chroma server there (\`pip install chromadb\`, then \`chroma run --path <folder> --port ${url.port || (url.protocol === 'https:' ? '443' : '80')}\`; in the Woodwork repository: \`bash tools/services.sh start chroma\`) or fix url`, true);
  }
  const embedder = await createEmbedder({
    ...(config.embedding ? { spec: config.embedding } : {}),
    ...(config.api_key ? { apiKey: config.api_key } : {}),
    ...(config.base_url ? { baseUrl: config.base_url } : {}),
    component: name,
    baseDir: options.projectDir,
    ...(options.env ? { env: options.env } : {}),
  });
  const documents = config.documents ?? config.file_to_embed;
  const folder = documents === undefined ? undefined : path.resolve(options.projectDir, documents);
  const chunkSize = config.chunk_size ?? 1000;
  return {
    collection,
    embedder,
    folder,
    chunkSize,
    async index(run = {}) {
      if (folder === undefined) throw fail(name, 'there is no folder to index', 'write documents = "<folder>" (relative to the .ww file)');
      return indexFolder({ folder, collection, embedder, chunkSize, ...(run.onProgress ? { onProgress: run.onProgress } : {}), ...(run.signal ? { signal: run.signal } : {}) });
    },
    async retrieve(query, k, signal) {
      const [vector] = await embedder.embed([query], signal);
      const result = await collection.query({ queryEmbeddings: [vector!], nResults: k, include: ['documents', 'metadatas', 'distances'] });
      const ids = result.ids[0] ?? [];
      return ids.map((_, index) => {
        const meta = (result.metadatas[0]?.[index] ?? {}) as Record<string, unknown>;
        return {
          source: String(meta.source ?? '(unknown)'),
          start_line: Number(meta.start_line ?? 0),
          end_line: Number(meta.end_line ?? 0),
          ...(typeof meta.page === 'number' ? { page: meta.page } : {}),
          text: result.documents[0]?.[index] ?? '',
          score: 1 - Number(result.distances?.[0]?.[index] ?? 1),
        };
      });
    },
    async close() {
      await embedder.close();
      await local?.release();
    },
  };
}

export const chromaKnowledgeBase: ComponentDefinition<ChromaKnowledgeBaseConfig> = defineComponent<ChromaKnowledgeBaseConfig>({
  kind: 'knowledge_base',
  type: 'chroma',
  resultEvent: 'tool.result',
  create: ({ config, component, logger }) => {
    const topK = config.top_k ?? 4;
    let opened: OpenedKnowledgeBase | undefined;
    const specs: ToolSpec[] = [
      {
        name: 'query',
        description: `Find the passages of the knowledge base \`${component.name}\` closest in meaning to a question; each comes with its file and lines.`,
        parameters: { type: 'object', properties: { query: { type: 'string', description: 'A question or a description of what to find.' }, k: { type: 'integer', description: `How many passages (default ${topK}).` } }, required: ['query'], additionalProperties: false },
        ...toolFlags(config),
      },
    ];
    return {
      async init(context) {
        opened = await openChromaKnowledgeBase(config, { name: component.name, projectDir: context.projectDir });
        if (opened.folder !== undefined && config.index_on_start !== false) {
          const report = await opened.index({ signal: context.signal });
          logger.info(describeReport(report, component.name));
        }
      },
      methods: {
        tools: () => specs as unknown as JsonValue,
        retrieve: async (args, context) => {
          if (!isRetrieveRequest(args)) throw fail(component.name, 'retrieve needs { query: string, k?: number }', 'an llm calls it with the question');
          return asJson(await opened!.retrieve(args.query, args.k ?? topK, context.signal));
        },
        index: async (_args, context) => asJson(await opened!.index({ signal: context.signal })),
      },
      async handle(message, context) {
        const request = message.payload;
        if (!isToolCallRequest(request) || request.tool !== 'query') {
          throw new WoodworkAiError('WW_AI_TOOL_FAILED', `\`${component.name}\` offers one tool, \`query\`; it was sent ${JSON.stringify(request)?.slice(0, 80)}`, { component: component.name, location: component.location, hint: "list it in an agent's `tools`" });
        }
        const input = (request.input ?? {}) as { query?: unknown; k?: unknown };
        if (typeof input.query !== 'string') throw new WoodworkAiError('WW_AI_TOOL_FAILED', 'query needs `query` (a string)', { component: component.name });
        return formatPassages(await opened!.retrieve(input.query, Number(input.k ?? topK) || topK, context.signal));
      },
      async stop() {
        await opened?.close();
      },
    };
  },
});
