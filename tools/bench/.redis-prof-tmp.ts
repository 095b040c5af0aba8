import { randomUUID } from 'node:crypto';
import { createBus } from '@woodwork/bus';
const url = process.env.URL!;
const maxInFlight = Number(process.env.MIF ?? 100);
const topic = `prof-${randomUUID().slice(0, 8)}`;
const publisher = await createBus(url);
const consumer = await createBus(url);
let count = 0;
await consumer.subscribe(topic, { group: 'p', maxInFlight, fromBeginning: true }, () => { count++; });
const PAYLOAD = 'x'.repeat(256);
let sent = 0;
const start = performance.now();
const cpu = process.cpuUsage();
while (performance.now() - start < 4000) {
  if (sent - count > 5000) { await new Promise((r) => setTimeout(r, 1)); continue; }
  await publisher.publishMany(topic, Array.from({ length: 100 }, (_, i) => ({ session_id: `session-${(sent + i) % 256}`, event_type: 'bench.message', component_source: 'bench', payload: PAYLOAD })));
  sent += 100;
}
while (count < sent) await new Promise((r) => setTimeout(r, 1));
const used = process.cpuUsage(cpu);
const secs = (performance.now() - start) / 1000;
console.log(JSON.stringify({ maxInFlight, sent, msgPerSec: Math.round(sent / secs), cpuUsPerMsg: Math.round((used.user + used.system) / sent) }));
await publisher.close(); await consumer.close();
