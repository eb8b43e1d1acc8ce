/**
 * Inserts rows of sent_advances / ack_advances (migrations/005_frame_advances.sql) as
 * capture/advance-runs.ts hands them out: in key order, one sorted run per (flow, dir),
 * so every insert lands at one place in the b-tree per run.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './connection.js';
import { ADVANCE_WIDTH, type PackedAdvances } from '../capture/advance-runs.js';
import { loadNativeExtension } from './native-extension.js';

/** Rows per multi-row INSERT, as for frames (db/frame-rows.ts). */
const ROWS_PER_INSERT = 100;

export class AdvanceInserts {
  private readonly ncol: number;
  private readonly bulk: Statement;
  private readonly tailStatements = new Map<number, Statement>();
  private readonly chunk: unknown[];
  /** The rows in one statement through packed_advances (db/native/packed_frames.c); null: bound row by row. */
  private readonly packedInsert: Statement | null;

  /**
   * Columns: flow_id, dir, `maxColumn`, ts_ns and, when given, `extraColumn`. `packed`:
   * rows go to SQLite as BLOBs where the extension is built (as the frames do, db/frame-rows.ts).
   * @param table sent_advances or ack_advances
   */
  constructor(
    private readonly db: Db,
    private readonly table: string,
    private readonly maxColumn: string,
    private readonly extraColumn: string | null,
    packed: boolean,
  ) {
    this.ncol = extraColumn === null ? 4 : 5;
    this.bulk = this.insert(ROWS_PER_INSERT);
    this.chunk = new Array(ROWS_PER_INSERT * this.ncol);
    const extra = extraColumn === null ? ['', ''] : [`, ${extraColumn}`, ', extra'];
    this.packedInsert =
      packed && loadNativeExtension(db, 'packed_frames')
        ? db.prepare(
            `INSERT OR IGNORE INTO ${table} (flow_id, dir, ${maxColumn}, ts_ns${extra[0]})
             SELECT flow_id, dir, max_off, ts_ns${extra[1]} FROM packed_advances(@numbers, @ts, @flowIds, @count)`,
          )
        : null;
  }

  /**
   * Inserts the rows in their order (inside the caller's transaction); `flowIds[n]` is flow
   * number n's id, `flowIdsBlob` the same as a BLOB of doubles (NaN: no id) for the packed path.
   */
  write(rows: PackedAdvances, flowIds: readonly number[], flowIdsBlob: () => Buffer): void {
    const { count, numbers, ts } = rows;
    if (count === 0) return;
    if (this.packedInsert) {
      this.packedInsert.run({
        numbers: Buffer.from(numbers.buffer, numbers.byteOffset, count * ADVANCE_WIDTH * 8),
        ts: Buffer.from(ts.buffer, ts.byteOffset, count * 8),
        flowIds: flowIdsBlob(),
        count,
      });
      return;
    }
    const withExtra = this.extraColumn !== null;
    const chunk = this.chunk;
    let k = 0;
    let inChunk = 0;
    for (let r = 0, p = 0; r < count; r++, p += ADVANCE_WIDTH) {
      chunk[k++] = flowIds[numbers[p]];
      chunk[k++] = numbers[p + 1];
      chunk[k++] = numbers[p + 2];
      chunk[k++] = ts[r];
      if (withExtra) chunk[k++] = numbers[p + 3];
      if (++inChunk === ROWS_PER_INSERT) {
        this.bulk.run(...chunk); // spread: faster to bind than an array (db/frame-rows.ts)
        k = 0;
        inChunk = 0;
      }
    }
    if (inChunk > 0) {
      let tail = this.tailStatements.get(inChunk);
      if (!tail) {
        tail = this.insert(inChunk);
        this.tailStatements.set(inChunk, tail);
      }
      tail.run(chunk.slice(0, k));
    }
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
