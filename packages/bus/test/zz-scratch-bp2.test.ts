import { it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createBus } from '../src/create-bus.js';
import { waitFor } from '../src/testing/index.js';
import { WoodworkBusError } from '../src/errors.js';
const url = process.env.WOODWORK_TEST_KAFKA_URL!;
const t0 = Date.now();
const log = (s: string) => console.log(`${Date.now() - t0} ${s}`);
it('restart', async () => {
  const topic = `rs-${Date.now()}`;
  const publisher = await createBus(url); const consumer = await createBus(url);
  const seen = new Set<string>();
  const sub = await consumer.subscribe(topic, { group: 'a', maxInFlight: 64, ackTimeoutMs: 10_000 }, (e) => { seen.add(e.message_id); });
  const ids: string[] = []; let restart: Promise<void> | undefined; let rejected = 0;
  for (let start = 0; start < 10000; start += 50) {
    const batch = Array.from({ length: 50 }, (_, o) => ({ session_id: `s-${(start + o) % 13}`, event_type: 't.x', payload: start + o, message_id: randomUUID() }));
    if (start === 3000) restart = new Promise((r) => { setTimeout(() => { execFileSync('bash', ['tools/services.sh', 'restart', 'kafka'], { cwd: '/work/main', stdio: 'ignore' }); r(); }, 0); });
    await waitFor(async () => { try { await publisher.publishMany(topic, batch); return true; } catch (e) { rejected++; if (!WoodworkBusError.isInstance(e) || !e.isRetryable) throw e; return false; } }, { timeoutMs: 90000, intervalMs: 100 });
    ids.push(...batch.map((b) => b.message_id));
  }
  await restart; log(`published, rejected ${rejected}`);
  await waitFor(() => ids.every((id) => seen.has(id)), { timeoutMs: 90000 });
  log('all seen');
  await sub.close(); log('sub closed'); await consumer.close(); log('consumer closed'); await publisher.close(); log('publisher closed');
}, 200000);
it('bp2', async () => {
  
  
  
  const topic = `bp-${Date.now()}`;
  const consumer = await createBus(url);
  let open!: () => void; const gate = new Promise<void>((r) => (open = r));
  const seen = new Set<string>();
  const sub = await consumer.subscribe(topic, { group: 'slow', maxInFlight: 2 }, async (e) => { await gate; seen.add(e.message_id); });
  log('subscribed');
  const publisher = await createBus(url);
  const payload = 'x'.repeat(4096);
  for (let start = 0; start < 8000; start += 100) {
    await publisher.publishMany(topic, Array.from({ length: 100 }, (_, o) => ({ session_id: `s-${(start + o) % 17}`, event_type: 't.x', payload: { n: start + o, payload } })));
    if (start % 2000 === 0) log(`published ${start}`);
  }
  log('published all'); open();
  const timer = setInterval(() => log(`seen ${seen.size}`), 2000);
  await waitFor(() => seen.size === 8000, { timeoutMs: 60000 });
  clearInterval(timer);
  log('consumed'); await sub.close(); log('sub closed'); await consumer.close(); log('consumer closed'); await publisher.close(); log('publisher closed');
}, 120000);
