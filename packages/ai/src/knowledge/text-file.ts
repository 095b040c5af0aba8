/**
 * `knowledge_base text_file { path = "docs" }`: the text files (and PDFs) of a folder of the project,
 * searched by keyword — no model, no server. Agents get it as tools (`query`, `read`, `write`,
 * `list`); an `llm` with `knowledge_base = …` gets the best passages of each question in its prompt,
 * with their sources named. No path given to it can leave the folder (links followed).
 *
 * Search ranks passages (about 1000 characters, cut at line boundaries, with their lines) by BM25:
 * exact words and names match well, paraphrases do not — `knowledge_base chroma` is for those.
 * The folder is read again when a file changed (by modification time), so what an agent writes is
 * found by the next search.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineComponent, errorMessage, type ComponentDefinition, type JsonValue } from '@woodwork/runtime';
import { Workspace, WorkspaceError } from '../environment/workspace.js';
import { WoodworkAiError } from '../errors.js';
import { isToolCallRequest, toolFlags, type JsonSchema, type ToolKeys, type ToolSpec } from '../tools/protocol.js';
import { listDocuments, pageOf, readDocument } from './documents.js';
import { asJson, chunkText, formatPassages, isRetrieveRequest, rankByKeywords, type Chunk, type Passage } from './passages.js';

export interface TextFileKnowledgeBaseConfig extends ToolKeys {
  readonly path: string;
  readonly top_k?: number;
  readonly read_only?: boolean;
  readonly chunk_size?: number;
}

interface IndexedChunk extends Chunk {
  readonly source: string;
  readonly page?: number;
}

const object = (properties: Record<string, JsonSchema>, required: string[]): JsonSchema => ({ type: 'object', properties, required, additionalProperties: false });

export const textFileKnowledgeBase: ComponentDefinition<TextFileKnowledgeBaseConfig> = defineComponent<TextFileKnowledgeBaseConfig>({
  kind: 'knowledge_base',
  type: 'text_file',
  resultEvent: 'tool.result',
  create: ({ config, component, logger }) => {
    const topK = config.top_k ?? 4;
    const chunkSize = config.chunk_size ?? 1000;
    let folder = '';
    let only: string | undefined;
    let files: Workspace;
    /** Per file: its modification time and its passages. */
    const cache = new Map<string, { mtimeMs: number; chunks: IndexedChunk[] }>();

    const fail = (message: string, hint: string) => new WoodworkAiError('WW_AI_KNOWLEDGE_BASE', message, { component: component.name, location: component.location, hint });
    const where = `${config.path} (knowledge base \`${component.name}\`)`;
    const file = { type: 'string', description: `A file path relative to ${config.path}.` } as const;
    const specs: ToolSpec[] = [
      { name: 'query', description: `Search the documents in ${config.path} by keywords; the best passages, each with its file and lines.`, parameters: object({ query: { type: 'string', description: 'Keywords or a question.' }, k: { type: 'integer', description: `How many passages (default ${topK}).` } }, ['query']) },
      // `path` may be left out when the knowledge base is one file (the classic form).
      { name: 'read', description: `Read a document of ${config.path} with line numbers (at most 2000 lines from offset, 0-based).`, parameters: object({ path: file, offset: { type: 'integer' }, limit: { type: 'integer' } }, []) },
      { name: 'list', description: `List the documents in ${config.path}.`, parameters: object({}, []) },
      ...(config.read_only ? [] : [{ name: 'write', description: `Write a whole document in ${config.path} (created with its folders, or replaced).`, parameters: object({ path: file, content: { type: 'string' } }, ['content']) }]),
    ].map((spec) => ({ ...spec, ...toolFlags(config) }));

    async function documents(): Promise<string[]> {
      return only ? [only] : listDocuments(folder);
    }

    async function allChunks(): Promise<IndexedChunk[]> {
      const names = await documents();
      const seen = new Set(names);
      for (const name of cache.keys()) if (!seen.has(name)) cache.delete(name);
      const out: IndexedChunk[] = [];
      for (const name of names) {
        const full = path.join(folder, name);
        const info = await stat(full).catch(() => undefined);
        if (!info) continue;
        let entry = cache.get(name);
        if (!entry || entry.mtimeMs !== info.mtimeMs) {
          const document = await readDocument(full).catch(() => undefined);
          const chunks = document ? chunkText(document.text, chunkSize).map((chunk) => ({ ...chunk, source: name, ...(document.pageStarts ? { page: pageOf(document.pageStarts, chunk.start_line)! } : {}) })) : [];
          entry = { mtimeMs: info.mtimeMs, chunks };
          cache.set(name, entry);
        }
        out.push(...entry.chunks);
      }
      return out;
    }

    async function retrieve(query: string, k: number): Promise<Passage[]> {
      return rankByKeywords(await allChunks(), query, k).map(({ item, score }) => ({ source: item.source, start_line: item.start_line, end_line: item.end_line, text: item.text, score, ...(item.page === undefined ? {} : { page: item.page }) }));
    }

    return {
      async init(context) {
        const resolved = context.resolvePath(config.path);
        let info = await stat(resolved).catch(() => undefined);
        if (!info) {
          // The classic engine created its text file when it was missing; a name without an extension is a folder.
          if (path.extname(resolved) !== '') {
            await mkdir(path.dirname(resolved), { recursive: true });
            await writeFile(resolved, '', { flag: 'a' });
          } else {
            await mkdir(resolved, { recursive: true });
          }
          logger.info(`${where} did not exist: created it empty`);
          info = await stat(resolved);
        }
        if (info.isFile()) {
          folder = path.dirname(resolved);
          only = path.basename(resolved);
        } else {
          folder = resolved;
        }
        files = new Workspace(folder, config.path.replace(/\/+$/, ''));
      },

      methods: {
        tools: () => specs as unknown as JsonValue,
        retrieve: async (args) => {
          if (!isRetrieveRequest(args)) throw fail('retrieve needs { query: string, k?: number }', 'an llm calls it with the question');
          return asJson(await retrieve(args.query, args.k ?? topK));
        },
      },

      async handle(message) {
        const request = message.payload;
        if (!isToolCallRequest(request)) {
          throw fail(`\`${component.name}\` was sent ${JSON.stringify(request)?.slice(0, 80)}, not a tool call`, "list it in an agent's `tools`, or in an llm's `knowledge_base`");
        }
        const input = (typeof request.input === 'object' && request.input !== null ? request.input : {}) as Record<string, unknown>;
        const text = (key: string) => {
          if (typeof input[key] !== 'string') throw new WorkspaceError(`\`${request.tool}\` needs \`${key}\` (a string)`);
          return input[key] as string;
        };
        try {
          switch (request.tool) {
            case 'query':
              return formatPassages(await retrieve(text('query'), Number(input.k ?? topK) || topK));
            case 'read': {
              // One file (the classic form): `read()` reads it.
              const file = only && input.path === undefined ? only : text('path');
              if (only && path.posix.normalize(file) !== only) throw new WorkspaceError(`only ${only} is in this knowledge base`);
              return await files.readFile(file, Number(input.offset ?? 0), Number(input.limit ?? 2000));
            }
            case 'list':
              return asJson(await documents());
            case 'write': {
              if (config.read_only) throw new WorkspaceError(`${where} is read-only`);
              // One file (the classic form): `write({ content })` replaces it.
              const file = only && input.path === undefined ? only : text('path');
              if (only && path.posix.normalize(file) !== only) throw new WorkspaceError(`only ${only} is in this knowledge base`);
              return await files.writeFile(file, typeof input.content === 'string' ? input.content : '');
            }
            default:
              throw new WorkspaceError(`there is no tool \`${request.tool}\`; the tools are ${specs.map((spec) => spec.name).join(', ')}`);
          }
        } catch (error) {
          if (WoodworkAiError.isAiError(error)) throw error;
          throw new WoodworkAiError('WW_AI_TOOL_FAILED', `${request.tool}: ${errorMessage(error)}`, {
            component: component.name,
            location: component.location,
            hint: `paths are relative to ${config.path} and cannot leave it`,
          });
        }
      },
    };
  },
});
