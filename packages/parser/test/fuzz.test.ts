// Property-based tests: whatever text comes in (random characters, or a valid file with characters
// and tokens deleted, inserted and duplicated), parse() and analyze() only ever return diagnostics:
// they never throw, never hang, and what they return is well formed. Each case is bounded by
// construction (at most a few kilobytes of input into a linear parser), and timed.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyze, diagnosticCodes, parse } from '../src/index.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const corpus = ['valid', 'invalid'].flatMap((folder) =>
  readdirSync(path.join(fixtures, folder))
    .filter((name) => name.endsWith('.ww'))
    .map((name) => readFileSync(path.join(fixtures, folder, name), 'utf8')),
);

// The characters and tokens that matter to the grammar, so random input reaches deep into it.
const TOKENS = [
  '{', '}', '[', ']', '"', "'", '"""', '=', ':', ',', ';', '\n', '\r\n', ' ', '\t', '#', '//', '$', '${', ':-', '\\', '\\u{',
  'a', 'b', 'x1', '-', '_', '0', '1.5', '1e3', '10_000', 'true', 'NULL', 'llm', 'openai', 'claude', 'cli', 'agent', 'to',
  'pipes', 'memory', 'tools', 'model', 'redis', 'vm', 'server', 'deployment', '::', '.ts', '.py', '*', '😀', '\u0000',
];
const token = fc.constantFrom(...TOKENS);
const tokenSoup = fc.array(token, { maxLength: 120 }).map((parts) => parts.join(''));
const anyText = fc.string({ unit: 'binary', maxLength: 300 });

type Edit = { kind: 'delete' | 'insert' | 'duplicate'; at: number; length: number; text: string };
const edit: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('delete', 'insert', 'duplicate'),
  at: fc.nat(),
  length: fc.integer({ min: 1, max: 12 }),
  text: fc.oneof(token, fc.string({ maxLength: 4 })),
});

function applyEdits(source: string, edits: readonly Edit[]): string {
  let text = source;
  for (const { kind, at, length, text: inserted } of edits) {
    const position = text.length === 0 ? 0 : at % (text.length + 1);
    if (kind === 'delete') text = text.slice(0, position) + text.slice(position + length);
    else if (kind === 'insert') text = text.slice(0, position) + inserted + text.slice(position);
    else text = text.slice(0, position) + text.slice(position, position + length) + text.slice(position);
  }
  return text;
}

const mutated = fc
  .tuple(fc.constantFrom(...corpus), fc.array(edit, { minLength: 1, maxLength: 6 }))
  .map(([source, edits]) => applyEdits(source, edits));

/** The property: parse and analyze return well-formed results quickly, whatever the input. */
function survives(source: string): void {
  const started = performance.now();
  const parsed = parse(source, { file: 'fuzz.ww' });
  const analyzed = analyze(parsed.ast, { file: 'fuzz.ww' });
  const elapsed = performance.now() - started;
  // A few kilobytes take well under a millisecond; a second would mean super-linear behaviour.
  expect(elapsed).toBeLessThan(1000);
  const lines = source.split('\n').length;
  for (const diagnostic of [...parsed.diagnostics, ...analyzed.diagnostics]) {
    expect(Object.hasOwn(diagnosticCodes, diagnostic.code)).toBe(true);
    expect(diagnostic.line).toBeGreaterThanOrEqual(1);
    expect(diagnostic.line).toBeLessThanOrEqual(lines);
    expect(diagnostic.column).toBeGreaterThanOrEqual(1);
    expect(diagnostic.endLine * 1e6 + diagnostic.endColumn).toBeGreaterThanOrEqual(diagnostic.line * 1e6 + diagnostic.column);
    expect(diagnostic.message.length).toBeGreaterThan(0);
  }
  // The topology is plain JSON.
  expect(JSON.parse(JSON.stringify(analyzed.topology))).toEqual(analyzed.topology);
}

describe('parse and analyze never throw, never hang', () => {
  it('on the fixtures themselves', () => {
    for (const source of corpus) survives(source);
  });

  it('on random tokens of the language (5,000 cases)', () => {
    fc.assert(fc.property(tokenSoup, survives), { numRuns: 5_000 });
  });

  it('on random text of any characters (2,500 cases)', () => {
    fc.assert(fc.property(anyText, survives), { numRuns: 2_500 });
  });

  it('on valid and invalid files with characters and tokens deleted, inserted and duplicated (5,000 cases)', () => {
    fc.assert(fc.property(mutated, survives), { numRuns: 5_000 });
  });

  it('on deep nesting, long lines and huge numbers', () => {
    survives(`a = claude { k: ${'['.repeat(5000)} }`);
    survives(`a = claude { k: ${'{ k: '.repeat(2000)} }`);
    survives(`a = claude { k: "${'x'.repeat(100_000)}" }`);
    survives(`a = claude { k: ${'9'.repeat(400)} }`);
    survives('"""'.repeat(1000));
    survives('a = b { c: d }\n'.repeat(2000));
  });
});
