import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { createComponentRegistry, WoodworkRuntimeError } from '../src/index.js';
import { project, started, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

describe('runtime.reload', () => {
  it.each([
    ['a CommonJS-scoped project', {}],
    ['an ESM project', { 'package.json': '{ "type": "module" }\n' }],
  ])('picks up a changed pipe (and the helper it imports) without a restart in %s; sessions survive', async (_name, extra) => {
    current = await project({
      ...extra,
      'main.ww': 'in = input cli {}\nt = transform echo { pipes = ["pipes.ts::decorate"] }\nout = output console {}\n',
      'pipes.ts': "import { mark } from './mark.ts';\nexport const decorate = (p: { input: string }) => ({ input: `${mark}${p.input}` });\n",
      'mark.ts': "export const mark = 'v1:';\n",
    });
    const { runtime } = await started(await current.load());
    try {
      const first = await runtime.ask(undefined, 'hi');
      expect(first.text).toBe('v1:hi');
      await current.write('mark.ts', "export const mark = 'v2:';\n");
      const summary = await runtime.reload(await current.load(), { changedFiles: [path.join(current.dir, 'mark.ts')] });
      expect(summary).toMatchObject({ added: [], removed: [], changed: [], restarted: ['t'] });
      expect(summary.unchanged).toEqual(['in', 'out']);
      const second = await runtime.ask(first.sessionId, 'hi');
      expect(second.text).toBe('v2:hi');
      expect(second.sessionId).toBe(first.sessionId);
      await current.write('pipes.ts', "export const decorate = (p: { input: string }) => ({ input: `v3:${p.input}` });\n");
      await runtime.reload(await current.load(), { changedFiles: [path.join(current.dir, 'pipes.ts')] });
      expect((await runtime.ask(first.sessionId, 'hi')).text).toBe('v3:hi');
    } finally {
      await runtime.stop();
    }
  });

  it('restarts only what changed in the .ww file and drops only that component\'s session state', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\na = transform echo { to = [b] }\nb = transform echo {}\n' });
    const registry = createComponentRegistry().register(
      'transform',
      'echo',
      ({ component, config }) => ({
        async handle(message, context) {
          const seen = ((await context.session.get<number>('seen')) ?? 0) + 1;
          await context.session.set('seen', seen);
          return `${message.text} ${component.name}${String(config.prefix ?? '')}${seen}`;
        },
      }),
      { replace: true },
    );
    const { runtime } = await started(await current.load(), { registry });
    try {
      const { sessionId, text } = await runtime.ask(undefined, 'x');
      expect(text).toBe('x a1 b1');
      await current.write('main.ww', 'in = input cli {}\na = transform echo { to = [b] }\nb = transform echo { prefix = "!" }\nc = transform echo {}\n');
      const summary = await runtime.reload(await current.load());
      expect(summary).toMatchObject({ added: ['c'], removed: [], changed: ['b'], restarted: [] });
      expect(summary.unchanged).toEqual(['in', 'a']);
      // a kept its count for the session, b started over.
      expect((await runtime.ask(sessionId, 'y')).text).toBe('y a2 b!1');
    } finally {
      await runtime.stop();
    }
  });

  it('keeps the running version when the new one does not load', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { pipes = ["p.ts::f"] }\n',
      'p.ts': "export const f = (p: { input: string }) => ({ input: p.input + '.' });\n",
    });
    const { runtime } = await started(await current.load());
    try {
      await current.write('p.ts', 'export const f = (p: { input: string }) => {\n');
      const error = await runtime.reload(await current.load(), { changedFiles: [path.join(current.dir, 'p.ts')] }).catch((caught: unknown) => caught);
      expect(WoodworkRuntimeError.isInstance(error)).toBe(true);
      expect((error as WoodworkRuntimeError).code).toBe('WW_RUNTIME_MODULE_LOAD');
      expect((await runtime.ask(undefined, 'still')).text).toBe('still.');
      await current.write('p.ts', "export const f = (p: { input: string }) => ({ input: p.input + '!' });\n");
      await runtime.reload(await current.load(), { changedFiles: [path.join(current.dir, 'p.ts')] });
      expect((await runtime.ask(undefined, 'fixed')).text).toBe('fixed!');
    } finally {
      await runtime.stop();
    }
  });
});
