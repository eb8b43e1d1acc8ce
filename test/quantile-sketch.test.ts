// The log-bucket sketch (correlate/quantile-sketch.ts) against exact percentiles: every
// p50/p90/p99 within relativeError × |exact| + 0.5 of the value a full sort gives by
// nearest rank, count and max identical; merging equals adding; the memory it holds
// follows the values' spread, not their number.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuantileSketch, SKETCH_RELATIVE_ERROR } from '../correlate/quantile-sketch.js';
import { seededRandom } from '../fixtures/random.js';

/** The exact nearest-rank value of a sample, by a plain sort (the witness). */
function exactAt(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1];
}

const PERCENTILES = [0, 1, 10, 25, 50, 75, 90, 99, 99.9, 100];

function assertWithinBound(sketch: QuantileSketch, values: readonly number[], label: string): void {
  assert.equal(sketch.count, values.length, label);
  for (const p of PERCENTILES) {
    const exact = exactAt(values, p);
    const estimate = sketch.quantile(p)!;
    assert.ok(Number.isInteger(estimate), `${label} p${p}: ${estimate} is not whole nanoseconds`);
    const bound = sketch.relativeError * Math.abs(exact) + 0.5 + 1e-9 * Math.abs(exact);
    assert.ok(Math.abs(estimate - exact) <= bound, `${label} p${p}: estimate ${estimate}, exact ${exact}, bound ${bound}`);
  }
  const s = sketch.spread();
  assert.equal(s.count, values.length);
  assert.equal(s.max, Math.max(...values), `${label}: max exact`);
}

/** Samples shaped like a session's gaps: whole nanoseconds, signed, zeros, long tails, far outliers. */
const SAMPLES: Record<string, (r: () => number) => number> = {
  'log-uniform 1 ns … 10 s': (r) => Math.round(10 ** (r() * 10)),
  'small: 0 … 200 ns': (r) => Math.floor(r() * 201),
  'signed around zero (wire before and after completion)': (r) => Math.round((r() - 0.6) * 2e6),
  'negative only': (r) => -Math.round(1 + r() * 1e9),
  'mostly one value, a few outliers': (r) => (r() < 0.995 ? 1234 : Math.round(r() * 1e13)),
  'exponential tail (µs scale)': (r) => Math.round(-Math.log(1 - r()) * 50_000),
  'huge magnitudes (clock error of days)': (r) => Math.round((r() - 0.5) * 4e14),
};

test('percentiles within the stated bound of the exact nearest-rank values, count and max exact', () => {
  for (const [name, draw] of Object.entries(SAMPLES)) {
    for (const n of [1, 2, 7, 100, 20_000]) {
      const r = seededRandom(n * 7919 + name.length);
      const values = Array.from({ length: n }, () => draw(r));
      const sketch = new QuantileSketch();
      for (const v of values) sketch.add(v);
      assertWithinBound(sketch, values, `${name}, n=${n}`);
    }
  }
});

test('values on bucket boundaries and exact powers, and a coarser sketch: still within its bound', () => {
  const alpha = 0.05;
  const gamma = (1 + alpha) / (1 - alpha);
  const values = [0, 1, -1, 2, 3, 1000, -1000, ...Array.from({ length: 60 }, (_, i) => Math.round(gamma ** i))];
  const coarse = new QuantileSketch(alpha);
  const fine = new QuantileSketch();
  for (const v of values) {
    coarse.add(v);
    fine.add(v);
  }
  assertWithinBound(coarse, values, 'α = 5 %');
  assertWithinBound(fine, values, `α = ${SKETCH_RELATIVE_ERROR}`);
});

test('an empty sketch answers null; merging equals adding everything to one', () => {
  const empty = new QuantileSketch().spread();
  assert.deepEqual(empty, { count: 0, p50: null, p90: null, p99: null, max: null });

  const r = seededRandom(42);
  const parts = [new QuantileSketch(), new QuantileSketch(), new QuantileSketch()];
  const whole = new QuantileSketch();
  const values: number[] = [];
  for (let i = 0; i < 30_000; i++) {
    const v = Math.round((r() - 0.3) * 10 ** (1 + r() * 8));
    values.push(v);
    whole.add(v);
    parts[i % 3].add(v);
  }
  const merged = new QuantileSketch();
  for (const p of parts) merged.merge(p);
  merged.merge(new QuantileSketch()); // an empty one changes nothing
  for (const p of PERCENTILES) assert.equal(merged.quantile(p), whole.quantile(p), `p${p}`);
  assert.deepEqual(merged.spread(), whole.spread());
  assertWithinBound(merged, values, 'merged');
  assert.throws(() => merged.merge(new QuantileSketch(0.01)), /different relative errors/);
});

test('what it holds follows the spread of the values, not their number', () => {
  const r = seededRandom(7);
  const sketch = new QuantileSketch();
  const draw = () => Math.round(1000 + r() * 1e8); // 1 µs … 100 ms
  sketch.add(1000); // both ends first: the buckets of the whole range
  sketch.add(1000 + 1e8);
  for (let i = 0; i < 10_000; i++) sketch.add(draw());
  const after10k = sketch.bytes;
  for (let i = 0; i < 1_000_000; i++) sketch.add(draw());
  assert.equal(sketch.bytes, after10k, 'a hundred times more values, the same buckets');
  // five decades at 0.5 %: about 1150 buckets, the array at most twice that
  assert.ok(after10k <= 2 * 8 * Math.ceil(5 / Math.log10((1 + SKETCH_RELATIVE_ERROR) / (1 - SKETCH_RELATIVE_ERROR))) + 8 * 64, `${after10k} bytes`);
});
