import { describe, expect, it } from 'vitest';
import { createComponentRegistry, type Runtime } from '../src/index.js';
import { project, started } from './helpers.js';

// A handler that waits on its signal (a long poll, a provider call given `abortSignal`) must not
// hold `stop()` for ever: after the drain time it is aborted, with the reason a user reads.
describe('stop() with a handler still running', () => {
  it('aborts it after drainTimeoutMs and resolves', async () => {
    const files = await project({ 'main.ww': 'wait = transform echo {}' });
    let started_: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (started_ = resolve));
    let reason: unknown;
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      () => ({
        handle: (_message, context) =>
          new Promise((_, reject) => {
            started_();
            context.signal.addEventListener('abort', () => reject((reason = context.signal.reason)), { once: true });
          }),
      }),
      { replace: true },
    );
    let runtime: Runtime | undefined;
    try {
      ({ runtime } = await started(await files.load(), { registry, drainTimeoutMs: 200 }));
      const turn = await runtime.submit(undefined, 'hello');
      turn.result.catch(() => undefined);
      await running;
      const stopped = runtime.stop().then(() => 'stopped');
      // Far longer than the drain time: before the fix, stop() never resolved.
      const outcome = await Promise.race([stopped, new Promise((resolve) => setTimeout(() => resolve('still stopping'), 20_000))]);
      expect(outcome).toBe('stopped');
      expect(String((reason as Error | undefined)?.message)).toContain('component wait is stopping');
    } finally {
      await runtime?.stop();
      await files.remove();
    }
  });
});
