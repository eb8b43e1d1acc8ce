/**
 * Rows of sent_advances / ack_advances (migrations/005_frame_advances.sql) waiting to be
 * written, grouped by (flow, dir), pure. Within a group they arrive in frame order, which
 * is key order (the maxima grow strictly) except for rows of bytes that filled a hole
 * below the maximum (capture/flow/holes.ts): such a group is sorted when taken. Taken
 * in (flow, dir) order, a whole batch inserts in primary-key order: each group is one
 * sorted run at one place in the b-tree, however the flows interleave in the capture
 * (db/advances.ts writes them).
 *
 * Held in typed arrays (24 bytes a row, nothing for the garbage collector to trace):
 * holding 1M rows as JS arrays cost ~0.25 s of extra garbage collection per 1M frames.
 * Grouped on the importing thread, so the writer thread only binds (recording/import-writer.ts).
 */

/** Numbers of an advance row: flow number, dir, maximum, extra (sent_advances.seq_off; 0 for ack_advances). */
export const ADVANCE_WIDTH = 4;

/** Advance rows in key order (flow, dir, maximum). */
export interface PackedAdvances {
  count: number;
  /** count × ADVANCE_WIDTH numbers. */
  numbers: Float64Array;
  ts: BigInt64Array;
}

const FIRST_CAPACITY = 64;

/** One (flow, dir): maximum and extra value as numbers, the frame time as int64. */
class Group {
  n = 0;
  numbers = new Float64Array(FIRST_CAPACITY * 2);
  times = new BigInt64Array(FIRST_CAPACITY);
  /** Rows arrived in key order (false once a hole of the stream was filled out of order). */
  inOrder = true;

  add(max: number, tsNs: bigint, extra: number): void {
    if (this.n > 0 && max < this.numbers[(this.n - 1) * 2]) this.inOrder = false;
    if (this.n === this.times.length) {
      const numbers = new Float64Array(this.numbers.length * 2);
      numbers.set(this.numbers);
      this.numbers = numbers;
      const times = new BigInt64Array(this.times.length * 2);
      times.set(this.times);
      this.times = times;
    }
    this.numbers[this.n * 2] = max;
    this.numbers[this.n * 2 + 1] = extra;
    this.times[this.n++] = tsNs;
  }
}

/** Row indexes of a group in key order (rows filling a hole arrive after higher keys). */
function keyOrder(group: Group): Uint32Array {
  const order = new Uint32Array(group.n);
  for (let i = 0; i < group.n; i++) order[i] = i;
  return order.sort((a, b) => group.numbers[a * 2] - group.numbers[b * 2]);
}

export class AdvanceRuns {
  /** Rows held, all groups together. */
  pending = 0;
  /** key flow * 2 + dir → its rows */
  private readonly groups = new Map<number, Group>();
  private lastKey = -1;
  private lastGroup: Group | null = null;

  /** One row; `extra` is 0 for a table without an extra column. */
  add(flow: number, dir: number, max: number, tsNs: bigint, extra: number): void {
    this.pending++;
    const key = flow * 2 + dir;
    let group = this.lastGroup;
    if (key !== this.lastKey || group === null) {
      group = this.groups.get(key) ?? null;
      if (group === null) {
        group = new Group();
        this.groups.set(key, group);
      }
      this.lastKey = key;
      this.lastGroup = group;
    }
    group.add(max, tsNs, extra);
  }

  /** Every held row in key order; forgets them. */
  take(): PackedAdvances {
    const out: PackedAdvances = {
      count: this.pending,
      numbers: new Float64Array(this.pending * ADVANCE_WIDTH),
      ts: new BigInt64Array(this.pending),
    };
    const keys = [...this.groups.keys()].sort((a, b) => a - b);
    let r = 0;
    for (const key of keys) {
      const flow = Math.floor(key / 2);
      const dir = key % 2;
      const group = this.groups.get(key)!;
      const { n, numbers, times } = group;
      const order = group.inOrder ? null : keyOrder(group);
      for (let j = 0; j < n; j++, r++) {
        const i = order === null ? j : order[j];
        let p = r * ADVANCE_WIDTH;
        out.numbers[p++] = flow;
        out.numbers[p++] = dir;
        out.numbers[p++] = numbers[i * 2];
        out.numbers[p] = numbers[i * 2 + 1];
        out.ts[r] = times[i];
      }
    }
    this.groups.clear();
    this.lastKey = -1;
    this.lastGroup = null;
    this.pending = 0;
    return out;
  }
}
