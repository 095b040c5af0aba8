/**
 * A second process for the memory test: runs the topology at WW_TOPOLOGY over Redis (bus and
 * sessions), sends WW_INPUT into session WW_SESSION, prints the turn's result as JSON and exits.
 */
import { loadTopology } from '@woodwork/parser';
import { createRuntime, silentLogger } from '@woodwork/runtime';
import { aiRegistry } from './project.js';

const { WW_TOPOLOGY, WW_REDIS, WW_NAMESPACE, WW_SESSION, WW_INPUT } = process.env;
const { resolved } = await loadTopology(WW_TOPOLOGY!, { mode: 'run' });
const runtime = createRuntime(resolved!, { logger: silentLogger, registry: aiRegistry(), bus: WW_REDIS!, sessions: { redis: WW_REDIS! }, namespace: WW_NAMESPACE!, streams: 'bus' });
await runtime.start();
const result = await runtime.ask(WW_SESSION!, WW_INPUT!);
await runtime.stop();
process.stdout.write(`${JSON.stringify({ ok: result.ok, text: result.text, errors: result.errors.map((event) => event.payload) })}\n`);
