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
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function spread(values: readonly number[]): Spread {
  // A typed array sorts numerically without a comparator call per step: several times
  // faster than Array#sort on the 100k-value samples of a large session.
  return spreadSortingInPlace(Float64Array.from(values));
}

/** The spread of a sample the caller gives up: it is sorted in place, no copy made. */
export function spreadSortingInPlace(sample: Float64Array): Spread {
  const sorted = sample.sort();
  return {
    count: sorted.length,
    p50: nearestRank(sorted, 50),
    p90: nearestRank(sorted, 90),
    p99: nearestRank(sorted, 99),
    max: sorted.length === 0 ? null : sorted[sorted.length - 1],
  };
}
