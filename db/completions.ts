import type { Statement } from 'better-sqlite3';
import type { Db } from './connection.js';
import { AckscopeError } from '../service/errors.js';
import type { CompletionRow } from '../service/schemas/completion.js';

/** Columns in insert order: the validated record's field, and its name in the API (for messages). */
const COLUMNS: { column: string; field: keyof CompletionRow; api: string }[] = [
  { column: 'src_addr', field: 'srcAddr', api: 'flow.srcAddr' },
  { column: 'src_port', field: 'srcPort', api: 'flow.srcPort' },
  { column: 'dst_addr', field: 'dstAddr', api: 'flow.dstAddr' },
  { column: 'dst_port', field: 'dstPort', api: 'flow.dstPort' },
  { column: 'write_id', field: 'writeId', api: 'writeId' },
  { column: 'offset_start', field: 'offsetStart', api: 'offsetStart' },
  { column: 'offset_end', field: 'offsetEnd', api: 'offsetEnd' },
  { column: 'submitted_ns', field: 'submittedNs', api: 'submittedNs' },
  { column: 'completed_ns', field: 'completedNs', api: 'completedNs' },
  { column: 'bytes_reported', field: 'bytesReported', api: 'bytesReported' },
  { column: 'api', field: 'api', api: 'api' },
  { column: 'buffers', field: 'buffers', api: 'buffers' },
  { column: 'status', field: 'status', api: 'status' },
  { column: 'write_returned', field: 'writeReturned', api: 'writeReturned' },
  { column: 'immediate', field: 'immediate', api: 'immediate' },
  { column: 'writable_length', field: 'writableLength', api: 'writableLength' },
  { column: 'tcp_bytes_sent', field: 'tcpBytesSent', api: 'tcpInfo.bytesSent' },
  { column: 'tcp_bytes_acked', field: 'tcpBytesAcked', api: 'tcpInfo.bytesAcked' },
  { column: 'tcp_notsent_bytes', field: 'tcpNotsentBytes', api: 'tcpInfo.notsentBytes' },
  { column: 'tcp_unacked', field: 'tcpUnacked', api: 'tcpInfo.unacked' },
  { column: 'tcp_bytes_retrans', field: 'tcpBytesRetrans', api: 'tcpInfo.bytesRetrans' },
  { column: 'tcp_rtt_us', field: 'tcpRttUs', api: 'tcpInfo.rttUs' },
  { column: 'extra', field: 'extra', api: 'extra' },
];
const COLUMN_LIST = `session_id, ${COLUMNS.map((c) => c.column).join(', ')}`;

/**
 * Rows per INSERT statement: several rows per statement is ~1.4× one row per statement
 * in better-sqlite3 (DESIGN.md); 50 × 24 parameters stays far below SQLite's limit.
 */
const ROWS_PER_STATEMENT = 50;

interface Statements {
  many: Statement;
  one: Statement;
  stored: Statement;
}
const statementCache = new WeakMap<Db, Statements>();

function statements(db: Db): Statements {
  let s = statementCache.get(db);
  if (!s) {
    const row = `(${new Array(COLUMNS.length + 1).fill('?').join(', ')})`;
    const insert = (n: number) =>
      db.prepare(
        `INSERT INTO completions (${COLUMN_LIST}) VALUES ${new Array(n).fill(row).join(', ')}
         ON CONFLICT (session_id, src_addr, src_port, dst_addr, dst_port, write_id) DO NOTHING`,
      );
    s = {
      many: insert(ROWS_PER_STATEMENT),
      one: insert(1),
      stored: db
        .prepare(
          `SELECT * FROM completions WHERE session_id = ? AND src_addr = ? AND src_port = ?
             AND dst_addr = ? AND dst_port = ? AND write_id = ?`,
        )
        .safeIntegers(true),
    };
    statementCache.set(db, s);
  }
  return s;
}

export interface StoreResult {
  stored: number;
  duplicates: number;
}

/**
 * Stores validated records of one session in ONE transaction: all or nothing.
 * Idempotent by (session, flow, writeId): a record identical to a stored one is not
 * stored again (counted as a duplicate); one that differs is a conflict, and the whole
 * batch is refused with ACKSCOPE_ERR_CONFLICT naming the record's index (`firstIndex`
 * is the index of rows[0] in the request) and its writeId.
 */
export function storeCompletions(db: Db, sessionId: number, rows: readonly CompletionRow[], firstIndex = 0): StoreResult {
  const s = statements(db);
  const width = COLUMNS.length + 1;
  const params: unknown[] = new Array(ROWS_PER_STATEMENT * width);
  let stored = 0;

  const run = db.transaction(() => {
    let i = 0;
    while (i < rows.length) {
      const n = rows.length - i >= ROWS_PER_STATEMENT ? ROWS_PER_STATEMENT : 1;
      const stmt = n === ROWS_PER_STATEMENT ? s.many : s.one;
      if (n === 1) params.length = width;
      else params.length = ROWS_PER_STATEMENT * width;
      let p = 0;
      for (let k = 0; k < n; k++) {
        const row = rows[i + k];
        params[p++] = sessionId;
        for (let c = 0; c < COLUMNS.length; c++) params[p++] = row[COLUMNS[c].field];
      }
      const changes = stmt.run(params).changes;
      stored += changes;
      // Fewer rows than given: some keys already existed. Each must equal what is stored.
      if (changes < n) for (let k = 0; k < n; k++) checkSameAsStored(s.stored, sessionId, rows[i + k], firstIndex + i + k);
      i += n;
    }
  });
  run();
  return { stored, duplicates: rows.length - stored };
}

function checkSameAsStored(select: Statement, sessionId: number, row: CompletionRow, index: number): void {
  const stored = select.get(sessionId, row.srcAddr, row.srcPort, row.dstAddr, row.dstPort, row.writeId) as
    | Record<string, unknown>
    | undefined;
  if (!stored) return;
  for (const { column, field, api } of COLUMNS) {
    const have = stored[column];
    const want = row[field];
    const same = have === null || want === null ? have === want : String(have) === String(want);
    if (!same) {
      throw new AckscopeError(
        'ACKSCOPE_ERR_CONFLICT',
        `record ${index} (writeId ${row.writeId} of flow ${row.srcAddr}:${row.srcPort} → ${row.dstAddr}:${row.dstPort}) ` +
          `conflicts with a stored record with the same flow and writeId: ${api} is ${show(want)} here, ` +
          `${show(have)} stored. Nothing of this request was stored.`,
        { index, writeId: row.writeId, field: api },
      );
    }
  }
}

/** A stored or posted value in a message: null means the optional field is absent. */
function show(v: unknown): string {
  return v === null || v === undefined ? 'absent' : String(v);
}

export interface CompletionFilter {
  srcAddr?: string;
  srcPort?: number;
  dstAddr?: string;
  dstPort?: number;
  api?: string;
  status?: string;
  /** completed_ns ≥ fromNs */
  fromNs?: bigint;
  /** completed_ns < toNs */
  toNs?: bigint;
}

/** A stored row: integers as BigInt where they may pass 2^53 (ns), numbers elsewhere. */
export interface StoredCompletion extends CompletionRow {
  id: number;
}

/**
 * One page of a session's completions in row order (= the order they were posted),
 * after row id `afterId` (the cursor).
 */
export function listCompletions(
  db: Db,
  sessionId: number,
  filter: CompletionFilter,
  limit: number,
  afterId = 0,
): StoredCompletion[] {
  const where = ['session_id = @sessionId', 'id > @afterId'];
  const params: Record<string, unknown> = { sessionId, afterId, limit };
  const add = (sql: string, name: string, value: unknown) => {
    if (value === undefined) return;
    where.push(sql);
    params[name] = value;
  };
  add('src_addr = @srcAddr', 'srcAddr', filter.srcAddr);
  add('src_port = @srcPort', 'srcPort', filter.srcPort);
  add('dst_addr = @dstAddr', 'dstAddr', filter.dstAddr);
  add('dst_port = @dstPort', 'dstPort', filter.dstPort);
  add('api = @api', 'api', filter.api);
  add('status = @status', 'status', filter.status);
  add('completed_ns >= @fromNs', 'fromNs', filter.fromNs);
  add('completed_ns < @toNs', 'toNs', filter.toNs);
  const stmt = db
    .prepare(`SELECT * FROM completions WHERE ${where.join(' AND ')} ORDER BY session_id, id LIMIT @limit`)
    .safeIntegers(true);
  return (stmt.all(params) as Record<string, unknown>[]).map(fromStored);
}

const NS_COLUMNS = new Set(['submitted_ns', 'completed_ns']);

function fromStored(raw: Record<string, unknown>): StoredCompletion {
  const num = (column: string) => (raw[column] === null ? null : Number(raw[column]));
  const out: Record<string, unknown> = { id: Number(raw.id) };
  for (const { column, field } of COLUMNS) {
    const v = raw[column];
    out[field] = typeof v === 'bigint' && !NS_COLUMNS.has(column) ? num(column) : v;
  }
  return out as unknown as StoredCompletion;
}

/** How many completions a session has (for summaries and tests). */
export function countCompletions(db: Db, sessionId: number): number {
  const row = db.prepare('SELECT COUNT(*) AS n FROM completions WHERE session_id = ?').get(sessionId) as { n: number };
  return row.n;
}
