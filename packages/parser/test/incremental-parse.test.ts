// createIncrementalParser() must answer exactly as parse() does: the same tree (with its locations),
// the same syntax diagnostics, and so the same analysis, also when analysis replays the components
// it remembered from the previous version (analysis-cache.ts). Checked on seeded random edits, one after
// another as an editor sends them, on the examples, the fixtures and a large generated file, and on
// the cases the splice has to get right (items that move, hints that name a line, a `"""` opened).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a JavaScript module of the benchmark, without types.
import { generateSource } from '../bench/generate-source.mjs';
import { createAnalysisCache, type AnalysisCache } from '../src/analysis-cache.js';
import { analyzeWithFiles } from '../src/analyze.js';
import { analyze, createIncrementalParser, parse, type IncrementalParser } from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const examples = path.resolve(here, '../../../examples');
const wwFiles = (folder: string): string[] =>
  readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ww'))
    .map((name) => path.join(folder, name));
const corpus = [...wwFiles(examples), ...wwFiles(path.join(here, 'fixtures'))].map((file) => ({
  name: path.relative(path.resolve(here, '../../..'), file),
  text: readFileSync(file, 'utf8'),
}));
const large: string = generateSource(62 * 1024);

const FILE = 'main.ww';
const caches = new WeakMap<IncrementalParser, AnalysisCache>();
const analysisCacheOf = (parser: IncrementalParser): AnalysisCache => {
  if (!caches.has(parser)) caches.set(parser, createAnalysisCache());
  return caches.get(parser) as AnalysisCache;
};
// Other seeds, to search further by hand: INCREMENTAL_SEED=1000 npx vitest run test/incremental-parse.test.ts
const SEED = Number(process.env.INCREMENTAL_SEED ?? 0);

/**
 * The incremental answer for `text` equals a fresh parse()'s, and so does analysing it with the
 * analysis `cache` of the same document (as loadTopology() does with an incremental parser).
 */
function expectSameAsFullParse(parser: IncrementalParser, text: string, cache = analysisCacheOf(parser)): void {
  const incremental = parser.parse(text);
  const full = parse(text, { file: FILE });
  expect(incremental.diagnostics).toEqual(full.diagnostics);
  expect(JSON.stringify(incremental.ast)).toBe(JSON.stringify(full.ast));
  const analyzedIncremental = analyzeWithFiles(incremental.ast, { file: FILE }, cache);
  const analyzedFull = analyze(full.ast, { file: FILE });
  expect(analyzedIncremental.diagnostics).toEqual(analyzedFull.diagnostics);
  expect(JSON.stringify(analyzedIncremental.topology)).toBe(JSON.stringify(analyzedFull.topology));
}

/** mulberry32: a small seeded generator, so a failure replays. */
function randomFrom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// What people type, and what the grammar's recovery turns on (brackets, quotes, comments, headers).
const TYPED = ['a', 'x', '1', '0', ' ', '_', '-', '.', 'e'];
const TOKENS = [
  '{', '}', '[', ']', '"', "'", '"""', '=', ':', ',', ';', '\n', '\r\n', '\t', '#', '//', '$', '${', '${A}', '\\', '\\u{',
  'true', 'null', 'llm', 'openai', 'agent', 'to: a', 'memory', 'b = llm openai {', 'c = claude {}', '\n}\n', ': ', '\uFEFF', '😀',
];

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly insert: string;
}

function randomEdit(text: string, random: () => number, hostile: boolean): Edit {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const at = Math.floor(random() * (text.length + 1));
  const roll = random();
  if (roll < 0.35) return { start: at, end: at, insert: pick(hostile && random() < 0.6 ? TOKENS : TYPED) };
  if (roll < 0.6) return { start: at, end: Math.min(text.length, at + 1 + Math.floor(random() * (hostile ? 40 : 3))), insert: '' };
  if (roll < 0.8) return { start: at, end: Math.min(text.length, at + 1 + Math.floor(random() * 6)), insert: pick(hostile ? TOKENS : TYPED) };
  // A copy of a nearby span: a line or a declaration pasted again.
  const from = Math.max(0, at - 1 - Math.floor(random() * 120));
  return { start: at, end: at, insert: text.slice(from, at) };
}

function apply(text: string, edit: Edit): string {
  return text.slice(0, edit.start) + edit.insert + text.slice(edit.end);
}

/** A session of `count` edits; every few edits undo back to the start, as people fix what they broke. */
function session(source: string, seed: number, count: number, hostile: boolean): { incremental: number } {
  const random = randomFrom(seed + SEED);
  const parser = createIncrementalParser({ file: FILE });
  let text = source;
  expectSameAsFullParse(parser, text);
  let incremental = 0;
  for (let index = 0; index < count; index++) {
    if (random() < 0.1) {
      text = source;
    } else {
      text = apply(text, randomEdit(text, random, hostile));
      // Sometimes two changes at once (changes folded while a check ran).
      if (random() < 0.15) text = apply(text, randomEdit(text, random, hostile));
    }
    try {
      expectSameAsFullParse(parser, text);
    } catch (error) {
      throw new Error(`seed ${seed} + INCREMENTAL_SEED ${SEED}, edit ${index}: ${(error as Error).message}\n--- text ---\n${text.slice(0, 4000)}`, { cause: error });
    }
    if (parser.lastParse === 'incremental') incremental++;
  }
  return { incremental };
}

describe('createIncrementalParser', () => {
  it('answers as parse() does after random edits to the examples and the fixtures', () => {
    let seed = 1;
    let incremental = 0;
    for (const { text } of corpus) {
      incremental += session(text, seed++, 40, false).incremental;
      incremental += session(text, seed++, 40, true).incremental;
    }
    // The edits must reach the splice, not only the fall-back to a full parse.
    expect(incremental).toBeGreaterThan(corpus.length * 40);
  });

  it('answers as parse() does after random edits to a 2,000-line file, mostly without reading it all', () => {
    expect(large.split('\n').length).toBeGreaterThan(1900);
    const typing = session(large, 1001, 60, false);
    session(large, 1002, 60, true);
    // Typing into a valid file is the case this is for: most edits read one declaration again.
    expect(typing.incremental).toBeGreaterThan(40);
  }, 120_000);

  it('answers as parse() does on random edits to small files built from the grammar tokens', () => {
    const random = randomFrom(7 + SEED);
    let incremental = 0;
    for (let round = 0; round < 60; round++) {
      const parts: string[] = [];
      for (let index = 0; index < 40; index++) parts.push(random() < 0.5 ? (TOKENS[Math.floor(random() * TOKENS.length)] as string) : ' x = llm openai {\n model: "m"\n}\n');
      incremental += session(parts.join(''), 5000 + round, 20, true).incremental;
    }
    expect(incremental).toBeGreaterThan(400);
  });
});

describe('the splice', () => {
  const source = [
    '# a file of three declarations',
    'mem = memory short_term {',
    '    max_messages: 10',
    '}',
    '',
    'model = llm openai {',
    '    model: "gpt-4o-mini"',
    '    memory: mem',
    '}',
    '',
    'chat = agent llm {',
    '    model: model',
    '    tools: [a, b]',
    '}',
    '',
  ].join('\n');

  it('reads again only the declaration typed into and moves the ones after it', () => {
    const parser = createIncrementalParser({ file: FILE });
    const before = parser.parse(source).ast;
    const [first, , last] = before.declarations;
    const edited = source.replace('"gpt-4o-mini"', '"gpt-4o"\n');
    const after = parser.parse(edited);
    expect(parser.lastParse).toBe('incremental');
    // The declarations around the change are the same nodes; the last one moved with the text.
    expect(after.ast.declarations[0]).toBe(first);
    expect(after.ast.declarations[2]).toBe(last);
    expect(last?.start).toBe(edited.indexOf('chat ='));
    expect(last?.location.line).toBe(12);
    expectSameAsFullParse(parser, edited);
  });

  it('gives the same answer when the change opens a `"""` string that swallows the rest of the file', () => {
    const parser = createIncrementalParser({ file: FILE });
    parser.parse(source);
    expectSameAsFullParse(parser, source.replace('"gpt-4o-mini"', '"""gpt-4o-mini"'));
    expectSameAsFullParse(parser, source);
    expect(parser.lastParse).not.toBe('unchanged');
  });

  it('gives the same answer when the change turns a declaration header into a comment or another header', () => {
    const parser = createIncrementalParser({ file: FILE });
    parser.parse(source);
    expectSameAsFullParse(parser, source.replace('model = llm', '# model = llm'));
    expectSameAsFullParse(parser, source.replace('model = llm', 'model = llm openai {}\nother = llm'));
    expectSameAsFullParse(parser, source.replace('}\n\nchat', '\n\nchat'));
  });

  it('renumbers a hint that names a line when lines are added above it', () => {
    // The unclosed block's hint says on which line the next declaration starts.
    const unclosed = source.replace('    tools: [a, b]\n}', '    tools: [a, b]\n\nlast = claude {}');
    const parser = createIncrementalParser({ file: FILE });
    expect(parser.parse(unclosed).diagnostics.map((diagnostic) => diagnostic.hint)).toEqual([expect.stringContaining('line 15')]);
    const edited = unclosed.replace('max_messages: 10', 'max_messages: 10\n    max_tokens: 5');
    expectSameAsFullParse(parser, edited);
    expect(parser.parse(edited).diagnostics.map((diagnostic) => diagnostic.hint)).toEqual([expect.stringContaining('line 16')]);
  });

  it('answers for the same text without reading it again', () => {
    const parser = createIncrementalParser({ file: FILE });
    parser.parse(source);
    expectSameAsFullParse(parser, source);
    expect(parser.lastParse).toBe('unchanged');
  });
});
