// Golden files: every valid fixture's topology and every invalid fixture's printed diagnostics
// are compared with the files beside them. After an intended change, refresh them with
//   UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts
// and review the diff like any other change.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { analyze, formatDiagnostic, parse } from '../src/index.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const update = process.env.UPDATE_GOLDEN === '1';

function fixturesIn(folder: string): string[] {
  return readdirSync(path.join(fixtures, folder))
    .filter((name) => name.endsWith('.ww'))
    .sort();
}

function run(folder: string, name: string) {
  const source = readFileSync(path.join(fixtures, folder, name), 'utf8');
  // File names in goldens are the fixture's own name, so they do not depend on where tests run.
  const parsed = parse(source, { file: name });
  const analyzed = analyze(parsed.ast, { file: name });
  // In print order, as `woodwork validate` shows them: by position, syntax and meaning together.
  const diagnostics = [...parsed.diagnostics, ...analyzed.diagnostics].sort((a, b) => a.line - b.line || a.column - b.column);
  return { source, diagnostics, topology: analyzed.topology };
}

function compare(goldenFile: string, actual: string): void {
  if (update || !existsSync(goldenFile)) {
    writeFileSync(goldenFile, actual);
    if (!update) throw new Error(`wrote a missing golden file, check it in: ${goldenFile}`);
    return;
  }
  expect(actual).toBe(readFileSync(goldenFile, 'utf8'));
}

describe('valid fixtures', () => {
  it.each(fixturesIn('valid'))('%s validates cleanly and matches its topology', (name) => {
    const { diagnostics, topology } = run('valid', name);
    expect(diagnostics).toEqual([]);
    compare(path.join(fixtures, 'valid', name.replace(/\.ww$/, '.topology.json')), `${JSON.stringify(topology, null, 2)}\n`);
  });
});

describe('invalid fixtures', () => {
  it.each(fixturesIn('invalid'))('%s prints its expected diagnostics', (name) => {
    const { source, diagnostics } = run('invalid', name);
    expect(diagnostics.some((diagnostic) => diagnostic.severity === 'error' || diagnostic.code === 'WW207')).toBe(true);
    const printed = diagnostics.map((diagnostic) => formatDiagnostic(diagnostic, { source })).join('\n\n');
    compare(path.join(fixtures, 'invalid', name.replace(/\.ww$/, '.diagnostics.txt')), `${printed}\n`);
  });
});
