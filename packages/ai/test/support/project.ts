/**
 * Test helpers: a throwaway project folder with a .ww file, loaded to run, and a runtime over it
 * with the AI components registered.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatDiagnostic, loadTopology, type Topology } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger, type Runtime, type RuntimeOptions, type SessionEvent } from '@woodwork/runtime';
import { aiComponents } from '../../src/index.js';

export interface Project extends AsyncDisposable {
  readonly dir: string;
  readonly file: string;
  write(name: string, text: string): Promise<void>;
  load(env?: Record<string, string>): Promise<Topology>;
}

export async function project(files: Record<string, string>): Promise<Project> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ww-ai-'));
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
    [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }),
  };
}

export function aiRegistry() {
  const registry = createComponentRegistry();
  for (const definition of aiComponents) registry.register(definition);
  return registry;
}

/** A started runtime with the AI components, quiet. */
export async function started(topology: Topology, options: RuntimeOptions = {}): Promise<Runtime> {
  const runtime = createRuntime(topology, { logger: silentLogger, registry: aiRegistry(), ...options });
  await runtime.start();
  return runtime;
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
