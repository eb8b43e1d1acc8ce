import type { Statement } from 'better-sqlite3';
import type { Db } from './connection.js';
import { AckscopeError } from '../core/errors.js';
import type { CompletionFilter, CompletionRow } from '../core/completion.js';
import { wallClockNs, type SessionTimeSpan } from '../core/time.js';
import { SESSION_FRAME_IDS_SQL } from '../core/frame-id.js';
import type { SessionRow } from './sessions.js';

export type { CompletionFilter };

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
  { column: 'tcp_info_from', field: 'tcpInfoFrom', api: 'tcpInfoFrom' },
  { column: 'extra', field: 'extra', api: 'extra' },
];
/** Inserted per row: session_id, the COLUMNS, then flow_key (006_completion_flow_keys.sql). */
const COLUMN_LIST = `session_id, ${COLUMNS.map((c) => c.column).join(', ')}, flow_key`;
const ROW_WIDTH = COLUMNS.length + 2;
/**
 * Columns most senders leave empty (Winsock's immediate, extra, a shared TCP_INFO
 * reading): a batch where all are null binds the LEAN list instead, 3 parameters fewer
 * per row (better-sqlite3 binds ~26 parameters per row; binding is a large part of the
 * ~3.5 µs an insert costs).
 */
const USUALLY_NULL = new Set<keyof CompletionRow>(['immediate', 'extra', 'tcpInfoFrom']);
const LEAN_COLUMNS = COLUMNS.filter((c) => !USUALLY_NULL.has(c.field));
const LEAN_COLUMN_LIST = `session_id, ${LEAN_COLUMNS.map((c) => c.column).join(', ')}, flow_key`;
const LEAN_ROW_WIDTH = LEAN_COLUMNS.length + 2;

/**
 * LEAN_COLUMNS of a row into params from p, written out: named property loads instead
 * of one keyed load per column (~0.1 µs a row). Returns the next p. A test checks that
 * it follows LEAN_COLUMNS.
 */
export function putLeanColumns(row: CompletionRow, params: unknown[], p: number): number {
  params[p++] = row.srcAddr;
  params[p++] = row.srcPort;
  params[p++] = row.dstAddr;
  params[p++] = row.dstPort;
  params[p++] = row.writeId;
  params[p++] = row.offsetStart;
  params[p++] = row.offsetEnd;
  params[p++] = row.submittedNs;
  params[p++] = row.completedNs;
  params[p++] = row.bytesReported;
  params[p++] = row.api;
  params[p++] = row.buffers;
  params[p++] = row.status;
  params[p++] = row.writeReturned;
  params[p++] = row.writableLength;
  params[p++] = row.tcpBytesSent;
  params[p++] = row.tcpBytesAcked;
  params[p++] = row.tcpNotsentBytes;
  params[p++] = row.tcpUnacked;
  params[p++] = row.tcpBytesRetrans;
  params[p++] = row.tcpRttUs;
  return p;
}

/** The lean column order, for the test of putLeanColumns. */
export const LEAN_FIELDS: readonly (keyof CompletionRow)[] = LEAN_COLUMNS.map((c) => c.field);

/**
 * Rows per INSERT statement, largest first: several rows per statement is ~1.4× one row
 * per statement in better-sqlite3 (docs/design-notes.md), and 1000 rows a statement cost ~0.4 µs
 * less per row than 50 (2.45 vs 2.85 µs CPU, 300k rows); 1000 × 26 parameters stays
 * below SQLite's limit of 32766. A batch's tail takes the smaller statements.
 */
const STATEMENT_ROWS = [1000, 50, 1] as const;
const ROWS_PER_STATEMENT = STATEMENT_ROWS[0];

interface Statements {
  /** By STATEMENT_ROWS index: all columns, and the lean list (null for one row). */
  full: Statement[];
  lean: (Statement | null)[];
  stored: Statement;
  addFlow: Statement;
  flowKey: Statement;
}
const statementCache = new WeakMap<Db, Statements>();

function insertStatement(db: Db, columnList: string, width: number, rows: number): Statement {
  const row = `(${new Array(width).fill('?').join(', ')})`;
  return db.prepare(
    `INSERT INTO completions (${columnList}) VALUES ${new Array(rows).fill(row).join(', ')}
     ON CONFLICT (session_id, flow_key, write_id) DO NOTHING`,
  );
}

function statements(db: Db): Statements {
  let s = statementCache.get(db);
  if (!s) {
    s = {
      full: STATEMENT_ROWS.map((n) => insertStatement(db, COLUMN_LIST, ROW_WIDTH, n)),
      lean: STATEMENT_ROWS.map((n) => (n === 1 ? null : insertStatement(db, LEAN_COLUMN_LIST, LEAN_ROW_WIDTH, n))),
      stored: db.prepare('SELECT * FROM completions WHERE session_id = ? AND flow_key = ? AND write_id = ?').safeIntegers(true),
      addFlow: db.prepare(
        `INSERT INTO completion_flows (session_id, src_addr, src_port, dst_addr, dst_port) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      flowKey: db
        .prepare(
          `SELECT id FROM completion_flows WHERE session_id = ? AND src_addr = ? AND src_port = ? AND dst_addr = ? AND dst_port = ?`,
        )
        .pluck(),
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
  const params: unknown[] = new Array(ROWS_PER_STATEMENT * ROW_WIDTH);
  const rowFlowKeys = new Float64Array(ROWS_PER_STATEMENT);
  const flows = new FlowKeys(s, sessionId);
  let stored = 0;

  const run = db.transaction(() => {
    let i = 0;
    while (i < rows.length) {
      let size = 0;
      while (rows.length - i < STATEMENT_ROWS[size]) size++;
      const n = STATEMENT_ROWS[size];
      let leanStmt = s.lean[size];
      for (let k = 0; leanStmt !== null && k < n; k++) {
        const row = rows[i + k];
        if (row.immediate !== null || row.extra !== null || row.tcpInfoFrom !== null) leanStmt = null;
      }
      const lean = leanStmt !== null;
      const stmt = leanStmt ?? s.full[size];
      const columns = lean ? LEAN_COLUMNS : COLUMNS;
      const width = columns.length;
      params.length = n * (width + 2);
      let p = 0;
      for (let k = 0; k < n; k++) {
        const row = rows[i + k];
        const flowKey = flows.keyOf(row);
        rowFlowKeys[k] = flowKey;
        params[p++] = sessionId;
        if (lean) {
          p = putLeanColumns(row, params, p);
        } else {
          for (let c = 0; c < width; c++) params[p++] = row[columns[c].field];
        }
        params[p++] = flowKey;
      }
      const changes = stmt.run(params).changes;
      stored += changes;
      // Fewer rows than given: some keys already existed. Each must equal what is stored.
      if (changes < n) {
        for (let k = 0; k < n; k++) checkSameAsStored(s.stored, sessionId, rowFlowKeys[k], rows[i + k], firstIndex + i + k);
      }
      i += n;
    }
  });
  run();
  return { stored, duplicates: rows.length - stored };
}

/**
 * A session's flow keys (completion_flows), made on first use and remembered for one
 * store only (a deleted session's keys may be reused). A request holds few flows: the
 * first ones are found by comparing the four fields, no string key per record.
 */
class FlowKeys {
  private readonly recent: { row: CompletionRow; key: number }[] = [];
  private readonly byText = new Map<string, number>();
  constructor(
    private readonly s: Statements,
    private readonly sessionId: number,
  ) {}

  keyOf(row: CompletionRow): number {
    const recent = this.recent;
    for (let i = 0; i < recent.length; i++) {
      const r = recent[i].row;
      if (row.srcPort === r.srcPort && row.dstPort === r.dstPort && row.srcAddr === r.srcAddr && row.dstAddr === r.dstAddr) {
        return recent[i].key;
      }
    }
    const text = `${row.srcAddr} ${row.srcPort} ${row.dstAddr} ${row.dstPort}`;
    let key = this.byText.get(text);
    if (key === undefined) {
      this.s.addFlow.run(this.sessionId, row.srcAddr, row.srcPort, row.dstAddr, row.dstPort);
      key = this.s.flowKey.get(this.sessionId, row.srcAddr, row.srcPort, row.dstAddr, row.dstPort) as number;
      this.byText.set(text, key);
      if (recent.length < 16) recent.push({ row, key });
    }
    return key;
  }
}

function checkSameAsStored(select: Statement, sessionId: number, flowKey: number, row: CompletionRow, index: number): void {
  const stored = select.get(sessionId, flowKey, row.writeId) as Record<string, unknown> | undefined;
  if (stored) checkSameRecord(stored, row, index);
}

/**
 * Throws ACKSCOPE_ERR_CONFLICT naming the first field in which `row` (record `index` of
 * the request) differs from the `stored` row (SQLite's column names) with its key.
 */
export function checkSameRecord(stored: Record<string, unknown>, row: CompletionRow, index: number): void {
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

/**
 * The times a session's completions must stay near (core/completion.ts checkNearSession):
 * its capture's first to last frame; a live session without frames yet, from its start
 * (or creation) to its stop (or now); a session without a capture, the completions it
 * already holds; null when it has none of these (the first records set the span).
 * Index look-ups, except the last case (an aggregate over the session's completions).
 */
export function sessionTimeSpan(db: Db, session: SessionRow): SessionTimeSpan | null {
  const bound = (order: 'ASC' | 'DESC') =>
    db
      .prepare(`SELECT ts_ns FROM frames WHERE ${SESSION_FRAME_IDS_SQL} ORDER BY id ${order} LIMIT 1`)
      .pluck()
      .safeIntegers(true)
      .get({ session: session.id }) as bigint | undefined;
  const first = bound('ASC');
  const last = bound('DESC');
  if (first !== undefined && last !== undefined) {
    return { startNs: first < last ? first : last, endNs: first < last ? last : first, from: 'capture' };
  }
  if (session.kind === 'live') {
    return { startNs: session.started_ns ?? session.created_ns, endNs: session.stopped_ns ?? wallClockNs(), from: 'live session' };
  }
  const [lo, hi] = db
    .prepare('SELECT min(submitted_ns), max(completed_ns) FROM completions WHERE session_id = ?')
    .raw(true)
    .safeIntegers(true)
    .get(session.id) as [bigint | null, bigint | null];
  return lo === null || hi === null ? null : { startNs: lo, endNs: hi, from: 'completions' };
}

/**
 * Removes one completion of a session (a record that should never have been posted).
 * Bumps the session's updated_ns past its last value, so a cached correlation is not
 * served again even if a new row takes the freed id within the same millisecond.
 */
export function deleteCompletion(db: Db, sessionId: number, completionId: number): boolean {
  return db.transaction(() => {
    const gone = db.prepare('DELETE FROM completions WHERE session_id = ? AND id = ?').run(sessionId, completionId).changes > 0;
    if (gone) {
      db.prepare('UPDATE sessions SET updated_ns = max(updated_ns + 1, ?) WHERE id = ?').run(wallClockNs(), sessionId);
    }
    return gone;
  })();
}
