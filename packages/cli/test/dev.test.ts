import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnCli, type CliChild } from './child.js';
import { runCli } from './run-cli.js';
import { ensureConsoleBuilt } from './support/console-assets.js';

let child: CliChild | undefined;
afterEach(() => {
  if (child && child.process.exitCode === null) child.process.kill('SIGKILL');
  child = undefined;
});

async function project(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-cli-dev-'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

describe('woodwork dev (child process)', () => {
  it('applies an edited pipe without a restart, keeps a broken edit out, and exits at the end of input', async () => {
    const dir = await project({
      'main.ww': 'in = input cli {}\nt = transform echo { pipes = ["pipes.ts::decorate"] }\nout = output console {}\n',
      'pipes.ts': 'export const decorate = (p: { input: string }) => ({ input: `v1:${p.input}` });\n',
    });
    child = spawnCli(['dev'], { cwd: dir });
    const ready = await child.waitFor(/ready in (\d+) ms/);
    expect(Number(ready[1])).toBeGreaterThan(0);
    child.write('hello\n');
    await child.waitFor(/^v1:hello$/m);

    let mark = child.output().length;
    await writeFile(path.join(dir, 'pipes.ts'), 'export const decorate = (p: { input: string }) => ({ input: `v2:${p.input}` });\n');
    await child.waitFor(/reloaded in \d+ ms \(pipes\.ts\): restarted t/, { from: mark });
    child.write('hello\n');
    await child.waitFor(/^v2:hello$/m, { from: mark });

    mark = child.output().length;
    await writeFile(path.join(dir, 'pipes.ts'), 'export const decorate = (p: { input: string }) => {\n');
    await child.waitFor(/reload failed; still running the previous version/, { from: mark });
    expect(child.output().slice(mark)).toMatch(/main\.ww:2:\d+: error WW_RUNTIME_MODULE_LOAD/);
    child.write('still\n');
    await child.waitFor(/^v2:still$/m, { from: mark });

    mark = child.output().length;
    await writeFile(path.join(dir, 'main.ww'), 'in = input cli {}\nt = transform uppercase { pipes = ["pipes.ts::decorate"] }\nout = output console {}\n');
    await writeFile(path.join(dir, 'pipes.ts'), 'export const decorate = (p: { input: string }) => ({ input: `v3:${p.input}` });\n');
    await child.waitFor(/reloaded in \d+ ms/, { from: mark });
    child.write('last\n');
    await child.waitFor(/^V3:LAST$/m, { from: mark });

    child.end();
    expect(await child.exited).toBe(0);
  });

  it('says a .ww file that does not load is not reloaded, without claiming nothing runs', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nt = transform uppercase {}\nout = output console {}\n' });
    child = spawnCli(['dev'], { cwd: dir });
    await child.waitFor(/ready in \d+ ms/);
    const mark = child.output().length;
    await writeFile(path.join(dir, 'main.ww'), 'in = input cli {}\nt = transform uppercas {}\nout = output console {}\n');
    await child.waitFor(/reload failed; still running the previous version/, { from: mark });
    const printed = child.output().slice(mark);
    expect(printed).toMatch(/main\.ww:2:\d+: error WW202: unknown `transform` type `uppercas`/);
    expect(printed).toMatch(/✖ main\.ww: 1 error\n/);
    expect(printed).not.toMatch(/nothing was started/);
    child.write('still\n');
    await child.waitFor(/^STILL$/m, { from: mark });
    child.end();
    expect(await child.exited).toBe(0);
  });

  it('exits 1 with the diagnostics when the file does not load', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nt = transform echoo {}\n' });
    child = spawnCli(['dev'], { cwd: dir });
    expect(await child.exited).toBe(1);
    expect(child.output()).toMatch(/main\.ww:2:\d+: error WW202/);
    expect(child.output()).not.toMatch(/ready in/);
  });
});

describe('--console-port', () => {
  it('is checked before anything starts: a port number, and only with --console', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nout = output console {}\n' });
    for (const command of ['dev', 'up']) {
      const notPort = await runCli([command, '--console', '--console-port', 'abc'], { cwd: dir });
      expect(notPort.stderr).toContain("error: option '--console-port <port>' argument 'abc' is invalid. It takes a port number from 1 to 65535 (0 or leaving it out: a free one).");
      expect(notPort.code).toBe(2);
      const alone = await runCli([command, '--console-port', '4000'], { cwd: dir });
      expect(alone.stderr).toContain('error: --console-port 4000 is the port of the web console, which is served only with --console: add --console');
      expect(alone.code).toBe(2);
    }
  });
});

describe('--console', () => {
  /** A port something else listens on, for as long as the test runs. */
  async function takenPort(): Promise<{ port: number; release: () => Promise<void> }> {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', () => resolve()));
    return { port: (holder.address() as AddressInfo).port, release: () => new Promise((resolve) => holder.close(() => resolve())) };
  }

  it('fails at once on a --console-port in use, naming the port and how to choose another, before anything starts', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nout = output console {}\n' });
    const { port, release } = await takenPort();
    try {
      for (const command of ['dev', 'up']) {
        const result = await runCli([command, '--console', '--console-port', String(port)], { cwd: dir });
        expect(result.stderr).toContain(`error WW_CLI_CONSOLE_PORT: the console cannot listen on 127.0.0.1:${port}: the port is in use`);
        expect(result.stderr).toContain('hint: choose another with --console-port <port>, or leave --console-port out and a free port is picked (its link is printed)');
        expect(result.code).toBe(1);
        // Nothing ran without the console that was asked for.
        expect(result.stderr + result.stdout).not.toMatch(/ready in|starting \d+ component|warning/);
      }
    } finally {
      await release();
    }
  });

  it('prints the console link where the other "listening on" lines go (stderr), and a free port without --console-port', async () => {
    await ensureConsoleBuilt();
    const { port, release } = await takenPort();
    await release();
    const dir = await project({ 'main.ww': `gateway = input api { port = ${port}, auth = "none" }\nshout = transform uppercase {}\nout = output api {}\n` });
    child = spawnCli(['dev', '--console'], { cwd: dir });
    await child.waitFor(/ready in \d+ ms/, { timeoutMs: 60_000 });
    expect(child.errors()).toMatch(/input api `gateway` listening on http:\/\/127\.0\.0\.1:\d+/);
    const [, link] = child.errors().match(/◆ console listening on (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)\n/) ?? [];
    expect(link, child.output()).toBeDefined();
    expect((await fetch(new URL('/', link))).status).toBe(200);
    child.process.kill('SIGTERM');
    expect(await child.exited).toBe(0);
  });
});

describe('woodwork run in a terminal (pseudo-terminal)', () => {
  it('prompts, edits the line, prints the reply, and ends cleanly on Ctrl-C', async () => {
    const dir = await project({ 'main.ww': 'in = input cli {}\nshout = transform uppercase {}\nout = output console {}\n' });
    child = spawnCli(['run'], { cwd: dir, pty: true });
    // The prompt is `> ` followed by readline's cursor positioning.
    await child.waitFor(/Type a message; Ctrl-C to quit\.[\s\S]*> /);
    // Line editing: "ellx", backspace, "o", Ctrl-A (start of line), "h" makes "hello".
    for (const keys of ['ellx', '\u007f', 'o', '\u0001', 'h', '\r']) {
      child.write(keys);
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    await child.waitFor(/HELLO\r?\n[\s\S]*> /);
    child.write('again\r');
    await child.waitFor(/AGAIN\r?\n[\s\S]*> /);
    child.write('\u0003');
    expect(await child.exited).toBe(0);
    expect(child.output()).not.toMatch(/Error|at .*:\d+:\d+/);
  });
});
