// Temporary diagnosis: the redis ADAPTER alone (no Bus wrapper) vs raw ioredis, per CPU second.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedisAdapter } from '../../packages/bus/src/adapters/redis/index.js';
import type { WireRecord } from '../../packages/bus/src/adapter.js';
const url = process.env.URL!;
const SECONDS = Number(process.env.S ?? 2);
const body = Buffer.from(JSON.stringify({ message_id: randomUUID(), session_id: 'session-0', payload: 'x'.repeat(256), event_type: 'bench', component_source: 'b', component_target: null, timestamp: new Date().toISOString(), stream_id: null, is_stream: false, chunk_index: null, is_final: false, routing: { next_component: null, pipe_chain: [] }, attempt: 1, trace: null }));
async function measure(name: string, mif: number, setup: (hit: () => void) => Promise<{ publish: (n: number, offset: number) => Promise<void>; close: () => Promise<void> }>) {
  let count = 0;
  const p = await setup(() => count++);
  let sent = 0;
  const run = async (secs: number) => {
    const start = performance.now(); const cpu = process.cpuUsage(); const c0 = count; let s = 0;
    while (performance.now() - start < secs * 1000) {
      while (sent - count > 5000) await new Promise((r) => setImmediate(r));
      await p.publish(100, sent); sent += 100; s += 100;
    }
    while (count < sent) await new Promise((r) => setImmediate(r));
    const u = process.cpuUsage(cpu); const t = (performance.now() - start) / 1000;
    return { rate: Math.round((count - c0) / t), perCpu: Math.round(s / ((u.user + u.system) / 1e6)) };
  };
  await run(0.5);
  const r = await run(SECONDS);
  console.log(JSON.stringify({ name, mif, ...r }));
  await p.close();
}
for (const mif of [1, 10, 100]) {
  await measure('raw', mif, async (hit) => {
    const producer = new Redis(url); const consumer = new Redis(url);
    const key = `bench:raw:${randomUUID().slice(0, 8)}`;
    await producer.xgroup('CREATE', key, 'bench', '$', 'MKSTREAM');
    let running = true;
    const loop = (async () => { while (running) {
      const reply = (await consumer.xreadgroup('GROUP', 'bench', 'c1', 'COUNT', mif, 'BLOCK', 50, 'STREAMS', key, '>')) as [string, [string, string[]][]][] | null;
      if (!reply) continue; const ids = reply[0]![1].map(([id]) => id); await consumer.xack(key, 'bench', ...ids); for (const _ of ids) hit(); } })();
    return { publish: async (n, offset) => { const pl = producer.pipeline(); for (let i = 0; i < n; i++) pl.xadd(key, '*', 'key', `session-${(offset + i) % 256}`, 'envelope', body); await pl.exec(); },
      close: async () => { running = false; await loop; await producer.del(key); producer.disconnect(); consumer.disconnect(); } };
  });
  await measure('adapter', mif, async (hit) => {
    const pub = createRedisAdapter(new URL(url), {}); const sub = createRedisAdapter(new URL(url), {});
    await pub.doConnect(); await sub.doConnect();
    const topic = `bench-ad-${randomUUID().slice(0, 8)}`;
    await sub.doSubscribe({ topic, group: 'bench', consumerName: 'c1', maxInFlight: mif, ackTimeoutMs: 30_000, fromBeginning: true, onDelivery: (d) => { void d.ack().then(hit); }, onError: (e) => console.error(e) });
    return { publish: (n, offset) => pub.doPublish(topic, Array.from({ length: n }, (_, i): WireRecord => ({ messageId: randomUUID(), key: `session-${(offset + i) % 256}`, body }))),
      close: async () => { await sub.doClose(); await pub.doClose(); } };
  });
}
