import { symlink, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, WoodworkRuntimeError, type AgentErrorPayload, type SessionEvent } from '../src/index.js';
import { silentLogger } from '../src/logger.js';
import { capture, project, started, waitFor, type Project } from './helpers.js';

let current: Project | undefined;
afterEach(async () => {
  await current?.remove();
  current = undefined;
});

async function collect(events: AsyncIterable<SessionEvent>, until: (event: SessionEvent) => boolean): Promise<SessionEvent[]> {
  const seen: SessionEvent[] = [];
  for await (const event of events) {
    seen.push(event);
    if (until(event)) break;
  }
  return seen;
}

describe('pipes', () => {
  it('run in order before handle, in TypeScript that imports a helper, and may replace the payload', async () => {
    current = await project({
      'main.ww': `
in = input cli {}
t = transform echo {
  pipes = ["pipes.ts::exclaim", "pipes.ts::tag", "extra.js::untouched"]
}
`,
      'pipes.ts': `
import { suffix } from './helper.ts';
export function exclaim(payload: { input: string }): { input: string } {
  return { ...payload, input: payload.input + suffix };
}
export const tag = (payload: { input: string }, context: { component: string; event: string }) =>
  ({ input: \`[\${context.component}/\${context.event}] \${payload.input}\` });
`,
      'helper.ts': `export const suffix: string = '!';\n`,
      'extra.js': `export function untouched(payload) { return undefined; }\n`,
    });
    const { runtime } = await started(await current.load());
    try {
      const result = await runtime.ask(undefined, 'hi');
      expect(result.text).toBe('[t/input.received] hi!');
    } finally {
      await runtime.stop();
    }
  });

  it('with an event pattern run only on matching messages', async () => {
    current = await project({
      'main.ww': `
in = input cli {}
t = transform echo {
  pipes = [{ event = "agent.*", function = "pipes.ts::never" }, { event = "input.*", function = "pipes.ts::twice" }]
}
`,
      'pipes.ts': `
export const never = () => { throw new Error('should not run'); };
export const twice = (p: { input: string }) => ({ input: p.input + p.input });
`,
    });
    const { runtime } = await started(await current.load());
    try {
      expect((await runtime.ask(undefined, 'ab')).text).toBe('abab');
    } finally {
      await runtime.stop();
    }
  });

  it('that throws fails the message with an agent.error naming the pipe, the file and the component, and nothing hangs', async () => {
    current = await project({
      'main.ww': `in = input cli {}\nt = transform uppercase {\n  pipes = ["pipes.ts::boom"]\n}\nout = output console {}\n`,
      'pipes.ts': `export function boom(p: { input: string }) { if (p.input === 'bad') throw new Error('bad input'); return p; }\n`,
    });
    const { runtime, stdout } = await started(await current.load());
    try {
      const session = await runtime.session();
      const events = session.events();
      const result = await session.ask('bad');
      expect(result.ok).toBe(false);
      expect(result.replies).toHaveLength(0);
      expect(result.errors).toHaveLength(1);
      const payload = result.errors[0]!.payload as AgentErrorPayload;
      expect(payload.stage).toBe('pipe');
      expect(payload.component).toBe('t');
      expect(payload.pipe).toMatchObject({ module: 'pipes.ts', export: 'boom' });
      expect(payload.location).toMatchObject({ file: current.file, line: 3 });
      expect(payload.error.message).toMatch(/pipe `pipes.ts::boom` of component `t` failed: bad input/);
      expect(payload.error.code).toBe('WW_RUNTIME_PIPE_FAILED');
      const seen = await collect(events, (event) => event.event_type === 'turn.completed');
      expect(seen.map((event) => event.event_type)).toEqual(['session.started', 'input.received', 'agent.error', 'turn.completed']);
      // The session goes on.
      expect((await session.ask('good')).text).toBe('GOOD');
      expect(stdout()).toBe('GOOD\n');
      expect(runtime.stats().t!.pipeFailures).toBe(1);
    } finally {
      await runtime.stop();
    }
  });
});

describe('hooks', () => {
  it('see copies of the events the component emits, with wildcards, and never change the chain', async () => {
    current = await project({
      'main.ww': `
in = input cli {}
t = transform uppercase {
  to = [out]
  hooks = ["hooks.ts::all", { event = "transform.*", function = "hooks.ts::mutate" }, { event = "session.replied", function = "hooks.ts::replied" }]
}
out = output console { hooks = [{ event = "session.*", function = "hooks.ts::outputs" }] }
`,
      'hooks.ts': `
const log = ((globalThis as any).__hookLog ??= []) as string[];
type Event = { event_type: string; component_source: string; session_id: string; payload: { text: string } };
export function all(event: Event) { log.push(\`all \${event.component_source}:\${event.event_type}\`); }
export function mutate(event: Event) { log.push('mutate'); event.payload.text = 'mutated'; }
export function replied() { log.push('t replied'); }
export function outputs(event: Event) { log.push(\`out \${event.event_type} \${event.payload.text}\`); }
`,
    });
    const log: string[] = ((globalThis as { __hookLog?: string[] }).__hookLog = []);
    const { runtime, stdout } = await started(await current.load());
    try {
      // An object input keeps its shape through the transform: { text } in, { text } out.
      const result = await runtime.ask(undefined, { text: 'abc', user: 'ada' });
      expect(result.text).toBe('ABC');
      expect(result.replies[0]!.payload).toEqual({ text: 'ABC', user: 'ada' });
      expect(stdout()).toBe('ABC\n');
      await waitFor(() => log.length >= 3);
      await runtime.stop();
      // t emits transform.response (its result, routed to out); out emits session.replied.
      expect(log.sort()).toEqual(['all t:transform.response', 'mutate', 'out session.replied ABC']);
      expect(runtime.stats().t!.hookFailures).toBe(0);
    } finally {
      await runtime.stop();
    }
  });

  it('that fail or time out are logged and counted, and the chain goes on', async () => {
    current = await project({
      'main.ww': `
in = input cli {}
t = transform uppercase {
  hooks = ["hooks.ts::fails", "hooks.ts::slow", "hooks.ts::fine"]
}
`,
      'hooks.ts': `
export function fails() { throw new Error('hook broke'); }
export async function slow() { await new Promise((resolve) => setTimeout(resolve, 2_000)); (globalThis as { slowHookFinished?: boolean }).slowHookFinished = true; }
export function fine() {}
`,
    });
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (message: string) => warnings.push(message), child: () => logger };
    const { runtime } = await started(await current.load(), { hookTimeoutMs: 100, logger });
    try {
      expect((await runtime.ask(undefined, 'x')).text).toBe('X');
      // The reply came without waiting for the slow hook, which is still running.
      expect((globalThis as { slowHookFinished?: boolean }).slowHookFinished).toBeUndefined();
      expect((await runtime.ask(undefined, 'y')).text).toBe('Y');
      await waitFor(() => runtime.stats().t!.hookTimeouts >= 4);
      const stats = runtime.stats().t!;
      expect(stats.hookFailures).toBe(4); // two events (transform.response, session.replied) per turn
      expect(stats.hookTimeouts).toBe(4);
      expect(warnings.some((line) => /hook hooks\.ts::fails failed/.test(line))).toBe(true);
      expect(warnings.some((line) => /hook hooks\.ts::slow timed out/.test(line))).toBe(true);
    } finally {
      await runtime.stop();
    }
  });
});

describe('module paths', () => {
  it('refuses a module that reaches outside the project through a symbolic link', async () => {
    const outside = await mkdtemp(path.join(tmpdir(), 'ww-outside-'));
    await writeFile(path.join(outside, 'evil.ts'), 'export const p = (x: unknown) => x;\n');
    current = await project({ 'main.ww': 'in = input cli {}\nt = transform echo { pipes = ["evil.ts::p"] }\n' });
    await symlink(path.join(outside, 'evil.ts'), path.join(current.dir, 'evil.ts'));
    const runtime = createRuntime(await current.load(), { logger: silentLogger });
    const error = await runtime.start().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(WoodworkRuntimeError.isInstance(error)).toBe(true);
    const runtimeError = error as WoodworkRuntimeError;
    expect(runtimeError.code).toBe('WW_RUNTIME_MODULE_PATH');
    expect(runtimeError.message).toMatch(/pipe `evil.ts::p` of component `t` points outside the project folder through a symbolic link/);
    expect(runtimeError.location).toMatchObject({ file: current.file, line: 2 });
    expect(runtime.state).toBe('stopped');
  });

  it('reports every missing export at once, with a suggestion', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo {\n  pipes = ["p.ts::shoutt"]\n  hooks = ["p.ts::nothing"]\n}\n',
      'p.ts': 'export const shout = (x: unknown) => x;\nexport const whisper = (x: unknown) => x;\n',
    });
    const runtime = createRuntime(await current.load(), { logger: silentLogger });
    const error = (await runtime.start().catch((caught: unknown) => caught)) as WoodworkRuntimeError;
    expect(error.problems).toHaveLength(2);
    expect(error.problems[0]!.code).toBe('WW_RUNTIME_EXPORT_NOT_FOUND');
    expect(error.problems[0]!.hint).toBe('did you mean `shout`?');
    expect(error.problems[0]!.location).toMatchObject({ line: 3 });
    expect(error.problems[1]!.message).toMatch(/hook `p.ts::nothing`/);
    expect(error.problems[1]!.hint).toMatch(/`shout`, `whisper`/);
  });

  it('reports a module that does not compile as a load error, not a crash', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { pipes = ["p.ts::f"] }\n',
      'p.ts': 'export const f = (x: unknown) => {\n',
    });
    const runtime = createRuntime(await current.load(), { logger: silentLogger });
    const error = (await runtime.start().catch((caught: unknown) => caught)) as WoodworkRuntimeError;
    expect(error.code).toBe('WW_RUNTIME_MODULE_LOAD');
    expect(error.message).toMatch(/pipe `p.ts::f` of component `t` failed to load/);
  });

  it("names the compiler's error and its file:line:col when a .ts module does not compile", async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { pipes = ["pipes.ts::f"] }\n',
      'pipes.ts': 'export function f(x: string) {\n  return x.trim(;\n}\n',
    });
    const runtime = createRuntime(await current.load(), { logger: silentLogger });
    const error = (await runtime.start().catch((caught: unknown) => caught)) as WoodworkRuntimeError;
    expect(error.code).toBe('WW_RUNTIME_MODULE_LOAD');
    expect(error.message).toMatch(/failed to load: pipes\.ts:2:\d+: Unexpected "?;"?/);
    expect(error.message).not.toMatch(/Transform failed/);
  });
});

describe('Python pipes and hooks', () => {
  it('run classic .py files through the bridge: pipes transform, hooks print, errors carry the traceback', async () => {
    current = await project({
      'main.ww': `
in = input command_line {}
t = transform uppercase {
  pipes = [{ event: "input.received", script_path: "pipes.py", function_name: "add_suffix" }, "pipes.py::with_context"]
  hooks = [{ event: "transform.response", script_path: "hooks.py", function_name: "print_response" }]
}
`,
      'pipes.py': `
def add_suffix(payload):
    """Adds a suffix, the classic way: a dict keeps its shape."""
    if not isinstance(payload, dict):
        payload = {"input": payload}
    if payload.get("input") == "explode":
        raise ValueError("cannot take this")
    payload = payload.copy()
    payload["input"] = payload["input"] + " from python"
    return payload

def with_context(payload, context):
    return {"input": payload["input"] + " in " + context["component"], "extra": [1, 2]}
`,
      'hooks.py': `
def print_response(payload):
    print("HOOK SAW:", payload["input"], flush=True)
`,
    });
    const { runtime, stdout } = await started(await current.load());
    try {
      expect((await runtime.ask(undefined, 'hi')).text).toBe('HI FROM PYTHON IN T');
      await waitFor(() => stdout().includes('HOOK SAW: HI FROM PYTHON IN T'));
      const failed = await runtime.ask(undefined, 'explode');
      expect(failed.ok).toBe(false);
      const payload = failed.errors[0]!.payload as AgentErrorPayload;
      expect(payload.error.message).toMatch(/pipe `pipes.py::add_suffix` of component `t` failed: ValueError: cannot take this/);
      expect(payload.error.hint).toMatch(/Traceback[\s\S]*pipes\.py[\s\S]*ValueError/);
      expect((await runtime.ask(undefined, 'again')).text).toBe('AGAIN FROM PYTHON IN T');
    } finally {
      await runtime.stop();
    }
  });

  it('fail at load with a clear error when python3 is missing', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { pipes = ["p.py::f"] }\n',
      'p.py': 'def f(payload):\n    return payload\n',
    });
    const runtime = createRuntime(await current.load(), { logger: silentLogger, python: 'python3-that-does-not-exist' });
    const error = (await runtime.start().catch((caught: unknown) => caught)) as WoodworkRuntimeError;
    expect(error.code).toBe('WW_RUNTIME_PYTHON_MISSING');
    expect(error.message).toMatch(/need `python3-that-does-not-exist`, which is not on PATH/);
    expect(error.location).toMatchObject({ line: 2 });
  });

  it('report a Python file that does not import', async () => {
    current = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { hooks = ["h.py::f"] }\n',
      'h.py': 'import not_a_module_anyone_has\n',
    });
    const out = capture();
    const runtime = createRuntime(await current.load(), { logger: silentLogger, io: { stdout: out.stream, stderr: out.stream } });
    const error = (await runtime.start().catch((caught: unknown) => caught)) as WoodworkRuntimeError;
    expect(error.code).toBe('WW_RUNTIME_MODULE_LOAD');
    expect(error.message).toMatch(/hook `h.py::f` of component `t` failed to import: ModuleNotFoundError/);
  });
});
