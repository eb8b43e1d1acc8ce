/**
 * The spread's selection (correlate/percentiles.ts spreadInPlace) against its definition:
 * the nearest ranks of the whole sample sorted (Float64Array#sort, the way it was
 * computed before), over samples shaped the way gaps come and the ways a quickselect
 * goes wrong: sorted, reversed, all equal, few distinct values, a median-of-three killer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nearestRank, spreadInPlace, type Spread } from '../correlate/percentiles.js';
import { seededRandom } from '../fixtures/random.js';

function bySorting(values: ArrayLike<number>): Spread {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: nearestRank(sorted, 50),
    p90: nearestRank(sorted, 90),
    p99: nearestRank(sorted, 99),
    max: sorted.length === 0 ? null : sorted[sorted.length - 1],
  };
}

test('spreadInPlace equals the nearest ranks of the sorted sample, for every size up to 300 and shapes that trouble a quickselect', () => {
  const rnd = seededRandom(16);
  const shapes: Record<string, (n: number) => number[]> = {
    random: (n) => Array.from({ length: n }, () => Math.floor(rnd() * 2e6) - 1e6),
    // gaps in whole microseconds: a few hundred distinct values
    microseconds: (n) => Array.from({ length: n }, () => (Math.floor(rnd() * 300) - 50) * 1000),
    fewDistinct: (n) => Array.from({ length: n }, () => Math.floor(rnd() * 3)),
    allEqual: (n) => Array.from({ length: n }, () => 42),
    ascending: (n) => Array.from({ length: n }, (_, i) => i * 7 - 100),
    descending: (n) => Array.from({ length: n }, (_, i) => 1e9 - i),
    organPipe: (n) => Array.from({ length: n }, (_, i) => Math.min(i, n - i)),
    // makes a median of three pick the second smallest value at every step
    medianOfThreeKiller: (n) => {
      const a = new Array<number>(n);
      const k = n >> 1;
      for (let i = 0; i < k; i++) {
        a[i] = i % 2 === 0 ? i + 1 : k + i + (k % 2 === 0 ? 0 : 1);
        a[k + i] = 2 * (i + 1);
      }
      if (n % 2 === 1) a[n - 1] = n;
      return a;
    },
  };
  for (const [shape, make] of Object.entries(shapes)) {
    for (let n = 0; n <= 300; n++) {
      const values = make(n);
      assert.deepEqual(spreadInPlace(Float64Array.from(values)), bySorting(values), `${shape}, ${n} values`);
    }
  }
});

test('spreadInPlace on large samples (a 1 M-completion session has ~1 M per gap) equals the sorted ranks', () => {
  const rnd = seededRandom(17);
  for (const [name, values] of [
    ['1 M microsecond gaps', Float64Array.from({ length: 1_000_000 }, () => (Math.floor(rnd() * 80) - 20) * 1000)],
    ['200 k distinct', Float64Array.from({ length: 200_001 }, () => rnd() * 1e9 - 5e8)],
    ['200 k ascending', Float64Array.from({ length: 200_000 }, (_, i) => i)],
  ] as const) {
    const expected = bySorting(values);
    assert.deepEqual(spreadInPlace(values.slice()), expected, name);
  }
});
