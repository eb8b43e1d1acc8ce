/**
 * Rows of sent_advances / ack_advances (migrations/005_frame_advances.sql) waiting to be
 * written, grouped by (flow, dir). Within a group they arrive in frame order, which is
 * key order (the maxima grow strictly) except for rows of bytes that filled a hole below
 * the maximum (capture/flow/holes.ts): such a group is sorted before writing. Writing the groups in (flow_id, dir)
 * order inserts the whole batch in primary-key order: each group is one sorted run at
 * one place in the b-tree, however the flows interleave in the capture.
 *
 * Held in typed arrays (24 bytes a row, nothing for the garbage collector to trace):
 * holding 1M rows as JS arrays cost ~0.25 s of extra garbage collection per 1M frames.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './connection.js';

/** Rows per multi-row INSERT, as for frames (db/frame-writer.ts). */
const ROWS_PER_INSERT = 100;
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

export class PendingAdvances {
  /** Rows held, all groups together. */
  pending = 0;
  /** key flowId * 2 + dir → its rows */
  private readonly groups = new Map<number, Group>();
  private lastKey = -1;
  private lastGroup: Group | null = null;
  private readonly ncol: number;
  private readonly bulk: Statement;
  private readonly tailStatements = new Map<number, Statement>();
  private readonly chunk: unknown[];

  /**
   * Columns: flow_id, dir, `maxColumn`, ts_ns and, when given, `extraColumn`.
   * @param table sent_advances or ack_advances
   */
  constructor(
    private readonly db: Db,
    private readonly table: string,
    private readonly maxColumn: string,
    private readonly extraColumn: string | null,
  ) {
    this.ncol = extraColumn === null ? 4 : 5;
    this.bulk = this.insert(ROWS_PER_INSERT);
    this.chunk = new Array(ROWS_PER_INSERT * this.ncol);
  }

  /** One row; `extra` is ignored by a table without an extra column. */
  add(flowId: number, dir: number, max: number, tsNs: bigint, extra = 0): void {
    this.pending++;
    const key = flowId * 2 + dir;
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

  /** Inserts every held row in key order (inside the caller's transaction) and forgets them. */
  write(): void {
    if (this.pending === 0) return;
    const keys = [...this.groups.keys()].sort((a, b) => a - b);
    const withExtra = this.extraColumn !== null;
    const chunk = this.chunk;
    let k = 0;
    let rows = 0;
    for (const key of keys) {
      const flowId = Math.floor(key / 2);
      const dir = key % 2;
      const group = this.groups.get(key)!;
      const { n, numbers, times } = group;
      const order = group.inOrder ? null : keyOrder(group);
      for (let r = 0; r < n; r++) {
        const i = order === null ? r : order[r];
        chunk[k++] = flowId;
        chunk[k++] = dir;
        chunk[k++] = numbers[i * 2];
        chunk[k++] = times[i];
        if (withExtra) chunk[k++] = numbers[i * 2 + 1];
        if (++rows === ROWS_PER_INSERT) {
          this.bulk.run(...chunk); // spread: faster to bind than an array (db/frame-writer.ts)
          k = 0;
          rows = 0;
        }
      }
    }
    if (rows > 0) {
      let tail = this.tailStatements.get(rows);
      if (!tail) {
        tail = this.insert(rows);
        this.tailStatements.set(rows, tail);
      }
      tail.run(chunk.slice(0, k));
    }
    this.discard();
  }

  /** Forgets the held rows without writing them. */
  discard(): void {
    this.groups.clear();
    this.lastKey = -1;
    this.lastGroup = null;
    this.pending = 0;
  }

  private insert(rows: number): Statement {
    const columns = ['flow_id', 'dir', this.maxColumn, 'ts_ns'];
    if (this.extraColumn !== null) columns.push(this.extraColumn);
    const one = `(${columns.map(() => '?').join(', ')})`;
    // OR IGNORE: a repeated key would mean two first transmissions of one byte; keep the
    // earlier row rather than fail a live capture over it
    return this.db.prepare(`INSERT OR IGNORE INTO ${this.table} (${columns.join(', ')}) VALUES ${new Array(rows).fill(one).join(', ')}`);
  }
}
