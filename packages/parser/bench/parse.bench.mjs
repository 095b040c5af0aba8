// Parser throughput: generates a ~1 MB .ww file (both dialects, comments, every value form),
// parses and analyses it several times and prints MB/s. Run with `npm run bench` (builds first).
// Not a test: the figure depends on the machine; the README records it for this project's CI box.
import { performance } from 'node:perf_hooks';
import { analyze, parse } from '../dist/index.js';
import { generateSource } from './generate-source.mjs';

const ROUNDS = 15;

const source = generateSource();
const megabytes = Buffer.byteLength(source) / (1024 * 1024);

// Wall-clock time swings when other work shares the machine, so the figure is the best of several
// rounds (the run least disturbed), with the median beside it.
function measure(label, run) {
  run(); // warm up the JIT
  const times = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    run();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const rate = (ms) => (megabytes / (ms / 1000)).toFixed(1).padStart(6);
  const median = times[Math.floor(times.length / 2)];
  console.log(`${label.padEnd(16)} ${rate(times[0])} MB/s  (best ${times[0].toFixed(0)} ms; median ${median.toFixed(0)} ms = ${rate(median).trim()} MB/s)`);
}

console.log(`input: ${megabytes.toFixed(2)} MB, ${source.split('\n').length} lines; ${ROUNDS} rounds after a warm-up`);
let parsed;
measure('parse', () => {
  parsed = parse(source, { file: 'bench.ww' });
});
if (parsed.diagnostics.length > 0) {
  console.error('the generated file has syntax errors:', parsed.diagnostics.slice(0, 3));
  process.exit(1);
}
measure('analyze', () => analyze(parsed.ast, { file: 'bench.ww' }));
measure('parse + analyze', () => analyze(parse(source, { file: 'bench.ww' }).ast, { file: 'bench.ww' }));
const errors = analyze(parsed.ast, { file: 'bench.ww' }).diagnostics.filter((d) => d.severity === 'error');
if (errors.length > 0) {
  console.error('the generated file does not validate:', errors.slice(0, 3));
  process.exit(1);
}
