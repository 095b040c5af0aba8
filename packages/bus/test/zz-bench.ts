import { randomUUID } from 'node:crypto';
import { createBus } from '../src/create-bus.js';
const url = process.env.WOODWORK_TEST_KAFKA_URL!;
const mif = Number(process.env.MIF ?? 10);
const seconds = Number(process.env.SECS ?? 4);
const topic = `zb-${randomUUID().slice(0, 8)}`;
const publisher = await createBus(url); const consumer = await createBus(url);
let count = 0;
let t0 = performance.now();
await consumer.subscribe(topic, { group: 'bench', maxInFlight: mif }, () => { count++; });
console.log('subscribe ms', (performance.now() - t0).toFixed(0));
const payload = 'x'.repeat(256);
let sent = 0; const start = performance.now(); let pubTime = 0;
const timeline: string[] = []; let lastCount = 0;
const tl = setInterval(() => { timeline.push(String(count - lastCount)); lastCount = count; }, 100);
while (performance.now() - start < seconds * 1000) {
  while (sent - count > 5000) await new Promise((r) => setTimeout(r, 1));
  const p0 = performance.now();
  await publisher.publishMany(topic, Array.from({ length: 100 }, (_, i) => ({ session_id: `session-${(sent + i) % 256}`, event_type: 'bench.message', component_source: 'bench', payload })));
  pubTime += performance.now() - p0;
  sent += 100;
}
while (count < sent) await new Promise((r) => setTimeout(r, 1));
const el = (performance.now() - start) / 1000; clearInterval(tl);
if (process.env.TL) console.log('timeline/100ms', timeline.join(' '));
console.log(`mif ${mif}: ${(sent / el).toFixed(0)} msg/s, publish time ${(pubTime / 1000).toFixed(2)}s of ${el.toFixed(2)}s`);
await Promise.all([publisher.close(), consumer.close()]);
