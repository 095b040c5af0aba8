/**
 * What every knowledge base shares: the retrieval protocol an `llm` (and `woodwork index`) uses
 * through a reference, chunking that keeps each passage's source file and lines, and how passages
 * are shown to a model with their sources named.
 *
 *   kb.invoke('retrieve', { query, k? })   → Passage[], best first
 *   kb.invoke('tools')                     → ToolSpec[] (the agent's tools: search/query, read, …)
 *   kb.call({ tool, input })               → a tool's output
 */
import type { JsonValue } from '@woodwork/runtime';

/** One piece of a document, where it came from, and how well it matched. */
export interface Passage {
  /** The file, relative to the knowledge base's folder, `/`-separated. */
  readonly source: string;
  /** 1-based, inclusive. */
  readonly start_line: number;
  readonly end_line: number;
  readonly text: string;
  /** Higher is better; comparable only within one answer. */
  readonly score: number;
  /** PDFs: the page the passage starts on. */
  readonly page?: number;
}

export interface RetrieveRequest {
  readonly query: string;
  readonly k?: number;
}

export interface Chunk {
  readonly start_line: number;
  readonly end_line: number;
  readonly text: string;
}

/**
 * Splits text into passages of about `size` characters at line boundaries, each overlapping the last
 * by `overlap` lines, so a sentence cut at one edge is whole in the neighbour. A single line longer
 * than `size` stays one passage (cut at `size * 2`), keeping its line number.
 */
export function chunkText(text: string, size = 1000, overlap = 2): Chunk[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 1 && lines.at(-1) === '') lines.pop();
  const chunks: Chunk[] = [];
  let start = 0;
  while (start < lines.length) {
    let end = start;
    let length = 0;
    while (end < lines.length && (end === start || length + lines[end]!.length + 1 <= size)) {
      length += lines[end]!.length + 1;
      end++;
    }
    const body = lines.slice(start, end).join('\n');
    if (body.trim() !== '') chunks.push({ start_line: start + 1, end_line: end, text: body.length > size * 2 ? body.slice(0, size * 2) : body });
    if (end >= lines.length) break;
    start = Math.max(start + 1, end - overlap);
  }
  return chunks;
}

/** How a passage is named to a model: `docs/setup.md, lines 3-10` (and the page of a PDF). */
export function sourceLabel(passage: Pick<Passage, 'source' | 'start_line' | 'end_line' | 'page'>): string {
  const lines = passage.start_line === passage.end_line ? `line ${passage.start_line}` : `lines ${passage.start_line}-${passage.end_line}`;
  return `${passage.source}${passage.page === undefined ? '' : `, page ${passage.page}`}, ${lines}`;
}

/** The passages as the text a model reads, numbered, each with its source. */
export function formatPassages(passages: readonly Passage[]): string {
  if (passages.length === 0) return 'No passage matched.';
  return passages.map((passage, index) => `[${index + 1}] ${sourceLabel(passage)}\n${passage.text.trim()}`).join('\n\n');
}

/** The system prompt section an `llm` with `knowledge_base = …` adds before answering. */
export function retrievalPrompt(knowledgeBase: string, passages: readonly Passage[]): string | undefined {
  if (passages.length === 0) return undefined;
  return `Passages from the knowledge base \`${knowledgeBase}\` that may help. Use them when they answer the question, and name the sources you used (file and lines):\n\n${formatPassages(passages)}`;
}

export function isPassage(value: unknown): value is Passage {
  const candidate = value as Passage | null;
  return typeof candidate === 'object' && candidate !== null && typeof candidate.source === 'string' && typeof candidate.text === 'string';
}

export function isRetrieveRequest(value: unknown): value is RetrieveRequest {
  return typeof value === 'object' && value !== null && typeof (value as RetrieveRequest).query === 'string';
}

export const asJson = (value: unknown): JsonValue => value as JsonValue;

const STOPWORDS = new Set(
  'a an and are as at be by can do does for from has have how i in is it its me my of on or so that the their there this to was we what when where which who why will with you your'.split(' '),
);

/** Lower-cased words of two or more letters or digits, without the commonest English words. */
export function terms(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}_]{2,}/gu) ?? []).filter((word) => !STOPWORDS.has(word));
}

/**
 * Okapi BM25 over chunks (k1 1.2, b 0.75, the usual values): the keyword ranking search engines
 * used before embeddings, good for names and exact terms, needing no model.
 */
export function rankByKeywords<T extends { readonly text: string }>(items: readonly T[], query: string, k: number): { item: T; score: number }[] {
  const wanted = [...new Set(terms(query))];
  if (wanted.length === 0 || items.length === 0) return [];
  const documents = items.map((item) => {
    const counts = new Map<string, number>();
    const words = terms(item.text);
    for (const word of words) counts.set(word, (counts.get(word) ?? 0) + 1);
    return { item, counts, length: words.length };
  });
  const average = documents.reduce((sum, document) => sum + document.length, 0) / documents.length || 1;
  const idf = new Map(
    wanted.map((word) => {
      const containing = documents.filter((document) => document.counts.has(word)).length;
      return [word, Math.log(1 + (documents.length - containing + 0.5) / (containing + 0.5))];
    }),
  );
  return documents
    .map(({ item, counts, length }) => {
      let score = 0;
      for (const word of wanted) {
        const frequency = counts.get(word) ?? 0;
        if (frequency > 0) score += idf.get(word)! * ((frequency * 2.2) / (frequency + 1.2 * (0.25 + (0.75 * length) / average)));
      }
      return { item, score };
    })
    .filter((ranked) => ranked.score > 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}
