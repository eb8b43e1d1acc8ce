/**
 * The writing half of the frame writer (db/frame-writer.ts): a batch the packer made
 * (capture/frame-packer.ts) becomes rows in ONE transaction — new flows, frames, SACK
 * blocks, retransmitted ranges, write tags, flow updates, the session's counters, and
 * the advance rows the batch carries (db/advances.ts; the packer holds them back for an
 * import, capture/advance-runs.ts). It runs on the thread that owns `db`: the caller's (live
 * capture, small imports) or the import's writer thread (recording/import-writer.ts).
 */
import type { Statement, Transaction } from 'better-sqlite3';
import type { Db } from './connection.js';
import { updateSession } from './sessions.js';
import { AdvanceInserts } from './advances.js';
import { FRAME_WIDTH, counterColumns, type PackedFrames } from '../capture/frame-packer.js';
import { ZERO_COUNTER_COLUMNS } from '../core/session-row.js';
import { FRAMES_PER_SESSION, frameIdRange } from '../core/frame-id.js';
import { sessionNotFound } from '../core/errors.js';
import { loadNativeExtension } from './native-extension.js';

/** Frames per multi-row INSERT: 100 rows per statement measured 1.4× one row per statement (docs/design-notes.md). */
const ROWS_PER_INSERT = 100;
const FRAME_COLUMNS = [
  'id', 'session_id', 'frame_no', 'flow_id', 'dir', 'ts_ns', 'caplen', 'wirelen', 'tcp_flags', 'seq_raw', 'ack_raw',
  'seq_off', 'payload_len', 'ack_off', 'window', 'retransmit', 'sent_max', 'acked_max', 'sent_advanced',
  'ack_advanced', 'sack_count', 'file_offset',
] as const;
/** Values bound per frame row: every column but session_id. */
const NCOL = FRAME_COLUMNS.length - 1;

export class FrameRowWriter {
  private readonly idBase: number;
  private readonly idBaseBig: bigint;
  private readonly idIsSafe: boolean;
  private readonly sentAdvances: AdvanceInserts;
  private readonly ackAdvances: AdvanceInserts;
  /** Database id of each flow number the packer gave (index: flow number). */
  private readonly flowIds: number[] = [0];
  /** flowIds as a BLOB of doubles (flowIdsBlob), null after flows were added. */
  private flowIdsPacked: Buffer | null = null;
  private readonly chunk: unknown[] = new Array(ROWS_PER_INSERT * NCOL);
  /** frames_total when the counters were last written into the sessions row. */
  private framesInSessionRow: number;
  private readonly insertFrameChunk: Statement;
  /** The batch's frames in one statement through packed_frames (db/native/); null: bound row by row. */
  private readonly insertPackedFrames: Statement | null;
  private readonly insertFrameStatements = new Map<number, Statement>();
  private readonly insertFlow: Statement;
  private readonly updateFlow: Statement;
  private readonly insertSack: Statement;
  private readonly insertTag: Statement;
  private readonly insertRetransmission: Statement;
  private readonly sessionExists: Statement;
  /**
   * Called as `.immediate`: the transaction begins with a read (does the session still
   * exist?), and a deferred one would then have to upgrade its read lock to a write lock,
   * which in WAL mode fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, no
   * busy wait) whenever another connection committed in between (the service ingesting
   * completions during a live capture). BEGIN IMMEDIATE takes the write lock first and
   * waits for it like any writer.
   */
  private readonly writeBatch: Transaction<(batch: PackedFrames) => void>;

  /**
   * `framesInSessionRow`: the session row's frames_total when the writer starts. `packed`:
   * frames go to SQLite as BLOBs through the packed_frames extension where it is built
   * (default; ACKSCOPE_FRAMES_PACKED=0 binds every row, the path it replaced).
   */
  constructor(
    private readonly db: Db,
    readonly sessionId: number,
    framesInSessionRow: number,
    packed = process.env.ACKSCOPE_FRAMES_PACKED !== '0',
  ) {
    this.framesInSessionRow = framesInSessionRow;
    this.sentAdvances = new AdvanceInserts(db, 'sent_advances', 'sent_max', 'seq_off', packed);
    this.ackAdvances = new AdvanceInserts(db, 'ack_advances', 'acked_max', null, packed);
    // frame ids: core/frame-id.ts; computed inline here because this is the per-frame hot path
    this.idBase = sessionId * FRAMES_PER_SESSION;
    this.idBaseBig = BigInt(sessionId) * BigInt(FRAMES_PER_SESSION);
    this.idIsSafe = Number.isSafeInteger(this.idBase + FRAMES_PER_SESSION);
    this.insertFrameChunk = this.frameInsert(ROWS_PER_INSERT);
    this.insertPackedFrames =
      packed && loadNativeExtension(db, 'packed_frames')
        ? db.prepare(
            `INSERT INTO frames (${FRAME_COLUMNS.join(', ')})
             SELECT ${FRAME_COLUMNS.map((c) => (c === 'session_id' ? String(sessionId) : c)).join(', ')}
             FROM packed_frames(@frames, @ts, @flowIds, @count, @idBase)`,
          )
        : null;
    this.insertFlow = db.prepare(
      `INSERT INTO flows (session_id, ip_version, a_addr, a_port, b_addr, b_port, first_ns, last_ns)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.updateFlow = db.prepare(
      `UPDATE flows SET a_isn = ?, b_isn = ?, a_syn_seen = ?, b_syn_seen = ?, a_mss = ?, b_mss = ?,
         a_wscale = ?, b_wscale = ?, sack_permitted = ?, last_ns = ?, frames = ?, a_bytes = ?, b_bytes = ?,
         retransmits = ?, closed = ? WHERE id = ?`,
    );
    this.insertSack = db.prepare(
      'INSERT INTO sacks (frame_id, flow_id, dir, ts_ns, left_off, right_off) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.insertTag = db.prepare(
      `INSERT OR REPLACE INTO tags (flow_id, dir, stream_off, write_id, claimed_off, claimed_len, frame_id, ts_ns)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.sessionExists = db.prepare('SELECT 1 FROM sessions WHERE id = ?').pluck();
    this.insertRetransmission = db.prepare(
      'INSERT INTO retransmissions (flow_id, dir, start_off, end_off, ts_ns, frame_id) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.writeBatch = db.transaction((batch: PackedFrames) => this.writeRows(batch));
  }

  /** Writes the batch in one transaction. SQLite errors (disk full) and a session deleted meanwhile throw. */
  write(batch: PackedFrames): void {
    this.writeBatch.immediate(batch);
  }

  private frameId(frameNo: number): number | bigint {
    return this.idIsSafe ? this.idBase + frameNo : this.idBaseBig + BigInt(frameNo);
  }

  private frameInsert(rows: number): Statement {
    // session_id is the same in every row: written into the statement, one value less to
    // bind per row (an integer of ours, safe in SQL text)
    const one = `(${FRAME_COLUMNS.map((c) => (c === 'session_id' ? String(this.sessionId) : '?')).join(', ')})`;
    return this.db.prepare(`INSERT INTO frames (${FRAME_COLUMNS.join(', ')}) VALUES ${new Array(rows).fill(one).join(', ')}`);
  }

  private writeRows(batch: PackedFrames): void {
    // inside the write transaction: a session deleted meanwhile (another connection, an
    // import refused too late) gets no more rows, which would otherwise outlive it
    if (this.sessionExists.get(this.sessionId) === undefined) throw sessionNotFound(this.sessionId);
    const flowIds = this.flowIds;
    if (batch.newFlows.length > 0) this.flowIdsPacked = null;
    for (const f of batch.newFlows) {
      // last_ns as first_ns, as when the flow's first frame arrives; the update below sets it
      const info = this.insertFlow.run(this.sessionId, f.ipVersion, f.aAddr, f.aPort, f.bAddr, f.bPort, f.firstNs, f.firstNs);
      flowIds[f.flow] = Number(info.lastInsertRowid);
    }
    this.writeFrames(batch);
    for (const s of batch.sacks) this.insertSack.run(this.frameId(s[0]), flowIds[s[1]], s[2], s[3], s[4], s[5]);
    for (const r of batch.retransmissions) this.insertRetransmission.run(flowIds[r[0]], r[1], r[2], r[3], r[4], this.frameId(r[5]));
    this.sentAdvances.write(batch.sentAdvances, flowIds, this.flowIdsBlob);
    this.ackAdvances.write(batch.ackAdvances, flowIds, this.flowIdsBlob);
    for (const t of batch.tags) this.insertTag.run(flowIds[t[0]], t[1], t[2], t[3], t[4], t[5], this.frameId(t[6]), t[7]);
    for (const u of batch.flowUpdates) {
      this.updateFlow.run(u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15], flowIds[u[0]]);
    }
    const c = batch.counters;
    // Every counter moves with a frame read: no new frame, nothing to write. A live
    // capture flushes every 100 ms, and rewriting the row (updated_ns) each time would
    // invalidate the correlation cache of an idle capture every 100 ms.
    if (c.frames === this.framesInSessionRow) return;
    this.framesInSessionRow = c.frames;
    updateSession(this.db, this.sessionId, counterColumns(c));
  }

  private writeFrames(batch: PackedFrames): void {
    if (this.insertPackedFrames) {
      this.writePackedFrames(this.insertPackedFrames, batch);
      return;
    }
    const { count, frames: v, ts } = batch;
    const flowIds = this.flowIds;
    const chunk = this.chunk;
    let k = 0;
    let rows = 0;
    for (let r = 0; r < count; r++) {
      let p = r * FRAME_WIDTH;
      const frameNo = v[p++];
      chunk[k++] = this.idIsSafe ? this.idBase + frameNo : this.idBaseBig + BigInt(frameNo);
      chunk[k++] = frameNo;
      chunk[k++] = flowIds[v[p++]];
      chunk[k++] = v[p++]; // dir
      chunk[k++] = ts[r];
      chunk[k++] = v[p++]; // caplen
      chunk[k++] = v[p++]; // wirelen
      chunk[k++] = v[p++]; // tcp_flags
      chunk[k++] = v[p++]; // seq_raw
      chunk[k++] = v[p++]; // ack_raw
      chunk[k++] = v[p++]; // seq_off
      chunk[k++] = v[p++]; // payload_len
      chunk[k++] = nullable(v[p++]); // ack_off
      chunk[k++] = v[p++]; // window
      chunk[k++] = v[p++]; // retransmit
      chunk[k++] = v[p++]; // sent_max
      chunk[k++] = nullable(v[p++]); // acked_max
      chunk[k++] = v[p++]; // sent_advanced
      chunk[k++] = v[p++]; // ack_advanced
      chunk[k++] = v[p++]; // sack_count
      chunk[k++] = nullable(v[p]); // file_offset
      if (++rows === ROWS_PER_INSERT) {
        // spread, not the array: better-sqlite3 reads call arguments faster than array
        // elements (1M frame rows: 2.5-2.6 -> 1.9-2.0 CPU-s of import, docs/import.md "Import speed")
        this.insertFrameChunk.run(...chunk);
        k = 0;
        rows = 0;
      }
    }
    if (rows > 0) {
      let stmt = this.insertFrameStatements.get(rows);
      if (!stmt) {
        stmt = this.frameInsert(rows);
        this.insertFrameStatements.set(rows, stmt);
      }
      stmt.run(chunk.slice(0, k));
    }
  }

  /**
   * The flows' database ids as packed_frames and packed_advances read them, made again only
   * when flows were added; a flow number the writer has no id for stays NaN, and the
   * extension refuses a batch naming it.
   */
  private readonly flowIdsBlob = (): Buffer => {
    if (!this.flowIdsPacked) {
      const ids = Float64Array.from({ length: this.flowIds.length }, (_, i) => this.flowIds[i] ?? NaN);
      this.flowIdsPacked = Buffer.from(ids.buffer);
    }
    return this.flowIdsPacked;
  };

  /** The batch's frames as three BLOBs read by packed_frames: no value bound per row (1 M frames: see docs/import.md). */
  private writePackedFrames(insert: Statement, batch: PackedFrames): void {
    const { count, frames, ts } = batch;
    insert.run({
      frames: Buffer.from(frames.buffer, frames.byteOffset, count * FRAME_WIDTH * 8),
      ts: Buffer.from(ts.buffer, ts.byteOffset, count * 8),
      flowIds: this.flowIdsBlob(),
      count,
      idBase: this.idIsSafe ? this.idBase : this.idBaseBig,
    });
  }
}

function nullable(v: number): number | null {
  return v !== v ? null : v; // NaN: SQL null
}

/** Deletes every row of a session in frames, flows and what hangs on them, and zeroes its counters (an import that failed). */
export function discardSessionFrames(db: Db, sessionId: number): void {
  db.transaction(() => {
    const ids = frameIdRange(sessionId);
    db.prepare('DELETE FROM frames WHERE id BETWEEN ? AND ?').run(ids.first, ids.last);
    // sacks, tags, retransmissions cascade; sent_advances, ack_advances go by trigger (005_frame_advances.sql)
    db.prepare('DELETE FROM flows WHERE session_id = ?').run(sessionId);
    updateSession(db, sessionId, ZERO_COUNTER_COLUMNS);
  })();
}
