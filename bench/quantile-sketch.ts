/**
 * What a summary's percentiles cost, exact against the sketch: for n gaps (log-uniform,
 * 1 µs … 1 s, whole ns, as a session's submit→complete gaps), the exact way the streamed
 * summary used to take them (push into a growable Float64Array, then sort and read the
 * nearest ranks) against correlate/quantile-sketch.ts (add, then spread). Prints CPU time
 * of this thread (process.cpuUsage: one thread here), the bytes each holds at the end,
 * the ratio sketch/exact from the same run, and the largest relative error of p50/p90/p99
 * seen. Asserts nothing.
 *
 *   node --import tsx bench/quantile-sketch.ts [n=1000000] [runs=3]
 */
import { loadavg } from 'node:os';
import { nearestRank } from '../correlate/percentiles.js';
import { QuantileSketch } from '../correlate/quantile-sketch.js';
import { seededRandom } from '../fixtures/random.js';

const n = Number(process.argv[2] ?? 1_000_000);
const runs = Number(process.argv[3] ?? 3);

const r = seededRandom(1);
const values = new Float64Array(n);
for (let i = 0; i < n; i++) values[i] = Math.round(10 ** (3 + r() * 6));

function cpuMs<T>(run: () => T): { ms: number; result: T } {
  const t0 = process.cpuUsage();
  const result = run();
  const t = process.cpuUsage(t0);
  return { ms: (t.user + t.system) / 1000, result };
}

function exact(): { p: number[]; bytes: number } {
  let held = new Float64Array(16);
  let length = 0;
  for (let i = 0; i < n; i++) {
    if (length === held.length) {
      const bigger = new Float64Array(held.length * 2);
      bigger.set(held);
      held = bigger;
    }
    held[length++] = values[i];
  }
  const sorted = held.subarray(0, length).sort();
  return { p: [50, 90, 99].map((q) => nearestRank(sorted, q)!), bytes: held.byteLength };
}

function sketched(): { p: number[]; bytes: number } {
  const sketch = new QuantileSketch();
  for (let i = 0; i < n; i++) sketch.add(values[i]);
  const s = sketch.spread();
  return { p: [s.p50!, s.p90!, s.p99!], bytes: sketch.bytes };
}

console.log(`percentiles of ${n.toLocaleString('en-US')} gaps, ${runs} runs each, alternating; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const times = { exact: [] as number[], sketch: [] as number[] };
let worst = 0;
let bytes = { exact: 0, sketch: 0 };
for (let i = 0; i < runs; i++) {
  const e = cpuMs(exact);
  const s = cpuMs(sketched);
  times.exact.push(e.ms);
  times.sketch.push(s.ms);
  bytes = { exact: e.result.bytes, sketch: s.result.bytes };
  for (let k = 0; k < 3; k++) worst = Math.max(worst, Math.abs(s.result.p[k] - e.result.p[k]) / e.result.p[k]);
}
const best = (xs: number[]) => Math.min(...xs);
console.log(`  exact  (growable Float64Array + sort): best ${best(times.exact).toFixed(0)} ms CPU, holds ${(bytes.exact / 2 ** 20).toFixed(1)} MiB`);
console.log(`  sketch (log buckets, α = 0.5 %):       best ${best(times.sketch).toFixed(0)} ms CPU, holds ${(bytes.sketch / 1024).toFixed(1)} KiB`);
console.log(`  sketch / exact CPU: ${(best(times.sketch) / best(times.exact)).toFixed(2)}; largest relative error of p50/p90/p99: ${(worst * 100).toFixed(3)} %`);
console.log(`  load after ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
