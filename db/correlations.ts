import type { Statement } from 'better-sqlite3';
import type { Db } from './connection.js';
import { getSession, type SessionRow } from './sessions.js';
import { AckscopeError } from '../service/errors.js';
import { classifyCompletion } from '../correlate/classify.js';
import { FlowIndex, type FlowCandidate } from '../correlate/flowmatch.js';
import { orderingVerdict, offsetShiftFromTags, type OrderingResult, type TagRow } from '../correlate/ordering.js';
import type { CompletionEvidence, CorrelationRecord, DirectionCoverage, FrameHit } from '../correlate/types.js';

/**
 * The join of one session's completions with its capture.
 *
 * Storage choice: results are COMPUTED ON DEMAND and cached in the service process,
 * keyed by a fingerprint of what they depend on (the session row's settings and drop
 * counters, the highest frame number, the completions' count and highest id). Why:
 * - correlating 100k completions takes about a second (bench/correlate.ts), so a stored
 *   copy would save little, while writing 100k result rows (with the indexes filtering
 *   and sorting need) would cost about as much as computing them;
 * - stored rows go stale whenever a live capture flushes frames or a sender posts more
 *   completions, and a stale stage is worse than a slow one; the fingerprint check is
 *   three index look-ups, so every request sees the current data;
 * - filtering, sorting and paging 100k records in memory takes milliseconds.
 *
 * Every per-completion question is an index look-up inside ONE read transaction (one
 * consistent WAL snapshot, no per-statement locking). EXPLAIN QUERY PLAN of each
 * statement (explainCorrelation(); bench/correlate.ts prints it again):
 *   firstSent       SEARCH sent_advances USING PRIMARY KEY (flow_id=? AND dir=? AND sent_max>?)
 *   firstAck        SEARCH ack_advances USING PRIMARY KEY (flow_id=? AND dir=? AND acked_max>?)
 *   lowSent/lowAck  SEARCH sent_advances / ack_advances USING PRIMARY KEY (flow_id=? AND dir=?)
 *   sacksOfSide     SEARCH sacks USING INDEX sacks_by_time (flow_id=? AND dir=?)
 *   retransOfSide   SEARCH frames USING INDEX frames_retransmits (flow_id=? AND dir=?)
 *   tags            SEARCH tags USING PRIMARY KEY (flow_id=? AND dir=?)
 *   completions     SEARCH completions USING INDEX completions_by_session_row (session_id=?)
 *                   + TEMP B-TREE FOR ORDER BY (since 006; ~180 ms per 100k rows either way)
 *   first/lastFrame SEARCH frames USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)
 * firstSent and firstAck run per completion; the rest once per session or flow
 * direction. SACK blocks and retransmitted ranges exist only around losses, so they are
 * read once per flow direction and searched in memory (binary search by time or offset):
 * as separate per-completion queries they doubled the correlation time.
 * Consecutive writes often share a frame (a write ending mid-segment, a GSO super-frame,
 * one ACK covering several writes), so each look-up remembers its last answer and the
 * range of thresholds it holds for; the next write asks SQLite only when it must.
 */

export interface FlowInfo {
  id: number;
  ipVersion: number;
  aAddr: string;
  aPort: number;
  bAddr: string;
  bPort: number;
  aSynSeen: boolean;
  bSynSeen: boolean;
  firstNs: number;
  lastNs: number;
  frames: number;
  retransmits: number;
  closed: boolean;
}

export interface FlowOrdering {
  flowId: number;
  dir: 0 | 1;
  result: OrderingResult;
}

export interface SessionCorrelation {
  session: SessionRow;
  /** Epoch ns every relative time in `records` counts from. */
  baseNs: bigint;
  records: CorrelationRecord[];
  flows: FlowInfo[];
  ordering: FlowOrdering[];
  captureStartNs: number | null;
  captureEndNs: number | null;
  kernelDrops: number;
  fingerprint: string;
  /** queries: per-completion SQLite look-ups (first transmission, ACK) that the memory of the last answer could not spare. */
  stats: { elapsedMs: number; queries: number; completions: number };
}

/** Relative ns → epoch ns decimal string. */
export function absoluteNs(c: { baseNs: bigint }, relNs: number): string {
  return (c.baseNs + BigInt(relNs)).toString();
}

/** Epoch ns (BigInt or decimal string) → relative ns of this correlation. */
export function relativeNs(c: { baseNs: bigint }, epochNs: bigint | string): number {
  return Number(BigInt(epochNs) - c.baseNs);
}

type Row = unknown[];

// A session's frames are one rowid range (002_capture.sql: id = session_id * 2^32 + frame_no).
const SESSION_FRAMES = 'id BETWEEN @session * 4294967296 AND @session * 4294967296 + 4294967295';

/** Every statement of the correlation; the bench and a test print their query plans. */
export const CORRELATION_SQL = {
  firstFrame: `SELECT ts_ns FROM frames WHERE ${SESSION_FRAMES} ORDER BY id ASC LIMIT 1`,
  lastFrame: `SELECT ts_ns FROM frames WHERE ${SESSION_FRAMES} ORDER BY id DESC LIMIT 1`,
  maxFrameId: `SELECT max(id) FROM frames WHERE ${SESSION_FRAMES}`,
  minSubmitted: 'SELECT min(submitted_ns) FROM completions WHERE session_id = @session',
  completionCount: 'SELECT count(*), max(id) FROM completions WHERE session_id = @session',
  flows: `SELECT id, ip_version, a_addr, a_port, b_addr, b_port, a_syn_seen, b_syn_seen,
            first_ns - @base, last_ns - @base, frames, retransmits, closed
       FROM flows WHERE session_id = @session ORDER BY id`,
  completions: `SELECT id, src_addr, src_port, dst_addr, dst_port, write_id, offset_start, offset_end,
            submitted_ns - @base, completed_ns - @base, bytes_reported, api, status, buffers,
            tcp_bytes_sent, tcp_bytes_acked
       FROM completions WHERE session_id = @session
      ORDER BY src_addr, src_port, dst_addr, dst_port, write_id`,
  // sent_advances / ack_advances (005_frame_advances.sql) hold exactly the frames whose
  // sent_advanced / ack_advanced flag is 1, keyed by the maximum they reached.
  firstSent: `SELECT sent_max, ts_ns - @base, seq_off FROM sent_advances
      WHERE flow_id = @flow AND dir = @dir AND sent_max >= @x
      ORDER BY sent_max LIMIT 1`,
  firstAck: `SELECT acked_max, ts_ns - @base, 0 FROM ack_advances
      WHERE flow_id = @flow AND dir = @dir AND acked_max >= @x
      ORDER BY acked_max LIMIT 1`,
  lowSent: `SELECT seq_off, ts_ns - @base FROM sent_advances
      WHERE flow_id = @flow AND dir = @dir ORDER BY sent_max LIMIT 1`,
  lowAck: `SELECT acked_max, ts_ns - @base FROM ack_advances
      WHERE flow_id = @flow AND dir = @dir ORDER BY acked_max LIMIT 1`,
  // SACK blocks and retransmitted frames are rare (loss recovery only): read once per
  // flow direction through their indexes, then searched in memory per completion.
  sacksOfSide: `SELECT ts_ns - @base, left_off, right_off FROM sacks
      WHERE flow_id = @flow AND dir = @dir ORDER BY ts_ns`,
  retransOfSide: `SELECT seq_off, payload_len FROM frames
      WHERE flow_id = @flow AND dir = @dir AND retransmit = 1 AND payload_len > 0 ORDER BY seq_off`,
  tags: `SELECT stream_off, write_id, claimed_off, claimed_len, ts_ns - @base FROM tags
      WHERE flow_id = @flow AND dir = @dir ORDER BY stream_off`,
  tagDirs: 'SELECT DISTINCT dir FROM tags WHERE flow_id = @flow',
} as const;
type StatementName = keyof typeof CORRELATION_SQL;

/** Statements of one connection, prepared once (raw: arrays, cheaper than objects). */
type Statements = Record<StatementName, Statement>;
/** Statements that read epoch ns as such (the rest read session-relative numbers). */
const BIGINT_STATEMENTS: StatementName[] = ['firstFrame', 'lastFrame', 'maxFrameId', 'minSubmitted', 'completionCount'];

const statementCache = new WeakMap<Db, Statements>();
function statements(db: Db): Statements {
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

/** `EXPLAIN QUERY PLAN` of every statement, one line each. */
export function explainCorrelation(db: Db): Record<StatementName, string> {
  const params = { session: 1, base: 0n, flow: 1, dir: 0, x: 0 };
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
 */
class FirstReaching {
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
}

/** What one direction of one flow needs, gathered once on first use. */
interface FlowSide {
  flow: FlowInfo;
  dataDir: 0 | 1;
  ackDir: 0 | 1;
  /** sender offset − capture offset; null when it cannot be known. */
  shift: number | null;
  coverage: DirectionCoverage;
  sent: FirstReaching;
  acked: FirstReaching;
  sacks: SackBlocks;
  retransmits: Retransmits;
}

/** A flow direction's SACK blocks in time order (parallel arrays: no object per block). */
interface SackBlocks {
  ts: number[];
  left: number[];
  right: number[];
}

/** Retransmitted ranges [seq, seq + len) in offset order, and the longest len. */
interface Retransmits {
  seq: number[];
  len: number[];
  maxLen: number;
}

/** First index i with values[i] >= x (values ascending). */
function lowerBound(values: readonly number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First SACK block in [fromNs, toNs) covering byte `lastByte`, or null. */
function firstSackCovering(b: SackBlocks, fromNs: number, toNs: number, lastByte: number): number | null {
  for (let i = lowerBound(b.ts, fromNs); i < b.ts.length && b.ts[i] < toNs; i++) {
    if (b.left[i] <= lastByte && b.right[i] > lastByte) return b.ts[i];
  }
  return null;
}

/** Was any byte of [start, end) retransmitted? */
function anyRetransmitted(r: Retransmits, start: number, end: number): boolean {
  for (let i = lowerBound(r.seq, start - r.maxLen + 1); i < r.seq.length && r.seq[i] < end; i++) {
    if (r.seq[i] + r.len[i] > start) return true;
  }
  return false;
}

function loadFlowSide(s: Statements, base: bigint, flow: FlowInfo, dataDir: 0 | 1): FlowSide {
  const ackDir: 0 | 1 = dataDir === 0 ? 1 : 0;
  const p = { base, flow: flow.id, dir: dataDir };
  const pa = { base, flow: flow.id, dir: ackDir };
  const synSeen = dataDir === 0 ? flow.aSynSeen : flow.bSynSeen;
  const tags = readTags(s, base, flow.id, dataDir);
  // With the SYN captured, offsets count from the ISN as the sender's do.
  const shift = synSeen ? 0 : offsetShiftFromTags(tags);
  const low = s.lowSent.get(p) as Row | undefined;
  const lowAck = s.lowAck.get(pa) as Row | undefined;
  const coverage: DirectionCoverage = synSeen
    ? { dataLowOff: 0, dataLowNs: flow.firstNs, ackLowOff: -1, ackLowNs: flow.firstNs }
    : {
        dataLowOff: low ? (low[0] as number) : null,
        dataLowNs: low ? (low[1] as number) : null,
        ackLowOff: lowAck ? (lowAck[0] as number) : null,
        ackLowNs: lowAck ? (lowAck[1] as number) : null,
      };
  const sacks: SackBlocks = { ts: [], left: [], right: [] };
  for (const r of s.sacksOfSide.iterate({ base, flow: flow.id, dir: ackDir }) as IterableIterator<Row>) {
    sacks.ts.push(r[0] as number);
    sacks.left.push(r[1] as number);
    sacks.right.push(r[2] as number);
  }
  const retransmits: Retransmits = { seq: [], len: [], maxLen: 0 };
  for (const r of s.retransOfSide.iterate({ flow: flow.id, dir: dataDir }) as IterableIterator<Row>) {
    retransmits.seq.push(r[0] as number);
    retransmits.len.push(r[1] as number);
    retransmits.maxLen = Math.max(retransmits.maxLen, r[1] as number);
  }
  return {
    flow,
    dataDir,
    ackDir,
    shift,
    coverage,
    sent: new FirstReaching(s.firstSent, { ...p, x: 0 }),
    acked: new FirstReaching(s.firstAck, { ...pa, x: 0 }),
    sacks,
    retransmits,
  };
}

function readTags(s: Statements, base: bigint, flowId: number, dir: number): TagRow[] {
  return (s.tags.all({ base, flow: flowId, dir }) as Row[]).map((r) => ({
    streamOff: r[0] as number,
    writeId: r[1] as number | null,
    claimedOff: r[2] as number | null,
    claimedLen: r[3] as number | null,
    tsNs: r[4] as number,
  }));
}

/** What the cached result depends on; cheap (index look-ups only). */
function fingerprintOf(s: Statements, session: SessionRow): string {
  const maxFrame = (s.maxFrameId.get({ session: session.id }) as Row)[0];
  const [count, maxId] = s.completionCount.get({ session: session.id }) as Row;
  return [
    session.updated_ns,
    session.state,
    session.clock_uncertainty_ns,
    session.near_margin_ns,
    session.stopped_ns,
    session.pcap_dropped,
    session.pcap_if_dropped,
    maxFrame,
    count,
    maxId,
  ].join('/');
}

const CACHE_SESSIONS = 4;
const resultCache = new WeakMap<Db, Map<number, SessionCorrelation>>();

/** Drops cached results (all of a connection's, or one session's). */
export function invalidateCorrelations(db: Db, sessionId?: number): void {
  if (sessionId === undefined) resultCache.delete(db);
  else resultCache.get(db)?.delete(sessionId);
}

/**
 * The correlation of a session, from the cache when nothing it depends on changed.
 * Throws ACKSCOPE_ERR_SESSION_NOT_FOUND for an unknown session.
 */
export function getCorrelation(db: Db, sessionId: number): SessionCorrelation {
  const session = getSession(db, sessionId);
  if (!session) throw new AckscopeError('ACKSCOPE_ERR_SESSION_NOT_FOUND', `session ${sessionId} does not exist`, { id: sessionId });
  let perDb = resultCache.get(db);
  if (!perDb) resultCache.set(db, (perDb = new Map()));
  const fingerprint = fingerprintOf(statements(db), session);
  const cached = perDb.get(sessionId);
  if (cached && cached.fingerprint === fingerprint) {
    perDb.delete(sessionId); // re-insert: most recently used last
    perDb.set(sessionId, cached);
    return cached;
  }
  const fresh = correlateSession(db, sessionId);
  perDb.delete(sessionId);
  perDb.set(sessionId, fresh);
  while (perDb.size > CACHE_SESSIONS) perDb.delete(perDb.keys().next().value as number);
  return fresh;
}

/** Correlates every completion of a session now (no cache), inside one read transaction. */
export function correlateSession(db: Db, sessionId: number): SessionCorrelation {
  const s = statements(db);
  const started = performance.now();
  const run = db.transaction(() => {
    const session = getSession(db, sessionId);
    if (!session) throw new AckscopeError('ACKSCOPE_ERR_SESSION_NOT_FOUND', `session ${sessionId} does not exist`, { id: sessionId });
    const fingerprint = fingerprintOf(s, session);
    const firstTs = (s.firstFrame.get({ session: sessionId }) as Row | undefined)?.[0] as bigint | undefined;
    const lastTs = (s.lastFrame.get({ session: sessionId }) as Row | undefined)?.[0] as bigint | undefined;
    // Relative times stay exact within ±104 days of the base: the capture's first frame,
    // else (no frames) the first submission.
    const baseNs =
      firstTs ?? ((s.minSubmitted.get({ session: sessionId }) as Row)[0] as bigint | null) ?? session.created_ns;
    const rel = (ns: bigint | null | undefined) => (ns === null || ns === undefined ? null : Number(ns - baseNs));

    // A live capture watched from its start to its stop; a file from its first to last frame.
    const startedNs = session.started_ns !== null && firstTs !== undefined && firstTs < session.started_ns ? firstTs : (session.started_ns ?? firstTs);
    const captureStartNs = rel(startedNs);
    const lastSeen = rel(lastTs);
    const stopped = rel(session.stopped_ns);
    const captureEndNs =
      session.state === 'capturing' ? lastSeen : stopped !== null && lastSeen !== null ? Math.max(stopped, lastSeen) : (stopped ?? lastSeen);
    const kernelDrops = (session.pcap_dropped ?? 0) + (session.pcap_if_dropped ?? 0);
    const clockUncertaintyNs = Number(session.clock_uncertainty_ns);
    const nearMarginNs = Number(session.near_margin_ns);

    const flows = (s.flows.all({ base: baseNs, session: sessionId }) as Row[]).map(toFlowInfo);
    const index = new FlowIndex(flows.map(toCandidate));
    const byId = new Map(flows.map((f) => [f.id, f]));
    const sides = new Map<string, FlowSide>();
    const sideOf = (flowId: number, dataDir: 0 | 1): FlowSide => {
      const key = `${flowId}/${dataDir}`;
      let side = sides.get(key);
      if (!side) sides.set(key, (side = loadFlowSide(s, baseNs, byId.get(flowId)!, dataDir)));
      return side;
    };

    const facts: SessionFacts = { captureStartNs, captureEndNs, kernelDrops, clockUncertaintyNs, nearMarginNs };
    const records: CorrelationRecord[] = [];
    for (const r of s.completions.iterate({ base: baseNs, session: sessionId }) as IterableIterator<Row>) {
      const [id, srcAddr, srcPort, dstAddr, dstPort, writeId, offsetStart, offsetEnd, submittedNs, completedNs] = r as [
        number, string, number, string, number, number, number, number, number, number,
      ];
      if (!Number.isSafeInteger(submittedNs) || !Number.isSafeInteger(completedNs)) {
        throw new AckscopeError(
          'ACKSCOPE_ERR_COMPLETION_INVALID',
          `completion ${id} (write ${writeId}) is more than 104 days away from the capture's clock: check the sender's clock`,
          { completionId: id },
        );
      }
      const match = index.match({ srcAddr, srcPort, dstAddr, dstPort }, submittedNs, completedNs);
      const side = match ? sideOf(match.flow.id, match.dataDir) : null;
      const evidence = evidenceFor(side, offsetStart, offsetEnd, submittedNs, completedNs, r[14] as number | null, r[15] as number | null, facts);
      const c = classifyCompletion(evidence);
      // One literal with every field, no spread: spreading the classification into a
      // 34-property record built slow dictionary-mode objects; dropping the spreads took
      // the bench from 36 to 17 µs per completion.
      records.push({
        completionId: id,
        flowId: match ? match.flow.id : null,
        dataDir: match ? match.dataDir : null,
        srcAddr,
        srcPort,
        dstAddr,
        dstPort,
        writeId,
        api: r[11] as string,
        status: r[12] as string,
        buffers: r[13] as number,
        offsetStart,
        offsetEnd,
        bytesReported: r[10] as number,
        submittedNs,
        completedNs,
        tcpBytesSent: r[14] as number | null,
        tcpBytesAcked: r[15] as number | null,
        stage: c.stage,
        reason: c.reason,
        firstWireNs: c.firstWireNs,
        lastWireNs: c.lastWireNs,
        ackedNs: c.ackedNs,
        sackedNs: c.sackedNs,
        retransmitted: c.retransmitted,
        submitToCompleteNs: c.submitToCompleteNs,
        lastWireMinusCompleteNs: c.lastWireMinusCompleteNs,
        ackedMinusCompleteNs: c.ackedMinusCompleteNs,
        decidingGapNs: c.decidingGapNs,
        decidingEvent: c.decidingEvent,
        nearBoundary: c.nearBoundary,
        uncertain: c.uncertain,
        tcpInfoStage: c.tcpInfoStage,
        tcpInfoAgrees: c.tcpInfoAgrees,
      });
    }

    const ordering: FlowOrdering[] = [];
    for (const flow of flows) {
      for (const [dir] of s.tagDirs.all({ flow: flow.id }) as Row[]) {
        const d = dir as 0 | 1;
        const side = sides.get(`${flow.id}/${d}`);
        const synSeen = d === 0 ? flow.aSynSeen : flow.bSynSeen;
        const result = orderingVerdict(readTags(s, baseNs, flow.id, d), synSeen ? 0 : (side?.shift ?? null));
        ordering.push({ flowId: flow.id, dir: d, result });
      }
    }
    let queries = 0;
    for (const side of sides.values()) queries += side.sent.queries + side.acked.queries;
    return {
      session,
      baseNs,
      records,
      flows,
      ordering,
      captureStartNs,
      captureEndNs,
      kernelDrops,
      fingerprint,
      stats: { elapsedMs: 0, queries, completions: records.length },
    };
  });
  const result = run.deferred();
  result.stats.elapsedMs = performance.now() - started;
  return result;
}

/** What every completion of the session shares. */
interface SessionFacts {
  captureStartNs: number | null;
  captureEndNs: number | null;
  kernelDrops: number;
  clockUncertaintyNs: number;
  nearMarginNs: number;
}

/** The look-ups for one completion, as the classification's input (one object literal, no spreads). */
function evidenceFor(
  side: FlowSide | null,
  offsetStart: number,
  offsetEnd: number,
  submittedNs: number,
  completedNs: number,
  tcpSent: number | null,
  tcpAcked: number | null,
  f: SessionFacts,
): CompletionEvidence {
  const aligned = side !== null && side.shift !== null;
  const start = aligned ? offsetStart - side.shift! : offsetStart;
  const end = aligned ? offsetEnd - side.shift! : offsetEnd;
  // In increasing threshold order, so the look-up's memory of its last answer serves the
  // next write (an empty write has no first byte: it stands where the byte before it does).
  const firstWire = aligned && end > start ? side.sent.find(start + 1) : null;
  const lastWire = aligned ? side.sent.find(end) : null;
  const ack = aligned ? side.acked.find(end) : null;
  // A SACK for the last byte can only come after it was sent and matters only before the ACK.
  const sackNs =
    aligned && side.sacks.ts.length > 0
      ? firstSackCovering(side.sacks, lastWire ? lastWire.tsNs : submittedNs, ack ? ack.tsNs : Infinity, end - 1)
      : null;
  return {
    offsetStart: start,
    offsetEnd: end,
    submittedNs,
    completedNs,
    flowFound: side !== null,
    offsetsAligned: aligned,
    firstWire: end > start ? firstWire : lastWire,
    lastWire,
    ackNs: ack ? ack.tsNs : null,
    sackNs,
    retransmitted: aligned && side.retransmits.seq.length > 0 && anyRetransmitted(side.retransmits, start, end),
    coverage: aligned ? side.coverage : NO_COVERAGE,
    captureStartNs: f.captureStartNs,
    captureEndNs: f.captureEndNs,
    kernelDrops: f.kernelDrops,
    clockUncertaintyNs: f.clockUncertaintyNs,
    nearMarginNs: f.nearMarginNs,
    tcpInfo: tcpSent !== null && tcpAcked !== null ? { bytesSent: tcpSent, bytesAcked: tcpAcked } : null,
  };
}

const NO_COVERAGE: DirectionCoverage = { dataLowOff: null, dataLowNs: null, ackLowOff: null, ackLowNs: null };

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

function toCandidate(f: FlowInfo): FlowCandidate {
  return { id: f.id, aAddr: f.aAddr, aPort: f.aPort, bAddr: f.bAddr, bPort: f.bPort, firstNs: f.firstNs, lastNs: f.lastNs };
}
