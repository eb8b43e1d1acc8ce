/**
 * The SQL reads the correlation makes, with named columns (analysis/correlation.ts runs
 * them; correlate/ holds the pure rules).
 *
 * Everything is read inside ONE read transaction (one consistent WAL snapshot, no
 * per-statement locking). EXPLAIN QUERY PLAN of each statement (explainCorrelation();
 * bench/correlate.ts prints it again):
 *   sentRun/ackRun  CO-ROUTINE; SEARCH sent_advances / ack_advances USING PRIMARY KEY (flow_id=? AND dir=? AND sent_max>?)
 *   sentRange/ackRange  SEARCH sent_advances / ack_advances USING PRIMARY KEY (flow_id=? AND dir=? AND sent_max>? AND sent_max<?)
 *   sentLast/ackLast    SEARCH sent_advances / ack_advances USING PRIMARY KEY (flow_id=? AND dir=?)
 *   firstSent       SEARCH sent_advances USING PRIMARY KEY (flow_id=? AND dir=? AND sent_max>?)
 *   firstAck        SEARCH ack_advances USING PRIMARY KEY (flow_id=? AND dir=? AND acked_max>?)
 *   lowSent/lowAck  SEARCH sent_advances / ack_advances USING PRIMARY KEY (flow_id=? AND dir=?)
 *   sacksOfSide     SEARCH sacks USING INDEX sacks_by_time (flow_id=? AND dir=?)
 *   retransOfSide   SEARCH retransmissions USING INDEX retransmissions_by_flow (flow_id=? AND dir=?)
 *   tags            SEARCH tags USING PRIMARY KEY (flow_id=? AND dir=?)
 *   nextUnkeyedPair SEARCH completions USING INDEX completions_unkeyed (session_id=? AND (src_addr,src_port,dst_addr,dst_port)>(?,?,?,?))
 *   keyedPairs      SEARCH completion_flows USING COVERING INDEX sqlite_autoindex_completion_flows_1
 *   unkeyedRun      SEARCH completions USING INDEX completions_unkeyed (session_id=? AND src_addr=? AND ... AND write_id>?)
 *   keyedRun        SEARCH completions USING INDEX sqlite_autoindex_completions_1 (session_id=? AND flow_key=? AND write_id>?)
 *   completions     (the reference, and a session with a kernel witness) SEARCH completions
 *                   USING INDEX completions_by_session_row + TEMP B-TREE FOR ORDER BY
 *   first/lastFrame SEARCH frames USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)
 * The "first frame reaching X" questions (first and last byte sent, end acknowledged) are
 * answered by a merge walk over runs of each flow direction's advances (AdvanceWalk,
 * sentRun/ackRun), falling back to one index seek per question (firstSent/firstAck) where
 * the writes are sparse; FirstReaching asks one seek per question always (the reference,
 * `reads: 'seek'`). The rest runs once per session or flow direction. SACK blocks and
 * retransmitted ranges exist only around losses, so they are read once per flow direction
 * and searched in memory (correlate/evidence.ts): as separate per-completion queries they
 * doubled the correlation time.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './connection.js';
import { loadNativeExtension } from './native-extension.js';
import type { SessionRow } from './sessions.js';
import { SESSION_FRAME_IDS_SQL } from '../core/frame-id.js';
import { AckscopeError } from '../core/errors.js';
import type { FrameHit } from '../correlate/types.js';
import type { TagRow } from '../correlate/ordering.js';
import type { KernelMoments } from '../correlate/ladder.js';
import { correlationFingerprint, type CompletionForCorrelation, type FlowInfo } from '../correlate/inputs.js';

export type { CompletionForCorrelation, FlowInfo };
import type { Retransmits, SackBlocks } from '../correlate/evidence.js';


type Row = unknown[];

const SESSION_FRAMES = SESSION_FRAME_IDS_SQL;

/** The columns of a run of completions, in the order completionsInRuns reads them; api and status are text. */
const RUN_COLUMNS = [
  'id',
  'write_id',
  'offset_start',
  'offset_end',
  'submitted_ns - @base',
  'completed_ns - @base',
  'bytes_reported',
  'api',
  'status',
  'buffers',
  'tcp_bytes_sent',
  'tcp_bytes_acked',
];
/** The table columns the run's subquery hands up: only these (`SELECT *` copied all 27 per row, ~0.2 µs of 1 µs). */
const RUN_SOURCE = 'id, write_id, offset_start, offset_end, submitted_ns, completed_ns, bytes_reported, api, status, buffers, tcp_bytes_sent, tcp_bytes_acked';
const TEXT_COLUMNS = new Set(['api', 'status']);
/** A run of completions, one JSON array per column. */
const RUN_JSON = RUN_COLUMNS.map((c) => `json_group_array(${c})`).join(', ');
const NUMERIC_COLUMNS = RUN_COLUMNS.filter((c) => !TEXT_COLUMNS.has(c));
/**
 * The same run packed: the numeric columns as one BLOB, column after column (f64_pack,
 * db/native/packed_columns.c; one call per row for all of them), then the text ones as JSON.
 */
const RUN_PACKED = [`f64_pack(${NUMERIC_COLUMNS.join(', ')})`, ...RUN_COLUMNS.filter((c) => TEXT_COLUMNS.has(c)).map((c) => `json_group_array(${c})`)].join(', ');

/** Every statement of the correlation; the bench and a test print their query plans. */
export const CORRELATION_SQL = {
  firstFrame: `SELECT ts_ns FROM frames WHERE ${SESSION_FRAMES} ORDER BY id ASC LIMIT 1`,
  lastFrame: `SELECT ts_ns FROM frames WHERE ${SESSION_FRAMES} ORDER BY id DESC LIMIT 1`,
  maxFrameId: `SELECT max(id) FROM frames WHERE ${SESSION_FRAMES}`,
  // the median, not the minimum: one record with a wrong clock must not move the base
  // every other time is counted from (a session without frames)
  medianSubmitted: `SELECT submitted_ns FROM completions WHERE session_id = @session ORDER BY submitted_ns
      LIMIT 1 OFFSET @skip`,
  completionCount: 'SELECT count(*), max(id) FROM completions WHERE session_id = @session',
  flows: `SELECT id, ip_version, a_addr, a_port, b_addr, b_port, a_syn_seen, b_syn_seen,
            first_ns - @base, last_ns - @base, frames, retransmits, closed
       FROM flows WHERE session_id = @session ORDER BY id`,
  // the kernel tracer's witness, when there is one (007_kernel_witness.sql)
  completions: `SELECT c.id, c.src_addr, c.src_port, c.dst_addr, c.dst_port, c.write_id, c.offset_start, c.offset_end,
            c.submitted_ns - @base, c.completed_ns - @base, c.bytes_reported, c.api, c.status, c.buffers,
            c.tcp_bytes_sent, c.tcp_bytes_acked, k.completion_id,
            k.qdisc_in_ns - @base, k.qdisc_out_ns - @base, k.driver_ns - @base, k.ack_arrived_ns - @base,
            k.ack_processed_ns - @base, k.retransmitted
       FROM completions c LEFT JOIN kernel_witness k ON k.completion_id = c.id
      WHERE c.session_id = @session
      ORDER BY c.src_addr, c.src_port, c.dst_addr, c.dst_port, c.write_id`,
  // The same order in runs of one address pair (completionsInRuns, no sort): the pairs
  // of rows without a key through the partial index completions_unkeyed, one index seek
  // per pair (a DISTINCT read every row), and those of posted rows from completion_flows;
  // then each pair's rows by write id, a run of up to @n at a time, one JSON array per
  // column (a value costs ~0.09 µs so, ~0.2 µs in a row array: 1 M completions took
  // ~3.5 s CPU as rows, 0.3 s of it SQLite's).
  nextUnkeyedPair: `SELECT src_addr, src_port, dst_addr, dst_port FROM completions
      WHERE session_id = @session AND flow_key IS NULL
        AND (src_addr, src_port, dst_addr, dst_port) > (@srcAddr, @srcPort, @dstAddr, @dstPort)
      ORDER BY src_addr, src_port, dst_addr, dst_port LIMIT 1`,
  keyedPairs: `SELECT id, src_addr, src_port, dst_addr, dst_port FROM completion_flows
      WHERE session_id = @session ORDER BY 2, 3, 4, 5`,
  unkeyedRun: `SELECT ${RUN_JSON} FROM (SELECT ${RUN_SOURCE} FROM completions
      WHERE session_id = @session AND flow_key IS NULL AND src_addr = @srcAddr AND src_port = @srcPort
        AND dst_addr = @dstAddr AND dst_port = @dstPort AND write_id > @after
      ORDER BY write_id LIMIT @n)`,
  keyedRun: `SELECT ${RUN_JSON} FROM (SELECT ${RUN_SOURCE} FROM completions
      WHERE session_id = @session AND flow_key = @key AND write_id > @after
      ORDER BY write_id LIMIT @n)`,
  // the witness rows within the session's completion ids, each checked for its session:
  // nothing to read when there is no witness (a join from completions read them all)
  hasKernelWitness: `SELECT EXISTS (SELECT 1 FROM kernel_witness k
      WHERE k.completion_id BETWEEN (SELECT min(id) FROM completions WHERE session_id = @session)
                                AND (SELECT max(id) FROM completions WHERE session_id = @session)
        AND EXISTS (SELECT 1 FROM completions c WHERE c.id = k.completion_id AND c.session_id = @session))`,
  // sent_advances / ack_advances (005_frame_advances.sql) hold exactly the frames whose
  // sent_advanced / ack_advanced flag is 1, keyed by the maximum they reached.
  firstSent: `SELECT sent_max, ts_ns - @base, seq_off FROM sent_advances
      WHERE flow_id = @flow AND dir = @dir AND sent_max >= @x
      ORDER BY sent_max LIMIT 1`,
  firstAck: `SELECT acked_max, ts_ns - @base, 0 FROM ack_advances
      WHERE flow_id = @flow AND dir = @dir AND acked_max >= @x
      ORDER BY acked_max LIMIT 1`,
  // The same rows in runs (AdvanceWalk): up to @n rows from the first that reaches @x,
  // one JSON array per column, in key order (the subquery's).
  sentRun: `SELECT json_group_array(sent_max), json_group_array(ts), json_group_array(seq_off)
       FROM (SELECT sent_max, ts_ns - @base AS ts, seq_off FROM sent_advances
              WHERE flow_id = @flow AND dir = @dir AND sent_max >= @x ORDER BY sent_max LIMIT @n)`,
  ackRun: `SELECT json_group_array(acked_max), json_group_array(ts), NULL
       FROM (SELECT acked_max, ts_ns - @base AS ts FROM ack_advances
              WHERE flow_id = @flow AND dir = @dir AND acked_max >= @x ORDER BY acked_max LIMIT @n)`,
  // The same rows by key range instead of count, [@x, @y): no subquery, so SQLite aggregates
  // straight off its range scan (the LIMIT needs one: ~25% of the run's SQLite time).
  // AdvanceWalk uses them once a run has told it how many bytes a row spans.
  sentRange: `SELECT json_group_array(sent_max), json_group_array(ts_ns - @base), json_group_array(seq_off) FROM sent_advances
      WHERE flow_id = @flow AND dir = @dir AND sent_max >= @x AND sent_max < @y`,
  ackRange: `SELECT json_group_array(acked_max), json_group_array(ts_ns - @base), NULL FROM ack_advances
      WHERE flow_id = @flow AND dir = @dir AND acked_max >= @x AND acked_max < @y`,
  sentLast: 'SELECT max(sent_max) FROM sent_advances WHERE flow_id = @flow AND dir = @dir',
  ackLast: 'SELECT max(acked_max) FROM ack_advances WHERE flow_id = @flow AND dir = @dir',
  lowSent: `SELECT seq_off, ts_ns - @base FROM sent_advances
      WHERE flow_id = @flow AND dir = @dir ORDER BY sent_max LIMIT 1`,
  lowAck: `SELECT acked_max, ts_ns - @base FROM ack_advances
      WHERE flow_id = @flow AND dir = @dir ORDER BY acked_max LIMIT 1`,
  // SACK blocks and retransmitted frames are rare (loss recovery only): read once per
  // flow direction through their indexes, then searched in memory per completion.
  sacksOfSide: `SELECT ts_ns - @base, left_off, right_off FROM sacks
      WHERE flow_id = @flow AND dir = @dir ORDER BY ts_ns`,
  // the bytes seen before of each retransmitting frame (008_retransmissions_and_ids.sql)
  retransOfSide: `SELECT start_off, end_off - start_off FROM retransmissions
      WHERE flow_id = @flow AND dir = @dir ORDER BY start_off`,
  tags: `SELECT stream_off, write_id, claimed_off, claimed_len, ts_ns - @base FROM tags
      WHERE flow_id = @flow AND dir = @dir ORDER BY stream_off`,
  tagDirs: 'SELECT DISTINCT dir FROM tags WHERE flow_id = @flow',
} as const;
export type StatementName = keyof typeof CORRELATION_SQL;

/**
 * The runs again, their numbers packed by f64_pack (db/native/packed_columns.c) instead of
 * formatted as JSON text: the same rows in the same order, read where the extension loads
 * (packedRunsAvailable). On the 10 M-frame / 1 M-completion bench session the JSON runs took
 * ~6.5 of the correlation's ~7.5 CPU-s, most of it SQLite formatting integers as text:
 * see docs/design-notes.md, "Correlation at 10 M frames".
 */
const PACKED_RUN_SQL = {
  // one BLOB: every sent_max, then every ts, then every seq_off
  sentRun: CORRELATION_SQL.sentRun.replace('json_group_array(sent_max), json_group_array(ts), json_group_array(seq_off)', 'f64_pack(sent_max, ts, seq_off)'),
  ackRun: CORRELATION_SQL.ackRun.replace('json_group_array(acked_max), json_group_array(ts), NULL', 'f64_pack(acked_max, ts)'),
  sentRange: CORRELATION_SQL.sentRange.replace('json_group_array(sent_max), json_group_array(ts_ns - @base), json_group_array(seq_off)', 'f64_pack(sent_max, ts_ns - @base, seq_off)'),
  ackRange: CORRELATION_SQL.ackRange.replace('json_group_array(acked_max), json_group_array(ts_ns - @base), NULL', 'f64_pack(acked_max, ts_ns - @base)'),
  unkeyedRun: CORRELATION_SQL.unkeyedRun.replace(RUN_JSON, RUN_PACKED),
  keyedRun: CORRELATION_SQL.keyedRun.replace(RUN_JSON, RUN_PACKED),
} as const;
export type RunStatementName = keyof typeof PACKED_RUN_SQL;
/** The statements that read runs (AdvanceWalk, completionsInRuns), in one encoding or the other. */
export type RunStatements = Record<RunStatementName, Statement>;
/** How runs come out of SQLite: `packed` (BLOBs of doubles, the default where the extension loads) or `json` (text, everywhere). */
export type RunEncoding = 'packed' | 'json';


/** Statements of one connection, prepared once (raw: arrays, cheaper than objects). */
export type Statements = Record<StatementName, Statement>;
/** Statements that read epoch ns as such (the rest read session-relative numbers). */
const BIGINT_STATEMENTS: StatementName[] = ['firstFrame', 'lastFrame', 'maxFrameId', 'medianSubmitted', 'completionCount'];

const statementCache = new WeakMap<Db, Statements>();
export function statements(db: Db): Statements {
  let s = statementCache.get(db);
  if (!s) {
    s = {} as Statements;
    for (const [name, sql] of Object.entries(CORRELATION_SQL) as [StatementName, string][]) {
      s[name] = db.prepare(sql).raw(true).safeIntegers(BIGINT_STATEMENTS.includes(name));
    }
    statementCache.set(db, s);
  }
  return s;
}

const packedConnections = new WeakMap<Db, RunStatements | null>();

/**
 * The run statements with packed numbers on this connection, loading the extension on
 * first use; null where it is not built or does not load (another platform, a build
 * without a C compiler): the JSON runs then serve, slower, with the same answers.
 */
function packedRunStatements(db: Db): RunStatements | null {
  let packed = packedConnections.get(db);
  if (packed !== undefined) return packed;
  packed = null;
  if (loadNativeExtension(db, 'packed_columns')) {
    try {
      packed = {} as RunStatements;
      for (const [name, sql] of Object.entries(PACKED_RUN_SQL) as [RunStatementName, string][]) packed[name] = db.prepare(sql).raw(true);
    } catch {
      packed = null;
    }
  }
  packedConnections.set(db, packed);
  return packed;
}

/** Whether this connection reads runs packed (the extension is built and loads). */
export function packedRunsAvailable(db: Db): boolean {
  return packedRunStatements(db) !== null;
}

/** The statements that read runs: packed where available (unless `json` is asked for), else JSON. */
export function runStatements(db: Db, encoding: RunEncoding = 'packed'): RunStatements {
  return (encoding === 'packed' ? packedRunStatements(db) : null) ?? statements(db);
}

/**
 * A run's column as numbers: a BLOB of doubles viewed in place (copied first when
 * better-sqlite3's Buffer is not 8-byte aligned), or a JSON array parsed. A packed NULL is
 * a NaN (nullableNumber turns it back).
 */
function numbersOf(column: string | Buffer): ArrayLike<number> {
  if (typeof column === 'string') return JSON.parse(column) as number[];
  if (column.byteOffset % 8 === 0) return new Float64Array(column.buffer, column.byteOffset, column.length / 8);
  return new Float64Array(column.buffer.slice(column.byteOffset, column.byteOffset + column.length));
}

/** A nullable column's value: NaN (a packed NULL) and null (a JSON null) both as null. */
function nullableNumber(v: number | null): number | null {
  return v === null || Number.isNaN(v) ? null : small(v);
}

/**
 * A number read from a packed run as V8 keeps a JSON-parsed one: an integer that fits 31
 * bits as a small integer, not a heap number. A Float64Array hands every element over
 * boxed, and an object field first given a box keeps its values boxed in every later
 * object of that shape (12–16 bytes more per field): a record held 641 bytes without this
 * against 370 with the JSON runs (100 k completions), and the collector marked them all.
 */
function small(v: number): number {
  const i = v | 0;
  return i === v ? i : v;
}

/** `EXPLAIN QUERY PLAN` of every statement, one line each. */
export function explainCorrelation(db: Db): Record<StatementName, string> {
  const params = { session: 1, base: 0n, flow: 1, dir: 0, x: 0, y: 1, n: 16, skip: 0, key: 1, after: -1, srcAddr: '', srcPort: 0, dstAddr: '', dstPort: 0 };
  const out = {} as Record<StatementName, string>;
  for (const [name, sql] of Object.entries(CORRELATION_SQL) as [StatementName, string][]) {
    const used = Object.fromEntries(Object.entries(params).filter(([k]) => new RegExp(`@${k}\\b`).test(sql)));
    const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(used) as { detail: string }[];
    out[name] = rows.map((r) => r.detail).join('; ');
  }
  return out;
}

/**
 * "First frame whose running maximum reached x", remembering its last answer: the frame
 * found for threshold y with maximum s is also the answer for every x in [y, s] (all
 * earlier frames stayed below y), and no answer for x means none for any larger x.
 * Consecutive writes often share a frame (a write ending mid-segment, a GSO super-frame,
 * one ACK covering several writes), so the next write asks SQLite only when it must.
 */
export class FirstReaching {
  private from = Infinity;
  private to = -Infinity;
  private hit: FrameHit | null = null;
  private noneFrom = Infinity;
  queries = 0;

  constructor(
    private readonly stmt: Statement,
    private readonly params: { base: bigint; flow: number; dir: number; x: number },
  ) {}

  find(x: number): FrameHit | null {
    if (x >= this.from && x <= this.to) return this.hit;
    if (x >= this.noneFrom) return null;
    this.queries++;
    this.params.x = x;
    const row = this.stmt.get(this.params) as Row | undefined;
    if (!row) {
      this.noneFrom = x;
      return null;
    }
    this.from = x;
    this.to = row[0] as number;
    this.hit = { tsNs: row[1] as number, seqOff: row[2] as number };
    return this.hit;
  }

  /** Nothing to drop: the memory is one answer. */
  release(): void {}
}

/** A run's column as SQLite hands it over: JSON text or a packed BLOB (numbersOf reads either). */
type RunColumn = string | Buffer;
const NO_ROWS: ArrayLike<number> = new Float64Array(0);

/** Rows an AdvanceWalk reads at once: it starts at `first`, doubles while the look-ups use them densely, halves down to single seeks when they skip. */
export const WALK_RUN_ROWS = { first: 256, probe: 16, max: 65_536 };
/** In single-seek mode, every this many reads is a probe run of WALK_RUN_ROWS.probe rows (have the look-ups become dense?). */
const PROBE_EVERY = 64;

/**
 * "First frame whose running maximum reached x" as a merge walk. The look-ups of one flow
 * direction come in increasing x (writes in offset order) and so do the rows, so the rows
 * are read in runs, one range scan each, and each answer is found by walking forward:
 * O(1) amortised per look-up instead of one SQLite index seek (4-8 µs with the call's
 * overhead). A run comes back as one JSON array per column: better-sqlite3 hands over a
 * row as a JS array at ~0.9 µs (3 columns), JSON.parse of a run ~0.3 µs per row (500 k
 * rows: 400-500 ms against 160-190 ms CPU here, at load 10). A run costs ~25 µs even when
 * short, so it grows while its rows answer look-ups densely (one per 16 rows or more) and
 * shrinks down to single seeks (FirstReaching's statement) when the look-ups skip far
 * (few writes over many frames), with a probe run now and then to notice when they no
 * longer do. A look-up below the run's start (offsets out of order) reads from there.
 * Same answers as FirstReaching (test/correlation.walk.test.ts).
 */
export class AdvanceWalk {
  private max: ArrayLike<number> = NO_ROWS;
  private ts: ArrayLike<number> = NO_ROWS;
  private seq: ArrayLike<number> | null = null;
  /** The run holds the rows reaching `runFrom`, in order, from the first such row on. */
  private runFrom = Infinity;
  /** The run ends at the direction's last row (SQLite had fewer than asked). */
  private runIsLast = false;
  private runWasSeek = false;
  private pos = 0;
  private lastX = -Infinity;
  /** Look-ups whose answer moved to a later row of this run: how densely it is used. */
  private moves = 0;
  private runRows: number = WALK_RUN_ROWS.first;
  private seeks = 0;
  private packedColumns = 0;
  /** Key bytes per row in the last run of two rows or more (0: none yet): how wide a range read should be. */
  private bytesPerRow = 0;
  /** The direction's highest key (undefined: not asked yet; null: no rows). */
  private lastKey: number | null | undefined = undefined;
  /** Reads from SQLite, runs and seeks (what `queries` counts for FirstReaching). */
  queries = 0;
  /** Rows read. */
  rows = 0;

  constructor(
    private readonly runStmt: Statement,
    private readonly seekStmt: Statement,
    private readonly params: { base: bigint; flow: number; dir: number; x: number; n: number; y?: number },
    /** Optional: the same rows read by key range, and the direction's highest key (sentRange/sentLast, ackRange/ackLast). */
    private readonly range?: { stmt: Statement; last: Statement },
  ) {}

  find(x: number): FrameHit | null {
    if (!(x >= this.runFrom)) return this.read(x);
    const max = this.max;
    const n = max.length;
    // rows before the last answer stayed below the last x
    let i = x >= this.lastX ? this.pos : 0;
    if (i < n && max[i] < x) {
      // gallop forward, then halve: few steps when near, log steps when far
      let step = 1;
      let lo = i;
      let hi = i + 1;
      while (hi < n && max[hi] < x) {
        lo = hi;
        step *= 2;
        hi = Math.min(n, hi + step);
      }
      lo += 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (max[mid] < x) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
    }
    if (i >= n && !this.runIsLast) return this.read(x);
    return this.answer(x, i);
  }

  /** Drops the run held (a later look-up reads again): for a flow direction done with. */
  release(): void {
    this.max = NO_ROWS;
    this.ts = NO_ROWS;
    this.seq = null;
    this.runFrom = Infinity;
    this.runIsLast = false;
    this.pos = 0;
    this.lastX = -Infinity;
  }

  private answer(x: number, i: number): FrameHit | null {
    if (i !== this.pos) this.moves++;
    this.pos = i;
    this.lastX = x;
    if (i >= this.max.length) return null;
    return { tsNs: small(this.ts[i]), seqOff: this.seq === null ? 0 : small(this.seq[i]) };
  }

  private read(x: number): FrameHit | null {
    if (this.runFrom !== Infinity && !this.runWasSeek) {
      const dense = this.moves * 16 >= this.max.length;
      this.runRows = dense ? Math.min(WALK_RUN_ROWS.max, Math.max(this.runRows, WALK_RUN_ROWS.probe) * 2) : this.runRows >> 1;
    }
    this.queries++;
    this.params.x = x;
    this.runWasSeek = this.runRows < WALK_RUN_ROWS.probe && ++this.seeks % PROBE_EVERY !== 0;
    if (this.runWasSeek) {
      const row = this.seekStmt.get(this.params) as Row | undefined;
      // typed like a packed run's, so the walk's element reads see one kind of array
      this.max = row ? Float64Array.of(row[0] as number) : NO_ROWS;
      this.ts = row ? Float64Array.of(row[1] as number) : NO_ROWS;
      this.seq = row ? Float64Array.of(row[2] as number) : null;
      this.runIsLast = !row;
    } else {
      const want = Math.max(this.runRows, WALK_RUN_ROWS.probe);
      if (!this.readRange(x, want)) {
        this.params.n = want;
        this.takeRun(this.runStmt.get(this.params) as RunColumn[]);
        this.runIsLast = this.max.length < want;
      }
      const n = this.max.length;
      if (n >= 2) this.bytesPerRow = (this.max[n - 1] - this.max[0]) / (n - 1);
    }
    this.rows += this.max.length;
    this.runFrom = x;
    this.moves = 0;
    this.pos = 0;
    this.lastX = x;
    return this.answer(x, 0);
  }

  /**
   * The run as the rows with keys in [x, x + want rows' worth of bytes), when an earlier
   * run has told how many bytes a row spans; false when it cannot (no estimate, no range
   * statement) or the range holds no row while later rows exist (a gap wider than the
   * range): the caller reads by count then. The range holds every row between its ends,
   * so an answer past its last row is either past the direction's last key (none) or read
   * again from there.
   */
  private readRange(x: number, want: number): boolean {
    if (this.range === undefined || !(this.bytesPerRow > 0)) return false;
    if (this.lastKey === undefined) this.lastKey = (this.range.last.get(this.params) as Row)[0] as number | null;
    const y = x + Math.max(1, Math.ceil(want * this.bytesPerRow));
    this.params.y = y;
    this.takeRun(this.range.stmt.get(this.params) as RunColumn[]);
    this.runIsLast = this.lastKey === null || this.lastKey < y;
    return this.max.length > 0 || this.runIsLast;
  }

  /** A run's columns from its row: packed (one BLOB, column after column) or JSON (an array each). */
  private takeRun(row: RunColumn[]): void {
    if (row.length === 1) {
      // packed: max, ts (and seq_off for sent), one column after the other
      const all = numbersOf(row[0]) as Float64Array;
      // the sent statements pack seq_off as a third column, the ACK ones have none
      if (this.packedColumns === 0) this.packedColumns = this.runStmt.source.includes('seq_off') ? 3 : 2;
      const n = all.length / this.packedColumns;
      this.max = all.subarray(0, n);
      this.ts = all.subarray(n, 2 * n);
      this.seq = this.packedColumns === 3 ? all.subarray(2 * n) : null;
    } else {
      this.max = numbersOf(row[0]);
      this.ts = numbersOf(row[1]);
      this.seq = row[2] === null ? null : numbersOf(row[2]);
    }
    if (!ascending(this.max)) this.sortRun();
  }

  /**
   * SQLite fills an aggregate in the order its subquery delivers rows (here the key's
   * order); an ORDER BY inside the aggregate would sort again (2.5× the run's cost), so
   * the order is checked instead and restored should a future SQLite deliver otherwise.
   */
  private sortRun(): void {
    const max = this.max;
    const order = Array.from({ length: max.length }, (_, i) => i).sort((a, b) => max[a] - max[b]);
    const pick = (col: ArrayLike<number>) => order.map((i) => col[i]);
    this.max = pick(this.max);
    this.ts = pick(this.ts);
    if (this.seq !== null) this.seq = pick(this.seq);
  }
}

function ascending(values: ArrayLike<number>): boolean {
  for (let i = 1; i < values.length; i++) if (!(values[i - 1] < values[i])) return false;
  return true;
}


/** Completions per run of completionsInRuns: a few MiB of JSON at a time (an object so a test can make runs short). */
export const COMPLETION_RUN = { rows: 16_384 };

type Pair = [srcAddr: string, srcPort: number, dstAddr: string, dstPort: number];

/** SQLite's order of two address pairs (TEXT compares bytewise; canonical addresses are ASCII, where JS's order is the same). */
function comparePairs(p: Pair, q: Pair): number {
  if (p[0] !== q[0]) return p[0] < q[0] ? -1 : 1;
  if (p[1] !== q[1]) return p[1] - q[1];
  if (p[2] !== q[2]) return p[2] < q[2] ? -1 : 1;
  return p[3] - q[3];
}

/** One address pair's completions in write-id order, read in runs (of its keyed or of its unkeyed rows). */
class CompletionRuns {
  /** The run's columns in RUN_COLUMNS order: numbers (packed or parsed), api and status as parsed JSON. */
  private cols: ArrayLike<unknown>[] = [];
  private i = 0;
  private after = -1;
  private done = false;

  constructor(
    private readonly stmt: Statement,
    private readonly params: Record<string, unknown>,
    private readonly intern: (v: string) => string,
  ) {}

  /** Write id of the row at hand (undefined: none left). */
  peekWriteId(): number | undefined {
    if (this.i >= (this.cols[0]?.length ?? 0)) this.read();
    return this.i < (this.cols[0]?.length ?? 0) ? (this.cols[1][this.i] as number) : undefined;
  }

  peekId(): number {
    return this.cols[0][this.i] as number;
  }

  take(p: Pair): CompletionForCorrelation {
    const c = this.cols;
    const i = this.i++;
    return {
      id: small(c[0][i] as number),
      srcAddr: p[0],
      srcPort: p[1],
      dstAddr: p[2],
      dstPort: p[3],
      writeId: small(c[1][i] as number),
      offsetStart: small(c[2][i] as number),
      offsetEnd: small(c[3][i] as number),
      submittedNs: small(c[4][i] as number),
      completedNs: small(c[5][i] as number),
      bytesReported: small(c[6][i] as number),
      api: this.intern(c[7][i] as string),
      status: this.intern(c[8][i] as string),
      buffers: small(c[9][i] as number),
      tcpBytesSent: nullableNumber(c[10][i] as number | null),
      tcpBytesAcked: nullableNumber(c[11][i] as number | null),
      kernel: null,
    };
  }

  private read(): void {
    if (this.done) return;
    const want = COMPLETION_RUN.rows;
    this.cols = completionRunColumns(this.stmt.get({ ...this.params, after: this.after, n: want }) as RunColumn[]);
    this.i = 0;
    const n = this.cols[0].length;
    if (n < want) this.done = true;
    if (n > 0) this.after = this.cols[1][n - 1] as number;
  }
}

/** A run of completions' columns in RUN_COLUMNS order, from a JSON row (a column each) or a packed one (RUN_PACKED). */
function completionRunColumns(row: RunColumn[]): ArrayLike<unknown>[] {
  if (row.length === RUN_COLUMNS.length) return row.map((column, i) => (TEXT_COLUMNS.has(RUN_COLUMNS[i]) ? (JSON.parse(column as string) as string[]) : numbersOf(column)));
  const numbers = numbersOf(row[0]) as Float64Array;
  const n = numbers.length / NUMERIC_COLUMNS.length;
  let numeric = 0;
  let text = 1;
  return RUN_COLUMNS.map((c) => (TEXT_COLUMNS.has(c) ? (JSON.parse(row[text++] as string) as string[]) : numbers.subarray(n * numeric, n * ++numeric)));
}

/** Each distinct string kept once per correlation (SQLite hands over a fresh copy per row). */
function stringInterner(): (v: string) => string {
  const strings = new Map<string, string>();
  return (v) => {
    const known = strings.get(v);
    if (known !== undefined) return known;
    strings.set(v, v);
    return v;
  };
}

/**
 * A session's completions in the order of completionsForCorrelation (address pair, write
 * id, then id), read in runs of JSON arrays per pair (the usual session: no kernel
 * witness; with one, completionsForCorrelation's rows). The addresses come once per pair.
 */
export function* completionsInRuns(s: Statements, runs: RunStatements, base: bigint, sessionId: number): Generator<CompletionForCorrelation> {
  if ((s.hasKernelWitness.get({ session: sessionId }) as Row)[0] === 1) {
    yield* completionsForCorrelation(s, base, sessionId);
    return;
  }
  const intern = stringInterner();
  const unkeyed: { pair: Pair; key: number | null }[] = [];
  // '' sorts before every address
  for (let p: Pair | undefined = ['', 0, '', 0]; (p = s.nextUnkeyedPair.get({ session: sessionId, srcAddr: p[0], srcPort: p[1], dstAddr: p[2], dstPort: p[3] }) as Pair | undefined); ) {
    unkeyed.push({ pair: p, key: null });
  }
  const keyed = (s.keyedPairs.all({ session: sessionId }) as Row[]).map((r) => ({ pair: r.slice(1) as Pair, key: r[0] as number }));
  const pairs = [...unkeyed, ...keyed].sort((a, b) => comparePairs(a.pair, b.pair));
  let rows = 0;
  for (let g = 0; g < pairs.length; ) {
    // the pair's unkeyed rows and its keyed rows (a pair may have both), merged by write id then id
    let h = g + 1;
    while (h < pairs.length && comparePairs(pairs[g].pair, pairs[h].pair) === 0) h++;
    const pair = pairs[g].pair.map((v) => (typeof v === 'string' ? intern(v) : v)) as Pair;
    const streams = pairs.slice(g, h).map(({ key }) =>
      key === null
        ? new CompletionRuns(runs.unkeyedRun, { base, session: sessionId, srcAddr: pair[0], srcPort: pair[1], dstAddr: pair[2], dstPort: pair[3] }, intern)
        : new CompletionRuns(runs.keyedRun, { base, session: sessionId, key }, intern),
    );
    if (streams.length === 1) {
      // the usual pair: all keyed or all unkeyed, nothing to merge
      const only = streams[0];
      while (only.peekWriteId() !== undefined) {
        rows++;
        yield only.take(pair);
      }
    } else {
      for (;;) {
        let next: CompletionRuns | null = null;
        let nextWrite = Infinity;
        for (const st of streams) {
          const w = st.peekWriteId();
          if (w === undefined) continue;
          if (next === null || w < nextWrite || (w === nextWrite && st.peekId() < next.peekId())) {
            next = st;
            nextWrite = w;
          }
        }
        if (next === null) break;
        rows++;
        yield next.take(pair);
      }
    }
    g = h;
  }
  const count = Number((s.completionCount.get({ session: sessionId }) as Row)[0]);
  if (rows !== count) {
    throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', `session ${sessionId}: read ${rows} of its ${count} completions (a completion flow key without its completion_flows row?)`);
  }
}

/**
 * A session's completions in (flow, writeId) order, one named object each, a row at a
 * time with SQLite's sort (the reference for completionsInRuns, and its read for a
 * session with a kernel witness). Addresses, APIs and statuses repeat over thousands of
 * completions: each distinct string is kept once (SQLite hands over a fresh copy per
 * row, ~40 bytes each, four per record held).
 */
export function* completionsForCorrelation(s: Statements, base: bigint, sessionId: number): Generator<CompletionForCorrelation> {
  const intern = stringInterner();
  for (const r of s.completions.iterate({ base, session: sessionId }) as IterableIterator<Row>) {
    const [id, , srcPort, , dstPort, writeId, offsetStart, offsetEnd, submittedNs, completedNs, bytesReported, , , buffers, tcpBytesSent, tcpBytesAcked] =
      r as [number, string, number, string, number, number, number, number, number, number, number, string, string, number, number | null, number | null];
    const srcAddr = intern(r[1] as string);
    const dstAddr = intern(r[3] as string);
    const api = intern(r[11] as string);
    const status = intern(r[12] as string);
    const kernel: KernelMoments | null =
      r[16] === null
        ? null
        : {
            qdiscInNs: r[17] as number | null,
            qdiscOutNs: r[18] as number | null,
            driverNs: r[19] as number | null,
            ackArrivedNs: r[20] as number | null,
            ackProcessedNs: r[21] as number | null,
            retransmitted: r[22] === 1,
          };
    yield { id, srcAddr, srcPort, dstAddr, dstPort, writeId, offsetStart, offsetEnd, submittedNs, completedNs, bytesReported, api, status, buffers, tcpBytesSent, tcpBytesAcked, kernel };
  }
}

/** The capture's first and last frame time, epoch ns (undefined: no frames). */
export function frameTimeBounds(s: Statements, sessionId: number): { firstTs: bigint | undefined; lastTs: bigint | undefined } {
  return {
    firstTs: (s.firstFrame.get({ session: sessionId }) as Row | undefined)?.[0] as bigint | undefined,
    lastTs: (s.lastFrame.get({ session: sessionId }) as Row | undefined)?.[0] as bigint | undefined,
  };
}

/** The median submission of the session's completions, epoch ns (null: none). */
export function medianSubmission(s: Statements, sessionId: number): bigint | null {
  const count = Number((s.completionCount.get({ session: sessionId }) as Row)[0]);
  const row = s.medianSubmitted.get({ session: sessionId, skip: Math.floor(count / 2) }) as Row | undefined;
  return row ? (row[0] as bigint) : null;
}

export function readFlows(s: Statements, base: bigint, sessionId: number): FlowInfo[] {
  return (s.flows.all({ base, session: sessionId }) as Row[]).map(toFlowInfo);
}

/** The directions of a flow that carried write tags. */
export function taggedDirections(s: Statements, flowId: number): (0 | 1)[] {
  return (s.tagDirs.all({ flow: flowId }) as Row[]).map((r) => r[0] as 0 | 1);
}

export function readTags(s: Statements, base: bigint, flowId: number, dir: number): TagRow[] {
  return (s.tags.all({ base, flow: flowId, dir }) as Row[]).map((r) => ({
    streamOff: r[0] as number,
    writeId: r[1] as number | null,
    claimedOff: r[2] as number | null,
    claimedLen: r[3] as number | null,
    tsNs: r[4] as number,
  }));
}

/** First data frame and first ACK of a flow direction: where its capture begins. */
export function directionStart(s: Statements, base: bigint, flowId: number, dataDir: 0 | 1) {
  const low = s.lowSent.get({ base, flow: flowId, dir: dataDir }) as Row | undefined;
  const lowAck = s.lowAck.get({ base, flow: flowId, dir: dataDir === 0 ? 1 : 0 }) as Row | undefined;
  return {
    dataLowOff: low ? (low[0] as number) : null,
    dataLowNs: low ? (low[1] as number) : null,
    ackLowOff: lowAck ? (lowAck[0] as number) : null,
    ackLowNs: lowAck ? (lowAck[1] as number) : null,
  };
}

/** SACK blocks the peer sent on `ackDir`, in time order. */
export function readSacks(s: Statements, base: bigint, flowId: number, ackDir: 0 | 1): SackBlocks {
  const sacks: SackBlocks = { ts: [], left: [], right: [] };
  for (const r of s.sacksOfSide.iterate({ base, flow: flowId, dir: ackDir }) as IterableIterator<Row>) {
    sacks.ts.push(r[0] as number);
    sacks.left.push(r[1] as number);
    sacks.right.push(r[2] as number);
  }
  return sacks;
}

/** Retransmitted ranges of `dataDir`, in offset order. */
export function readRetransmits(s: Statements, flowId: number, dataDir: 0 | 1): Retransmits {
  const retransmits: Retransmits = { seq: [], len: [], maxLen: 0 };
  for (const r of s.retransOfSide.iterate({ flow: flowId, dir: dataDir }) as IterableIterator<Row>) {
    retransmits.seq.push(r[0] as number);
    retransmits.len.push(r[1] as number);
    retransmits.maxLen = Math.max(retransmits.maxLen, r[1] as number);
  }
  return retransmits;
}

/** What the cached result depends on; cheap (index look-ups only). */
export function fingerprintOf(s: Statements, session: SessionRow): string {
  const maxFrame = (s.maxFrameId.get({ session: session.id }) as Row)[0];
  const [count, maxId] = s.completionCount.get({ session: session.id }) as Row;
  return correlationFingerprint(session, maxFrame, count, maxId);
}

function toFlowInfo(r: Row): FlowInfo {
  return {
    id: r[0] as number,
    ipVersion: r[1] as number,
    aAddr: r[2] as string,
    aPort: r[3] as number,
    bAddr: r[4] as string,
    bPort: r[5] as number,
    aSynSeen: r[6] === 1,
    bSynSeen: r[7] === 1,
    firstNs: r[8] as number,
    lastNs: r[9] as number,
    frames: r[10] as number,
    retransmits: r[11] as number,
    closed: r[12] === 1,
  };
}

