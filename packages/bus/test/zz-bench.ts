import { randomUUID } from 'node:crypto';
import { createBus } from '../src/create-bus.js';
const url = process.env.WOODWORK_TEST_KAFKA_URL!;
const mif = Number(process.env.MIF ?? 10);
const seconds = Number(process.env.SECS ?? 4);
const topic = `zb-${randomUUID().slice(0, 8)}`;
const publisher = await createBus(url); const consumer = await createBus(url);
let count = 0;
await consumer.subscribe(topic, { group: 'bench', maxInFlight: mif }, () => { count++; });
const payload = 'x'.repeat(256);
let sent = 0; const start = performance.now(); const cpu0 = process.cpuUsage();
while (performance.now() - start < seconds * 1000) {
  while (sent - count > 5000) await new Promise((r) => setTimeout(r, 1));
  await publisher.publishMany(topic, Array.from({ length: 100 }, (_, i) => ({ session_id: `session-${(sent + i) % 256}`, event_type: 'bench.message', component_source: 'bench', payload })));
  sent += 100;
}
while (count < sent) await new Promise((r) => setTimeout(r, 1));
const el = (performance.now() - start) / 1000; const cpu = process.cpuUsage(cpu0);
console.log(`mif ${mif}: ${(sent / el).toFixed(0)} msg/s ${(sent / ((cpu.user + cpu.system) / 1e6)).toFixed(0)} msg/cpu-s`);
await Promise.all([publisher.close(), consumer.close()]);
