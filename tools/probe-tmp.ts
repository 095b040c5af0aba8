import { createBus } from '@woodwork/bus';
const payload = 'x'.repeat(256);
const [ret, win] = process.argv.slice(2).map(Number);
for (const mif of [100]) {
  const bus = await createBus(`memory://probe-${mif}?retention=${ret}`);
  const N = 1_000_000;
  let handled = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await bus.subscribe('bench', { group: 'g', maxInFlight: mif, deduplicationWindow: win }, () => { if (++handled === N) done(); });
  const t0 = performance.now(); const c0 = process.cpuUsage();
  for (let i = 0; i < N; i += 100) {
    const batch = [];
    for (let j = 0; j < 100; j++) batch.push({ session_id: `s${(i + j) % 64}`, event_type: 'bench.message', payload });
    await bus.publishMany('bench', batch);
  }
  await finished;
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0); console.log(ret, win, mif, Math.round(N / s), 'per cpu-s', Math.round(N / ((c.user + c.system) / 1e6)));
  await bus.close();
}
