// The projects in the repository's examples/ folder must validate cleanly: no errors, no warnings,
// even without any environment (every variable they use has a default).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '../src/index.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../examples');
const projects = readdirSync(examples, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe('examples/', () => {
  it('has the four projects the later issues run', () => {
    expect(projects).toEqual(expect.arrayContaining(['echo', 'scaled', 'streaming-chat', 'tool-agent']));
  });

  it.each(projects)('%s/main.ww validates without diagnostics and resolves for a run', async (name) => {
    const result = await loadTopology(path.join(examples, name, 'main.ww'), { mode: 'run', env: {} });
    expect(result.diagnostics).toEqual([]);
    expect(result.topology?.components.length).toBeGreaterThan(1);
    expect(result.resolved).toBeDefined();
  });

  it('uses both dialects across the examples', async () => {
    const { readFile } = await import('node:fs/promises');
    const sources = await Promise.all(projects.map((name) => readFile(path.join(examples, name, 'main.ww'), 'utf8')));
    expect(sources.some((source) => /^\s*\w+ = \w+ \w+ \{\s*$/m.test(source) && /^\s+\w+: /m.test(source))).toBe(true);
    expect(sources.some((source) => /^\w+ = \w+ \{/m.test(source) && /^\s+\w+ = /m.test(source))).toBe(true);
  });
});
