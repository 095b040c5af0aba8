/**
 * `woodwork build` for topologies with the coding environment and Python functions: the image gets
 * bubblewrap and git, and python3 for a `.py` functions module, not only for Python pipes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTopology } from '@woodwork/parser';
import { dockerfile } from '../src/build/dockerfile.js';
import { buildPlan } from '../src/build/plan.js';
import { lintDockerfile } from './support/validators.js';

async function planOf(source: string, files: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-build-env-'));
  try {
    await writeFile(path.join(dir, 'main.ww'), source);
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    const loaded = await loadTopology(path.join(dir, 'main.ww'), { mode: 'validate', env: {} });
    return buildPlan(loaded.topology!, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('woodwork build with environments and Python functions', () => {
  it('installs bubblewrap and git for environment coding, and says what the container needs', async () => {
    const plan = await planOf('model = llm openai {}\nenv = environment coding { repo_url = "me/app" }\ncoder = agent llm { model = model, tools = [env] }\n');
    expect(plan.needsSandbox).toBe(true);
    const text = dockerfile(plan);
    expect(text).toContain('apt-get install -y --no-install-recommends bubblewrap git ca-certificates');
    expect(text).toContain('seccomp=unconfined');
    expect(text).toContain('RUN mkdir -p /app/project/.woodwork && chown node:node /app/project/.woodwork');
    expect(text).not.toContain('python3');
    expect(await lintDockerfile(text)).toEqual([]);
  });

  it('installs python3 for a .py functions module', async () => {
    const plan = await planOf('tools = api functions { path = "tools.py" }\n', { 'tools.py': 'def f():\n    return 1\n' });
    expect(plan.needsPython).toBe(true);
    expect(plan.needsSandbox).toBe(false);
    expect(dockerfile(plan)).toContain('apt-get install -y --no-install-recommends python3 &&');
  });

  it('installs nothing for a topology without either', async () => {
    const plan = await planOf('model = llm openai {}\n');
    expect(dockerfile(plan)).not.toContain('apt-get');
  });
});
