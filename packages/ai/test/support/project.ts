/**
 * Test helpers: a throwaway project folder with a .ww file, loaded to run, and a runtime over it
 * with the AI components registered.
 */
import type { Topology } from '@woodwork/parser';
import { createComponentRegistry, createRuntime, silentLogger, type Runtime, type RuntimeOptions, type SessionEvent } from '@woodwork/runtime';
import { aiComponents } from '../../src/index.js';
import { project as runtimeTestProject, type Project as RuntimeTestProject } from '../../../runtime/test/helpers.js';

export interface Project extends Omit<RuntimeTestProject, 'remove'>, AsyncDisposable {}

/** The runtime's test project, removed by `await using`. */
export async function project(files: Record<string, string>): Promise<Project> {
  const { remove, ...made } = await runtimeTestProject(files);
  return { ...made, [Symbol.asyncDispose]: remove };
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
