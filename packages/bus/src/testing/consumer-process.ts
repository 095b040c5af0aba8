/**
 * The child process of the conformance suite's crash scenarios, the same for every adapter: it
 * subscribes through `createBus(BUS_URL)` and reports each message it gets on stdout.
 *
 * - MODE=hold (default): never finishes a message — the suite kills it with SIGKILL, so nothing
 *   is settled or closed, exactly like a crashed instance.
 * - MODE=poison: a message whose payload is "poison" kills the process (SIGKILL to itself) 50 ms
 *   into its handler, as a handler that brings its host down would; every other message is
 *   handled and acknowledged at once, except one whose payload is "slow", handled after SLOW_MS
 *   (default 3000) — an innocent message still in its handler when the poison strikes. With
 *   POISON_AT_ONCE=1 the poison kills before its handler's first await instead.
 *
 * Env: BUS_URL, TOPIC, GROUP, MODE, LEASE_MS (or ACK_TIMEOUT_MS; default 1500), MAX_IN_FLIGHT
 * (default 1), MAX_ATTEMPTS (default 5). Prints `ready`, then `received <message_id> <attempt>`
 * per message, and `handled <message_id>` once a message's handler finished (MODE=poison).
 */
import { createBus } from '../create-bus.js';

const url = process.env.BUS_URL;
const topic = process.env.TOPIC;
const group = process.env.GROUP;
if (!url || !topic || !group) {
  process.stderr.write('consumer-process needs BUS_URL, TOPIC and GROUP\n');
  process.exit(2);
}
const poison = process.env.MODE === 'poison';
const bus = await createBus(url);
await bus.subscribe(
  topic,
  {
    group,
    maxInFlight: Number(process.env.MAX_IN_FLIGHT ?? 1),
    maxAttempts: Number(process.env.MAX_ATTEMPTS ?? 5),
    leaseMs: Number(process.env.LEASE_MS ?? process.env.ACK_TIMEOUT_MS ?? 1500),
  },
  (envelope, context) => {
    process.stdout.write(`received ${envelope.message_id} ${context.attempt}\n`);
    if (!poison) return new Promise<void>(() => undefined);
    if (envelope.payload === 'slow') {
      return new Promise<void>((resolve) =>
        setTimeout(() => {
          process.stdout.write(`handled ${envelope.message_id}\n`);
          resolve();
        }, Number(process.env.SLOW_MS ?? 3000)),
      );
    }
    if (envelope.payload !== 'poison') {
      process.stdout.write(`handled ${envelope.message_id}\n`);
      return undefined;
    }
    if (process.env.POISON_AT_ONCE === '1') process.kill(process.pid, 'SIGKILL');
    return new Promise<void>(() => {
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 50);
    });
  },
);
process.stdout.write('ready\n');
