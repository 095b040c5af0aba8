// The conformance suite against the embedded memory bus, twice: passing envelopes by reference
// (the default, no JSON at all) and serialising every record (the wire path brokers take).
import { randomUUID } from 'node:crypto';
import { createBus, createMemoryAdapter } from '@woodwork/bus';
import { runBusConformanceSuite } from '@woodwork/bus/testing';

const maxBacklog = 1_000;

for (const serialize of [false, true]) {
  const url = `memory://conformance-${randomUUID().slice(0, 8)}?maxBacklog=${maxBacklog}&serialize=${serialize}`;
  // The memory broker's "plain client" is the adapter itself, which moves bytes without parsing them.
  const raw = createMemoryAdapter(new URL(url));
  runBusConformanceSuite({
    name: serialize ? 'memory (serialized)' : 'memory',
    createBus: () => createBus(url),
    capabilities: raw.capabilities,
    publishRaw: (topic, body, key) => raw.doPublish(topic, [{ messageId: randomUUID(), key, body }]),
    backpressure: { kind: 'blocking-publish', maxBacklog },
    leaseMs: 500,
    timeoutMs: 20_000,
  });
}
