/** Percentiles by nearest rank over a numeric sample. */
export interface Spread {
  count: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** The value at percentile p of an ascending sample (nearest rank), null when empty. */
export function nearestRank(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[rankIndex(sorted.length, p)];
}

/** Where nearest rank p of n values sits in ascending order (0-based; n > 0). */
function rankIndex(n: number, p: number): number {
  const rank = Math.ceil((p / 100) * n);
  return Math.min(n, Math.max(1, rank)) - 1;
}

export function spread(values: readonly number[]): Spread {
  return spreadInPlace(Float64Array.from(values));
}

/**
 * The spread of a sample the caller gives up: it is reordered in place, no copy made.
 * Each rank is selected (three-way quickselect), not the whole sample sorted: a session
 * summary takes 3 gaps × (overall + per flow + per api) spreads, and sorting them was
 * most of a 1 M-completion summary (~150 ms per million values sorted here, ~1.4 s of
 * 1.9 s); selecting the three ranks and the maximum reads each value a few times.
 * Equal to the nearest ranks of the sorted sample (test/percentiles.test.ts).
 */
export function spreadInPlace(sample: Float64Array): Spread {
  const n = sample.length;
  if (n === 0) return { count: 0, p50: null, p90: null, p99: null, max: null };
  const k50 = rankIndex(n, 50);
  const k90 = rankIndex(n, 90);
  const k99 = rankIndex(n, 99);
  // each selection leaves only values ≥ its rank's after it, so the next one searches there
  selectInPlace(sample, k50, 0, n - 1);
  selectInPlace(sample, k90, k50, n - 1);
  selectInPlace(sample, k99, k90, n - 1);
  let max = sample[k99];
  for (let i = k99 + 1; i < n; i++) if (sample[i] > max) max = sample[i];
  return { count: n, p50: sample[k50], p90: sample[k90], p99: sample[k99], max };
}

/**
 * Puts the value of ascending rank k (0-based) of a[lo..hi] at a[k], smaller or equal
 * values before it and larger or equal ones after. Three-way partitions (gaps repeat a
 * lot: whole microseconds) around a median of three; should the partitions keep coming
 * out lopsided, the rest is sorted instead, so no input takes quadratic time.
 */
function selectInPlace(a: Float64Array, k: number, lo: number, hi: number): void {
  let budget = 2 * Math.ceil(Math.log2(hi - lo + 2)) + 8;
  while (hi > lo) {
    if (--budget < 0) {
      a.subarray(lo, hi + 1).sort();
      return;
    }
    const pivot = medianOfThree(a[lo], a[lo + ((hi - lo) >> 1)], a[hi]);
    // a[lo..lt-1] < pivot, a[lt..i-1] = pivot, a[gt+1..hi] > pivot
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = a[i];
      if (v < pivot) {
        a[i++] = a[lt];
        a[lt++] = v;
      } else if (v > pivot) {
        a[i] = a[gt];
        a[gt--] = v;
      } else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return;
  }
}

function medianOfThree(x: number, y: number, z: number): number {
  if (x < y) return y < z ? y : x < z ? z : x;
  return x < z ? x : y < z ? z : y;
}
