/**
 * Test helpers: a throwaway project folder with a .ww file (and any modules), loaded to run.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { formatDiagnostic, loadTopology, type Topology } from '@woodwork/parser';
import { createRuntime, type Runtime, type RuntimeOptions, type SessionEvent } from '../src/index.js';
import { silentLogger } from '../src/logger.js';

export interface Project {
  readonly dir: string;
  readonly file: string;
  write(name: string, text: string): Promise<void>;
  load(env?: Record<string, string>): Promise<Topology>;
  remove(): Promise<void>;
}

export async function project(files: Record<string, string>): Promise<Project> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-runtime-'));
  const write = async (name: string, text: string) => {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  };
  for (const [name, text] of Object.entries(files)) await write(name, text);
  const file = path.join(dir, 'main.ww');
  return {
    dir,
    file,
    write,
    async load(env = {}) {
      const result = await loadTopology(file, { mode: 'run', env });
      if (!result.resolved) {
        throw new Error(`topology did not load:\n${result.diagnostics.map((d) => formatDiagnostic(d, { source: result.sources })).join('\n')}`);
      }
      return result.resolved;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Captures what a stream receives. */
export function capture(): { stream: PassThrough; text(): string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

/** A started runtime over a project, quiet, with captured stdout. */
export async function started(topology: Topology, options: RuntimeOptions = {}): Promise<{ runtime: Runtime; stdout: () => string; stderr: () => string }> {
  const out = capture();
  const err = capture();
  const runtime = createRuntime(topology, { logger: silentLogger, io: { stdout: out.stream, stderr: err.stream, color: false }, ...options });
  await runtime.start();
  return { runtime, stdout: out.text, stderr: err.text };
}

/** Polls until `predicate` is truthy or the deadline passes. */
export async function waitFor<T>(predicate: () => T | Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('waitFor: timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Reads a session's events up to and including the first of `type`. */
export async function eventsUntil(events: AsyncIterable<SessionEvent>, type: string): Promise<SessionEvent[]> {
  const seen: SessionEvent[] = [];
  for await (const event of events) {
    seen.push(event);
    if (event.event_type === type) break;
  }
  return seen;
}
