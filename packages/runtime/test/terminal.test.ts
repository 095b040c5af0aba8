import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runTerminal } from '../src/index.js';
import { capture, project, started, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

describe('runTerminal', () => {
  it('sends each input as a turn and lets an output console print the replies', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform uppercase {}\nout = output cli {}\n' });
    const { runtime, stdout } = await started(await current.load());
    const err = capture();
    try {
      const result = await runTerminal(runtime, { inputs: ['one', 'two'], stdout: capture().stream, stderr: err.stream });
      expect(result).toMatchObject({ turns: 2, failedTurns: 0, reason: 'end of input' });
      expect(stdout()).toBe('ONE\nTWO\n');
      expect(await runtime.get(result.sessionId)).toBeUndefined(); // the session ended with the terminal
    } finally {
      await runtime.stop();
    }
  });

  it('prints the replies of console outputs that write elsewhere (consoleOutputsHere: [], run --attach), once', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform uppercase {}\nout = output cli {}\n' });
    // The runtime's own console output stands for the one in another process: its stream is not the terminal's.
    const { runtime, stdout: elsewhere } = await started(await current.load());
    const out = capture();
    try {
      await runTerminal(runtime, { inputs: ['one'], stdout: out.stream, stderr: capture().stream, consoleOutputsHere: [] });
      expect(out.text()).toBe('ONE\n');
      expect(elsewhere()).toBe('ONE\n');
    } finally {
      await runtime.stop();
    }
  });

  it('prints replies itself when no output console does, streamed ones as they arrive', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo { streaming = true }\n' });
    const { runtime } = await started(await current.load());
    const out = capture();
    try {
      await runTerminal(runtime, { inputs: ['streamed words'], stdout: out.stream, stderr: capture().stream });
      expect(out.text()).toBe('streamed words\n');
    } finally {
      await runtime.stop();
    }
  });

  it('reads piped lines one turn each, in order, and ends at the end of input', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo { prefix = "got " }\n' });
    const { runtime } = await started(await current.load());
    const stdin = new PassThrough();
    const out = capture();
    try {
      const done = runTerminal(runtime, { stdin, stdout: out.stream, stderr: capture().stream, interactive: false });
      stdin.write('first\nsecond\n\n');
      stdin.end('third');
      expect(await done).toMatchObject({ turns: 3, reason: 'end of input' });
      expect(out.text()).toBe('got first\ngot second\ngot third\n');
    } finally {
      await runtime.stop();
    }
  });

  it('prints failures on stderr with the place and the hint, and goes on', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo {\n  pipes = ["p.ts::check"]\n}\n',
      'p.ts': "export const check = (p: { input: string }) => { if (p.input === 'no') throw new Error('refused'); };\n",
    });
    const { runtime } = await started(await current.load());
    const out = capture();
    const err = capture();
    try {
      const result = await runTerminal(runtime, { inputs: ['no', 'yes'], stdout: out.stream, stderr: err.stream, cwd: current.dir });
      expect(result).toMatchObject({ turns: 2, failedTurns: 1 });
      expect(err.text()).toBe('error pipe `p.ts::check` of component `t` failed: refused (main.ww:3:12)\n  hint: fix p.ts; the message was not processed\n');
      expect(out.text()).toBe('yes\n');
    } finally {
      await runtime.stop();
    }
  });

  it('stops waiting and ends the session when interrupted', async () => {
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo {}\n' });
    const { runtime } = await started(await current.load());
    const stdin = new PassThrough();
    const controller = new AbortController();
    try {
      const done = runTerminal(runtime, { stdin, stdout: capture().stream, stderr: capture().stream, interactive: false, signal: controller.signal });
      stdin.write('hello\n');
      setTimeout(() => controller.abort(), 50);
      expect(await done).toMatchObject({ reason: 'interrupted' });
    } finally {
      await runtime.stop();
    }
  });
});
