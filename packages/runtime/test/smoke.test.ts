import { afterEach, describe, expect, it } from 'vitest';
import { project, started, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

describe('smoke', () => {
  it('runs input -> transform -> output', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nshout = transform uppercase {}\nout = output console {}\n',
    });
    const topology = await current.load();
    const { runtime, stdout } = await started(topology);
    try {
      const result = await runtime.ask(undefined, 'hello');
      expect(result.ok).toBe(true);
      expect(result.text).toBe('HELLO');
      expect(stdout()).toBe('HELLO\n');
    } finally {
      await runtime.stop();
    }
  });
});
