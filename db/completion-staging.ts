/**
 * Completions of an upload staged while it is still arriving, then stored in one
 * statement: the ingest worker's store (recording/completion-ingest.ts).
 *
 * Rows go into a TEMP table as their batches arrive (a connection's temp database: no
 * lock on the session database, so a slow upload never holds up a live capture's frame
 * writer); at the end ONE IMMEDIATE transaction resolves the upload's flow keys and
 * copies the rows with INSERT … SELECT — SQLite's own loop, no parameter bound per row —
 * then checks duplicates that differ (409, as db/completions.ts storeCompletions does).
 * All or nothing, idempotent by (session, flow, writeId), rows stored in upload order:
 * the same contract as storeCompletions, which the other writers keep using.
 *
 * Why split: staging binds the parameters (about half of an insert's CPU) while the
 * request thread is still parsing, and the write lock is held only for the copy.
 *
 * Packed (the default where the SQLite extension db/native/packed_completions.c is
 * built): no row is bound at all. Each batch stays as the ArrayBuffer it arrived in, and
 * the commit hands SQLite each batch as ONE BLOB read by the table-valued function
 * packed_completions: INSERT … SELECT straight from it, the same transaction, the same
 * checks. Binding ~22 parameters a row and writing then reading the temp table were most
 * of the worker's CPU per record (bench/ingest.ts). ACKSCOPE_INGEST_PACKED=0, or an
 * extension that is not built, keeps the temp-table path above.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './connection.js';
import { loadNativeExtension } from './native-extension.js';
import { INT_WIDTH, TEXT_WIDTH, packedBuffer, type PackedCompletions } from '../core/completion-columns.js';
import type { CompletionRow } from '../core/completion.js';
import { checkSameRecord, type StoreResult } from './completions.js';

/** Staged row ids: upload slot · 2^32 + record index (a range per upload, as frame ids are per session). */
const SLOT_SPAN = 0x1_0000_0000;

/** Staged columns after id and flow, in PackedCompletions order: the ints, then ns and texts placed as named. */
const STAGED = [
  'write_id', 'offset_start', 'offset_end', 'bytes_reported', 'buffers', 'write_returned', 'writable_length',
  'tcp_bytes_sent', 'tcp_bytes_acked', 'tcp_notsent_bytes', 'tcp_unacked', 'tcp_bytes_retrans', 'tcp_rtt_us', 'tcp_info_from',
  'submitted_ns', 'completed_ns', 'api', 'status', 'immediate', 'extra',
] as const;
const STAGED_WIDTH = STAGED.length + 2;
/** Rows per staging INSERT, largest first (22 parameters a row: 1000 rows stay below SQLite's 32766). */
const STAGE_ROWS = [1000, 50, 1] as const;

/** completions' columns filled by the copy, and where each comes from. */
const COPY: [string, string][] = [
  ['session_id', '@session'],
  ['src_addr', 'f.src_addr'],
  ['src_port', 'f.src_port'],
  ['dst_addr', 'f.dst_addr'],
  ['dst_port', 'f.dst_port'],
  ...STAGED.map((c): [string, string] => [c, `s.${c}`]),
  ['flow_key', 'f.flow_key'],
];

interface Statements {
  /** The packed path's copy and conflict check of one batch (null: the extension is not loaded here). */
  packedCopy: Statement | null;
  packedConflicts: Statement | null;
  stage: Statement[];
  stageFlow: Statement;
  copy: Statement;
  conflicts: Statement;
  dropRange: Statement;
  dropFlows: Statement;
  truncate: Statement;
  truncateFlows: Statement;
  addFlow: Statement;
  flowKey: Statement;
}
const cache = new WeakMap<Db, Statements>();

function statements(db: Db): Statements {
  let s = cache.get(db);
  if (s) return s;
  db.exec(`
    CREATE TEMP TABLE IF NOT EXISTS completion_staging (
      id INTEGER PRIMARY KEY, flow INTEGER NOT NULL,
      write_id INTEGER, offset_start INTEGER, offset_end INTEGER, bytes_reported INTEGER, buffers INTEGER,
      write_returned INTEGER, writable_length INTEGER, tcp_bytes_sent INTEGER, tcp_bytes_acked INTEGER,
      tcp_notsent_bytes INTEGER, tcp_unacked INTEGER, tcp_bytes_retrans INTEGER, tcp_rtt_us INTEGER,
      tcp_info_from INTEGER, submitted_ns INTEGER, completed_ns INTEGER, api TEXT, status TEXT, immediate TEXT, extra TEXT);
    CREATE TEMP TABLE IF NOT EXISTS completion_staging_flows (
      id INTEGER PRIMARY KEY, flow_key INTEGER NOT NULL, src_addr TEXT, src_port INTEGER, dst_addr TEXT, dst_port INTEGER);
  `);
  const row = `(${new Array(STAGED_WIDTH).fill('?').join(', ')})`;
  const sameKey = `FROM temp.completion_staging s JOIN temp.completion_staging_flows f ON f.id = @flowBase + s.flow`;
  const range = 's.id BETWEEN @first AND @last';
  const packed = loadNativeExtension(db, 'packed_completions');
  // the batch's rows as `s` (same column names as the temp table), flows joined as above
  const packedKey = `FROM packed_completions(@first, @packed, @strings, @extras, @count) s
    JOIN temp.completion_staging_flows f ON f.id = @flowBase + s.flow`;
  s = {
    packedCopy: packed
      ? db.prepare(
          `INSERT INTO main.completions (${COPY.map(([c]) => c).join(', ')})
           SELECT ${COPY.map(([, from]) => from).join(', ')} ${packedKey} WHERE true ORDER BY s.record
           ON CONFLICT (session_id, flow_key, write_id) DO NOTHING`,
        )
      : null,
    packedConflicts: packed
      ? db
          .prepare(
            `SELECT s.record AS record_index, f.src_addr AS posted_src_addr, f.src_port AS posted_src_port,
                    f.dst_addr AS posted_dst_addr, f.dst_port AS posted_dst_port, ${STAGED.map((c) => `s.${c} AS posted_${c}`).join(', ')}, c.*
             ${packedKey}
             JOIN main.completions c ON c.session_id = @session AND c.flow_key = f.flow_key AND c.write_id = s.write_id
             WHERE (${COPY.slice(1, -1).map(([c, from]) => `c.${c} IS NOT ${from}`).join(' OR ')})
             ORDER BY s.record`,
          )
          .safeIntegers(true)
      : null,
    stage: STAGE_ROWS.map((n) =>
      db.prepare(`INSERT INTO temp.completion_staging (id, flow, ${STAGED.join(', ')}) VALUES ${new Array(n).fill(row).join(', ')}`),
    ),
    stageFlow: db.prepare(
      'INSERT INTO temp.completion_staging_flows (id, flow_key, src_addr, src_port, dst_addr, dst_port) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    // WHERE before ON CONFLICT: SQLite's grammar needs it there to read the upsert
    copy: db.prepare(
      `INSERT INTO main.completions (${COPY.map(([c]) => c).join(', ')})
       SELECT ${COPY.map(([, from]) => from).join(', ')} ${sameKey} WHERE ${range} ORDER BY s.id
       ON CONFLICT (session_id, flow_key, write_id) DO NOTHING`,
    ),
    // Records whose key was already stored (before, or earlier in this upload) with a
    // different value somewhere: in upload order, the first is the one named in the 409.
    conflicts: db
      .prepare(
        `SELECT s.id - @first AS record_index, f.src_addr AS posted_src_addr, f.src_port AS posted_src_port,
                f.dst_addr AS posted_dst_addr, f.dst_port AS posted_dst_port, ${STAGED.map((c) => `s.${c} AS posted_${c}`).join(', ')}, c.*
         ${sameKey}
         JOIN main.completions c ON c.session_id = @session AND c.flow_key = f.flow_key AND c.write_id = s.write_id
         WHERE ${range} AND (${COPY.slice(1, -1).map(([c, from]) => `c.${c} IS NOT ${from}`).join(' OR ')})
         ORDER BY s.id`,
      )
      .safeIntegers(true),
    dropRange: db.prepare('DELETE FROM temp.completion_staging WHERE id BETWEEN ? AND ?'),
    dropFlows: db.prepare('DELETE FROM temp.completion_staging_flows WHERE id BETWEEN ? AND ?'),
    // no WHERE: SQLite's truncate, when no other upload is staged
    truncate: db.prepare('DELETE FROM temp.completion_staging'),
    truncateFlows: db.prepare('DELETE FROM temp.completion_staging_flows'),
    addFlow: db.prepare(
      `INSERT INTO completion_flows (session_id, src_addr, src_port, dst_addr, dst_port) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    ),
    flowKey: db
      .prepare('SELECT id FROM completion_flows WHERE session_id = ? AND src_addr = ? AND src_port = ? AND dst_addr = ? AND dst_port = ?')
      .pluck(),
  };
  cache.set(db, s);
  return s;
}

/** Upload slots in use, per connection (a slot's id range is reused once it is free). */
const slotsInUse = new WeakMap<Db, Set<number>>();

/** One upload being staged on `db` (any connection to the session database; its own temp tables). */
export class CompletionStaging {
  private readonly s: Statements;
  private readonly slot: number;
  private readonly base: number;
  private readonly flows: { srcAddr: string; srcPort: number; dstAddr: string; dstPort: number }[] = [];
  private readonly texts: string[] = [];
  private readonly params: unknown[] = new Array(STAGE_ROWS[0] * STAGED_WIDTH);
  private rows = 0;
  private open = true;
  /** Packed: the batches as they arrived, stored at commit (null: staged in the temp table). */
  private readonly batches: PackedCompletions[] | null;

  /** `packed`: false stages in the temp table even where the extension is loaded (the witness in tests, the anchor in bench/ingest.ts). */
  constructor(
    private readonly db: Db,
    private readonly sessionId: number,
    options: { packed?: boolean } = {},
  ) {
    this.s = statements(db);
    this.batches = this.s.packedCopy !== null && (options.packed ?? process.env.ACKSCOPE_INGEST_PACKED !== '0') ? [] : null;
    let inUse = slotsInUse.get(db);
    if (!inUse) slotsInUse.set(db, (inUse = new Set()));
    let slot = 1;
    while (inUse.has(slot)) slot++;
    inUse.add(slot);
    this.slot = slot;
    this.base = slot * SLOT_SPAN;
  }

  /** Whether this upload takes the packed path (no temp-table rows). */
  get packed(): boolean {
    return this.batches !== null;
  }

  /** Stages one batch (its records follow the ones staged before). Runs in its own temp-database transaction. */
  add(b: PackedCompletions): void {
    if (b.first !== this.rows) throw new Error(`staging: batch starts at record ${b.first}, expected ${this.rows}`);
    for (const f of b.newFlows) this.flows.push(f);
    for (const t of b.newTexts) this.texts.push(t);
    if (this.batches !== null) {
      this.batches.push(b); // kept as it came: stored by commit() in one statement a batch
      this.rows += b.count;
      return;
    }
    const extras = new Map(b.extras);
    const { ints, ns, texts, flow } = b;
    const names = this.texts;
    const params = this.params;
    this.db.transaction(() => {
      let k = 0;
      while (k < b.count) {
        let size = 0;
        while (b.count - k < STAGE_ROWS[size]) size++;
        const n = STAGE_ROWS[size];
        params.length = n * STAGED_WIDTH;
        let p = 0;
        for (let r = k; r < k + n; r++) {
          params[p++] = this.base + b.first + r;
          params[p++] = flow[r];
          const at = r * INT_WIDTH;
          for (let c = 0; c < INT_WIDTH; c++) {
            const v = ints[at + c];
            params[p++] = v === v ? v : null; // NaN: null
          }
          params[p++] = ns[2 * r];
          params[p++] = ns[2 * r + 1];
          const t = r * TEXT_WIDTH;
          params[p++] = names[texts[t]];
          params[p++] = names[texts[t + 1]];
          params[p++] = texts[t + 2] < 0 ? null : names[texts[t + 2]];
          params[p++] = extras.get(r) ?? null;
        }
        this.s.stage[size].run(params);
        k += n;
      }
    })();
    this.rows += b.count;
  }

  /**
   * Stores every staged record in one IMMEDIATE transaction, or nothing (throws
   * ACKSCOPE_ERR_CONFLICT naming the first record that differs from a stored one with
   * the same key). The staged rows are dropped either way.
   */
  commit(): StoreResult {
    try {
      if (this.rows === 0) return { stored: 0, duplicates: 0 };
      const s = this.s;
      const range = { session: this.sessionId, flowBase: this.base, first: this.base, last: this.base + this.rows - 1 };
      return this.db
        .transaction(() => {
          this.flows.forEach((f, n) => {
            s.addFlow.run(this.sessionId, f.srcAddr, f.srcPort, f.dstAddr, f.dstPort);
            const key = s.flowKey.get(this.sessionId, f.srcAddr, f.srcPort, f.dstAddr, f.dstPort) as number;
            s.stageFlow.run(this.base + n, key, f.srcAddr, f.srcPort, f.dstAddr, f.dstPort);
          });
          if (this.batches !== null) return this.commitPacked(this.batches);
          const stored = s.copy.run(range).changes;
          if (stored < this.rows) {
            for (const c of s.conflicts.iterate(range) as Iterable<Record<string, unknown>>) {
              checkSameRecord(c, postedRow(c), Number(c.record_index));
            }
          }
          return { stored, duplicates: this.rows - stored };
        })
        .immediate();
    } finally {
      this.discard();
    }
  }

  /** The packed path of commit(), inside its transaction: each batch copied from its BLOB, then the 409 check in upload order. */
  private commitPacked(batches: PackedCompletions[]): StoreResult {
    const s = this.s;
    const strings = stringsBlob(this.texts);
    const params = batches.map((b) => {
      const { strings: withExtras, extras } = b.extras.length === 0 ? { strings, extras: null } : extrasOf(b, this.texts);
      return {
        session: this.sessionId,
        flowBase: this.base,
        first: b.first,
        packed: Buffer.from(packedBuffer(b)),
        strings: withExtras,
        extras,
        count: b.count,
      };
    });
    let stored = 0;
    for (const p of params) stored += s.packedCopy!.run(p).changes;
    if (stored < this.rows) {
      for (const p of params) {
        for (const c of s.packedConflicts!.iterate(p) as Iterable<Record<string, unknown>>) {
          checkSameRecord(c, postedRow(c), Number(c.record_index));
        }
      }
    }
    return { stored, duplicates: this.rows - stored };
  }

  /** Drops what was staged (a refused upload; also done by commit). */
  discard(): void {
    if (!this.open) return;
    this.open = false;
    if (this.batches !== null) this.batches.length = 0;
    const inUse = slotsInUse.get(this.db)!;
    inUse.delete(this.slot);
    if (inUse.size === 0) {
      this.s.truncate.run();
      this.s.truncateFlows.run();
    } else {
      this.s.dropRange.run(this.base, this.base + SLOT_SPAN - 1);
      this.s.dropFlows.run(this.base, this.base + SLOT_SPAN - 1);
    }
  }
}

/** The posted record of a conflict row (its posted_* columns), as checkSameRecord compares it. */
function postedRow(c: Record<string, unknown>): CompletionRow {
  const num = (v: unknown) => (v === null ? null : Number(v));
  return {
    srcAddr: c.posted_src_addr as string,
    srcPort: Number(c.posted_src_port),
    dstAddr: c.posted_dst_addr as string,
    dstPort: Number(c.posted_dst_port),
    writeId: Number(c.posted_write_id),
    offsetStart: Number(c.posted_offset_start),
    offsetEnd: Number(c.posted_offset_end),
    submittedNs: c.posted_submitted_ns as bigint,
    completedNs: c.posted_completed_ns as bigint,
    bytesReported: Number(c.posted_bytes_reported),
    api: c.posted_api as string,
    buffers: Number(c.posted_buffers),
    status: c.posted_status as string,
    writeReturned: num(c.posted_write_returned),
    immediate: c.posted_immediate as string | null,
    writableLength: num(c.posted_writable_length),
    tcpBytesSent: num(c.posted_tcp_bytes_sent),
    tcpBytesAcked: num(c.posted_tcp_bytes_acked),
    tcpNotsentBytes: num(c.posted_tcp_notsent_bytes),
    tcpUnacked: num(c.posted_tcp_unacked),
    tcpBytesRetrans: num(c.posted_tcp_bytes_retrans),
    tcpRttUs: num(c.posted_tcp_rtt_us),
    tcpInfoFrom: num(c.posted_tcp_info_from),
    extra: c.posted_extra as string | null,
  };
}

// --- the packed path's extension and BLOBs ------------------------------------------------

/** The upload's texts as packed_completions reads them: a little-endian uint32 byte length, then the UTF-8 bytes, each. */
function stringsBlob(texts: readonly string[], more: readonly string[] = []): Buffer {
  const all = more.length === 0 ? texts : [...texts, ...more];
  const bytes = all.map((t) => Buffer.from(t, 'utf8'));
  const out = Buffer.allocUnsafe(bytes.reduce((n, b) => n + 4 + b.length, 0));
  let at = 0;
  for (const b of bytes) {
    out.writeUInt32LE(b.length, at);
    b.copy(out, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/** A batch with `extra` texts: they follow the upload's texts in its strings BLOB, and its extras column numbers them (-1: none). */
function extrasOf(b: PackedCompletions, texts: readonly string[]): { strings: Buffer; extras: Buffer } {
  const extras = new Int32Array(b.count).fill(-1);
  b.extras.forEach(([row], j) => (extras[row] = texts.length + j));
  return { strings: stringsBlob(texts, b.extras.map(([, text]) => text)), extras: Buffer.from(extras.buffer) };
}

