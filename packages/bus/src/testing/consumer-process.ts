/**
 * The child process of the conformance suite's "consumer dies without acking" scenario, the same
 * for every adapter: it subscribes through `createBus(BUS_URL)`, reports each message it gets on
 * stdout, and never finishes one — the suite then kills it with SIGKILL, so nothing is settled
 * or closed, exactly like a crashed instance.
 *
 * Env: BUS_URL, TOPIC, GROUP, ACK_TIMEOUT_MS (default 1500). Prints `ready`, then
 * `received <message_id> <attempt>` per message.
 */
import { createBus } from '../create-bus.js';

const url = process.env.BUS_URL;
const topic = process.env.TOPIC;
const group = process.env.GROUP;
if (!url || !topic || !group) {
  process.stderr.write('consumer-process needs BUS_URL, TOPIC and GROUP\n');
  process.exit(2);
}
const bus = await createBus(url);
await bus.subscribe(
  topic,
  { group, maxInFlight: 1, ackTimeoutMs: Number(process.env.ACK_TIMEOUT_MS ?? 1500) },
  (envelope, context) => {
    process.stdout.write(`received ${envelope.message_id} ${context.attempt}\n`);
    return new Promise<void>(() => undefined);
  },
);
process.stdout.write('ready\n');
