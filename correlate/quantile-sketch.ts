/**
 * Percentiles from a fixed-size structure: a log-bucket histogram in the manner of
 * DDSketch (Masson, Rim, Lee, VLDB 2019). Bucket i holds the magnitudes in
 * (γ^(i-1), γ^i] with γ = (1+α)/(1−α); every value of a bucket is within α of the
 * bucket's representative 2γ^i/(γ+1), so the value at any rank is known within α of
 * itself while only bucket counts are kept. Its size depends on the spread of the values
 * (about 230 buckets per decade at α = 0.5 %), never on how many were added, so a summary
 * of a session still capturing holds the same memory at a thousand completions and at
 * ten million (docs/operations.md, "Measured, then bounded"). Written here rather than
 * taken from npm: `@datadog/sketches-js` is not installed, and `tdigest` (there only as
 * prom-client's dependency) bounds the error in rank, not in value; this is ~100 lines,
 * with nearest rank and whole nanoseconds as `Spread` has them. Pure.
 */
import { type Spread } from './percentiles.js';

/** What a summary of a capturing session promises: each percentile within 0.5 % (+ 0.5 ns). */
export const SKETCH_RELATIVE_ERROR = 0.005;

/** 2^64 ns is 584 years: no gap is larger; bigger magnitudes share the top bucket. */
const MAX_MAGNITUDE = 2 ** 64;

/** Counts of consecutive bucket indexes, grown to cover the indexes seen (and no more than twice that). */
class BucketCounts {
  private counts = new Float64Array(0);
  /** The index of counts[0]. */
  private first = 0;
  total = 0;

  add(index: number, n = 1): void {
    if (this.counts.length === 0) {
      this.counts = new Float64Array(32);
      this.first = index - 16;
    } else if (index < this.first || index >= this.first + this.counts.length) {
      const lo = Math.min(index, this.first);
      const hi = Math.max(index + 1, this.first + this.counts.length);
      // grow by at least double: a sample spreading slowly costs a few copies, not one per bucket
      const size = Math.max(hi - lo, 2 * this.counts.length);
      const grown = new Float64Array(size);
      const newFirst = index < this.first ? hi - size : lo;
      grown.set(this.counts, this.first - newFirst);
      this.counts = grown;
      this.first = newFirst;
    }
    this.counts[index - this.first] += n;
    this.total += n;
  }

  addAll(other: BucketCounts): void {
    for (let i = 0; i < other.counts.length; i++) if (other.counts[i] > 0) this.add(other.first + i, other.counts[i]);
  }

  /** The index holding the rank-th value (1-based) counting up from the lowest index, or down from the highest. */
  indexOfRank(rank: number, fromHighest: boolean): number {
    let seen = 0;
    const n = this.counts.length;
    for (let k = 0; k < n; k++) {
      const i = fromHighest ? n - 1 - k : k;
      seen += this.counts[i];
      if (seen >= rank) return this.first + i;
    }
    throw new Error(`rank ${rank} beyond ${this.total} values`);
  }

  get bytes(): number {
    return this.counts.byteLength;
  }
}

export class QuantileSketch {
  private readonly lnGamma: number;
  private readonly gamma: number;
  private readonly maxIndex: number;
  private readonly positive = new BucketCounts();
  private readonly negative = new BucketCounts();
  /** Magnitudes below 0.5 (gaps are whole nanoseconds: the zeros), kept as 0. */
  private zeros = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;

  constructor(readonly relativeError = SKETCH_RELATIVE_ERROR) {
    if (!(relativeError > 0 && relativeError < 1)) throw new RangeError(`relative error ${relativeError}: must be in (0, 1)`);
    this.gamma = (1 + relativeError) / (1 - relativeError);
    this.lnGamma = Math.log(this.gamma);
    this.maxIndex = Math.ceil(Math.log(MAX_MAGNITUDE) / this.lnGamma);
  }

  add(v: number): void {
    this.count++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    const magnitude = Math.abs(v);
    if (magnitude < 0.5) this.zeros++;
    else (v > 0 ? this.positive : this.negative).add(this.indexOf(magnitude));
  }

  /** Adds another sketch's values (same relative error): as if each had been added here. */
  merge(other: QuantileSketch): void {
    if (other.relativeError !== this.relativeError) throw new RangeError('merging sketches of different relative errors');
    this.count += other.count;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    this.zeros += other.zeros;
    this.positive.addAll(other.positive);
    this.negative.addAll(other.negative);
  }

  /**
   * The value at percentile p by nearest rank (as `nearestRank`), null when empty: within
   * relativeError × |exact| + 0.5 of the exact one (the bucket's representative, clamped
   * to [min, max] and rounded to a whole nanosecond).
   */
  quantile(p: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)));
    let estimate: number;
    if (rank <= this.negative.total) estimate = -this.representative(this.negative.indexOfRank(rank, true));
    else if (rank <= this.negative.total + this.zeros) estimate = 0;
    else estimate = this.representative(this.positive.indexOfRank(rank - this.negative.total - this.zeros, false));
    return Math.round(Math.min(this.max, Math.max(this.min, estimate)));
  }

  /** p50, p90, p99 within the bound; count and max exact. */
  spread(): Spread {
    return {
      count: this.count,
      p50: this.quantile(50),
      p90: this.quantile(90),
      p99: this.quantile(99),
      max: this.count === 0 ? null : this.max,
    };
  }

  /** Bytes of bucket counts held (what grows with the values' spread, not their number). */
  get bytes(): number {
    return this.positive.bytes + this.negative.bytes;
  }

  private indexOf(magnitude: number): number {
    const i = Math.ceil(Math.log(magnitude) / this.lnGamma);
    return Math.min(this.maxIndex, Math.max(0, i));
  }

  private representative(index: number): number {
    return (2 * this.gamma ** index) / (this.gamma + 1);
  }
}
