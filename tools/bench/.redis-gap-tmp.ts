import { randomUUID } from 'node:crypto';
import { createBus } from '@woodwork/bus';
const url = process.env.URL!;
const maxInFlight = Number(process.env.MIF ?? 100);
const topic = `gap-${randomUUID().slice(0, 8)}`;
const publisher = await createBus(url);
const consumer = await createBus(url);
let count = 0; let last = performance.now(); const gaps: number[] = [];
await consumer.subscribe(topic, { group: 'p', maxInFlight, fromBeginning: true }, () => { const t = performance.now(); if (t - last > 15) gaps.push(Math.round(t - last)); last = t; count++; });
const PAYLOAD = 'x'.repeat(256);
let sent = 0; let pubGaps: number[] = [];
const start = performance.now();
while (performance.now() - start < 4000) {
  if (sent - count > 5000) { await new Promise((r) => setTimeout(r, 1)); continue; }
  const t = performance.now();
  await publisher.publishMany(topic, Array.from({ length: 100 }, (_, i) => ({ session_id: `session-${(sent + i) % 256}`, event_type: 'bench.message', component_source: 'bench', payload: PAYLOAD })));
  const d = performance.now() - t; if (d > 15) pubGaps.push(Math.round(d));
  sent += 100;
}
while (count < sent) await new Promise((r) => setTimeout(r, 1));
console.log(JSON.stringify({ maxInFlight, rate: Math.round(sent / ((performance.now() - start) / 1000)), consumerGaps: gaps.slice(0, 30), nConsumerGaps: gaps.length, publishGaps: pubGaps.slice(0, 30), nPublishGaps: pubGaps.length }));
await publisher.close(); await consumer.close();
