/**
 * Indexing a folder into a Chroma collection, incrementally: what the classic engine's embed mode
 * did, as `woodwork index` and as a `knowledge_base chroma` start.
 *
 * The collection itself is the record of what was indexed — every passage's metadata holds its
 * file, lines, page, the file's modification time, size and content hash, and the embedding model —
 * so a second machine, or a lost cache, never re-embeds what is already there. A run:
 *   1. lists the documents (`./documents.ts`: no .git, node_modules, nor what .gitignore ignores);
 *   2. skips a file whose modification time and size are as recorded; reads and hashes the others,
 *      and skips those whose content hash is as recorded (only their times are updated);
 *   3. re-embeds changed and new files (their old passages are deleted first);
 *   4. deletes the passages of files that are gone;
 *   5. re-indexes everything when the collection was embedded with another model.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Embedder } from './embeddings.js';
import { listDocuments, pageOf, readDocument } from './documents.js';
import { chunkText } from './passages.js';

export interface IndexProgress {
  readonly done: number;
  readonly total: number;
  readonly file: string;
}

export interface IndexReport {
  readonly collection: string;
  readonly files: number;
  readonly added: readonly string[];
  readonly updated: readonly string[];
  readonly removed: readonly string[];
  readonly unchanged: number;
  /** Files with no text to embed (binary, empty, unreadable PDFs): read again each run, never embedded. */
  readonly skipped: readonly string[];
  /** Passages embedded in this run. */
  readonly passages: number;
  /** True when the collection had been embedded with another model and was rebuilt. */
  readonly rebuilt: boolean;
  readonly durationMs: number;
}

type MetadataValue = string | number | boolean | null;
type Metadata = Record<string, MetadataValue>;

/**
 * The part of a Chroma collection this package uses. chromadb's `Collection` has it; it is spelled
 * out here so the package's public types do not reach into chromadb's (which import a fetch client
 * that is not installed with it).
 */
export interface ChromaCollection {
  readonly name: string;
  count(): Promise<number>;
  get(args: { ids?: string[]; include?: string[] }): Promise<{ ids: string[]; metadatas: (Metadata | null)[] }>;
  add(args: { ids: string[]; embeddings: number[][]; documents: string[]; metadatas: Metadata[] }): Promise<void>;
  update(args: { ids: string[]; metadatas: Metadata[] }): Promise<void>;
  delete(args: { ids: string[] }): Promise<unknown>;
  query(args: { queryEmbeddings: number[][]; nResults: number; include: string[] }): Promise<{ ids: string[][]; documents: (string | null)[][]; metadatas: (Metadata | null)[][]; distances?: (number | null)[][] | null }>;
}

export interface IndexOptions {
  readonly folder: string;
  readonly collection: ChromaCollection;
  readonly embedder: Embedder;
  readonly chunkSize: number;
  readonly onProgress?: (progress: IndexProgress) => void;
  readonly signal?: AbortSignal;
}

interface Recorded {
  mtime_ms: number;
  size: number;
  hash: string;
  ids: string[];
}

/** Embeddings sent to Chroma per request: its default batch limit is far above this; memory is the bound. */
const BATCH = 64;

export function idOf(source: string, index: number): string {
  return `${createHash('sha1').update(source).digest('hex').slice(0, 16)}:${index}`;
}

export async function indexFolder(options: IndexOptions): Promise<IndexReport> {
  const started = performance.now();
  const { collection, embedder } = options;
  const recorded = new Map<string, Recorded>();
  let rebuilt = false;
  const existing = await collection.get({ include: ['metadatas'] });
  const staleIds: string[] = [];
  existing.ids.forEach((id, index) => {
    const meta = existing.metadatas[index] as Record<string, unknown> | null;
    if (!meta || typeof meta.source !== 'string') return staleIds.push(id);
    if (meta.embedder !== embedder.id) {
      rebuilt = true;
      return staleIds.push(id);
    }
    const entry = recorded.get(meta.source) ?? { mtime_ms: Number(meta.mtime_ms), size: Number(meta.size), hash: String(meta.hash), ids: [] };
    entry.ids.push(id);
    recorded.set(meta.source, entry);
  });
  if (staleIds.length > 0) await collection.delete({ ids: staleIds });

  const documents = await listDocuments(options.folder);
  const present = new Set(documents);
  const removed = [...recorded.keys()].filter((source) => !present.has(source));
  for (const source of removed) await collection.delete({ ids: recorded.get(source)!.ids });

  const added: string[] = [];
  const updated: string[] = [];
  let unchanged = 0;
  let passages = 0;
  const skipped: string[] = [];
  for (const [index, source] of documents.entries()) {
    options.signal?.throwIfAborted();
    options.onProgress?.({ done: index, total: documents.length, file: source });
    const full = path.join(options.folder, source);
    const info = await stat(full).catch(() => undefined);
    if (!info) continue;
    const before = recorded.get(source);
    if (before && before.mtime_ms === info.mtimeMs && before.size === info.size) {
      unchanged++;
      continue;
    }
    const bytes = await readFile(full);
    const hash = createHash('sha256').update(bytes).digest('hex');
    if (before && before.hash === hash) {
      // Touched, not changed: remember the new time so the next run skips it without reading.
      await collection.update({ ids: before.ids, metadatas: before.ids.map(() => ({ mtime_ms: info.mtimeMs, size: info.size }) as Metadata) });
      unchanged++;
      continue;
    }
    const document = await readDocument(full, bytes).catch(() => undefined);
    if (before) await collection.delete({ ids: before.ids });
    const chunks = document ? chunkText(document.text, options.chunkSize) : [];
    if (chunks.length === 0 && !before) {
      skipped.push(source);
      continue;
    }
    for (let start = 0; start < chunks.length; start += BATCH) {
      const batch = chunks.slice(start, start + BATCH);
      const embeddings = await embedder.embed(batch.map((chunk) => chunk.text), options.signal);
      await collection.add({
        ids: batch.map((_, offset) => idOf(source, start + offset)),
        embeddings,
        documents: batch.map((chunk) => chunk.text),
        metadatas: batch.map((chunk) => {
          const page = pageOf(document?.pageStarts, chunk.start_line);
          return { source, start_line: chunk.start_line, end_line: chunk.end_line, ...(page === undefined ? {} : { page }), mtime_ms: info.mtimeMs, size: info.size, hash, embedder: embedder.id } as Metadata;
        }),
      });
    }
    passages += chunks.length;
    (before ? updated : added).push(source);
  }
  options.onProgress?.({ done: documents.length, total: documents.length, file: '' });
  return { collection: collection.name, files: documents.length - skipped.length, added, updated, removed, unchanged, skipped, passages, rebuilt, durationMs: performance.now() - started };
}

/** One line for people: what a run did, or that there was nothing to do. */
export function describeReport(report: IndexReport, name: string): string {
  const seconds = (report.durationMs / 1000).toFixed(1);
  if (report.added.length + report.updated.length + report.removed.length === 0) {
    return `${name}: nothing to do — ${report.files} file${report.files === 1 ? '' : 's'} unchanged since the last index (${seconds} s)`;
  }
  const parts = [
    report.added.length > 0 ? `${report.added.length} added` : undefined,
    report.updated.length > 0 ? `${report.updated.length} changed` : undefined,
    report.removed.length > 0 ? `${report.removed.length} removed` : undefined,
    report.unchanged > 0 ? `${report.unchanged} unchanged` : undefined,
  ].filter(Boolean);
  return `${name}: ${parts.join(', ')} — ${report.passages} passage${report.passages === 1 ? '' : 's'} embedded into the Chroma collection ${report.collection}${report.rebuilt ? ' (rebuilt: it had been embedded with another model)' : ''} (${seconds} s)`;
}
