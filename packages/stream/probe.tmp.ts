import { randomBytes, randomUUID } from 'node:crypto';
import { createBus } from '@woodwork/bus';
import { createStreamManager } from '@woodwork/stream';
const gc = (globalThis as any).gc as () => void;
const mem = () => { gc(); const u = process.memoryUsage(); return { heap: u.heapUsed, ab: u.arrayBuffers, ext: u.external }; };
const url = process.argv[2]!; const count = Number(process.argv[3]);
const prefix = `probe-${randomUUID().slice(0,8)}`;
const b1 = await createBus(url), b2 = await createBus(url);
const p = createStreamManager({ bus: b1, component: 'llm', window: 8, topicPrefix: prefix });
const c = createStreamManager({ bus: b2, component: 'out', window: 8, topicPrefix: prefix });
const prod = await p.create({ sessionId: 's', target: 'out' });
const r = await c.open(prod.ref);
const base = mem();
const sending = (async () => { for (let i = 0; i < count; i++) await prod.send(randomBytes(32768)); await prod.end(); })();
let n = 0;
for await (const _ of r) { if (++n % 100 === 0) { const m = mem(); console.log(n, ((m.heap - base.heap)/1e6).toFixed(1), ((m.ab - base.ab)/1e6).toFixed(1), ((m.ext-base.ext)/1e6).toFixed(1)); } }
await sending;
await p.close(); await c.close(); await b1.close(); await b2.close();
