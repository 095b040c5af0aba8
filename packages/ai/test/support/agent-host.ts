/**
 * A process that hosts some components of a topology over Redis, for tests that kill it:
 * `node --conditions=@woodwork/source --import tsx agent-host.ts <main.ww> <components> <redis> <namespace>`.
 * Prints `ready` when it takes work.
 */
import { loadTopology } from '@woodwork/parser';
import { createRuntime, silentLogger } from '@woodwork/runtime';
import { aiRegistry } from './project.js';

const [file, components, url, namespace] = process.argv.slice(2) as [string, string, string, string];
const loaded = await loadTopology(file, { mode: 'run', env: process.env });
if (!loaded.resolved) throw new Error('topology did not load');
const runtime = createRuntime(loaded.resolved, {
  logger: silentLogger,
  registry: aiRegistry(),
  components: components.split(','),
  bus: url,
  sessions: { redis: url },
  namespace,
});
await runtime.start();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void runtime.stop().then(() => process.exit(0)));
