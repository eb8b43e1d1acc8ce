/**
 * The join of one session's completions with its capture: the correlation use-case.
 *
 * Storage choice: results are COMPUTED ON DEMAND and cached in the service process,
 * keyed by a fingerprint of what they depend on (the session row's settings and drop
 * counters, the highest frame number, the completions' count and highest id). Why:
 * - correlating takes ~8-10 µs of CPU per completion (bench/correlate.ts; about a
 *   second per 100k on a quiet machine), so a stored copy would save little, while writing 100k result rows (with the indexes filtering
 *   and sorting need) would cost about as much as computing them;
 * - stored rows go stale whenever a live capture flushes frames or a sender posts more
 *   completions, and a stale stage is worse than a slow one; the fingerprint check is
 *   three index look-ups, so every request sees the current data;
 * - filtering, sorting and paging 100k records in memory takes milliseconds.
 * The cache lives here because here is where its invalidation is decided (fingerprint).
 * The reads are db/correlation-reads.ts; the rules are correlate/.
 */
import type { Db } from '../db/connection.js';
import { getSession, type SessionRow } from '../db/sessions.js';
import {
  AdvanceWalk,
  FirstReaching,
  completionsForCorrelation,
  completionsInRuns,
  type CompletionForCorrelation,
  directionStart,
  fingerprintOf,
  medianSubmission,
  frameTimeBounds,
  readFlows,
  readRetransmits,
  readSacks,
  readTags,
  runStatements,
  statements,
  taggedDirections,
  type FlowInfo,
  type RunEncoding,
  type RunStatements,
  type Statements,
} from '../db/correlation-reads.js';
import { sessionNotFound } from '../core/errors.js';
import { classifyCompletion, unplaceable } from '../correlate/classify.js';
import { ladderStage } from '../correlate/ladder.js';
import { clockErrorBetween } from '../correlate/host-clocks.js';
import type { SessionHostClocks } from '../correlate/inputs.js';
import { evidenceFor, type FirstReachingLookup, type FlowSide, type Retransmits, type SackBlocks, type SessionFacts } from '../correlate/evidence.js';
import { FlowIndex, type FlowCandidate } from '../correlate/flowmatch.js';
import { acceptedEnd } from '../correlate/partial.js';
import { orderingVerdict, offsetShiftFromTags, type OrderingResult, type TagRow } from '../correlate/ordering.js';
import type { CorrelationRecord, DirectionCoverage } from '../correlate/types.js';

export type { FlowInfo };
export { absoluteNs, relativeNs } from '../core/time.js';

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
  /**
   * Per `${flowId}/${dataDir}` of a matched completion: what to subtract from a completion's
   * offsets to get the capture's (0 with the SYN captured; from write tags otherwise; null:
   * not alignable). The web page uses it to find the frames that carried a write.
   */
  offsetShifts: Map<string, number | null>;
  fingerprint: string;
  /** queries: SQLite reads of the first-transmission and ACK look-ups (runs of the walk, or seeks) that memory could not spare. */
  stats: { elapsedMs: number; queries: number; completions: number };
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
  if (!session) throw sessionNotFound(sessionId);
  let perDb = resultCache.get(db);
  if (!perDb) resultCache.set(db, (perDb = new Map()));
  const fingerprint = fingerprintOf(statements(db), session);
  const cached = perDb.get(sessionId);
  perDb.delete(sessionId); // re-inserted below: most recently used last
  if (cached?.fingerprint === fingerprint) {
    perDb.set(sessionId, cached);
    return cached;
  }
  // The stale result is out of the cache before the new one is built, so a growing live
  // session never holds two whole correlations at once (the soak's memory, docs/operations.md).
  const fresh = correlateSession(db, sessionId);
  perDb.set(sessionId, fresh);
  while (perDb.size > CACHE_SESSIONS) perDb.delete(perDb.keys().next().value as number);
  return fresh;
}

/** A session as it stands now, and its cached correlation when that is still current (none is computed). */
export function currentCorrelation(db: Db, sessionId: number): { session: SessionRow; fingerprint: string; cached: SessionCorrelation | null } {
  const session = getSession(db, sessionId);
  if (!session) throw sessionNotFound(sessionId);
  const fingerprint = fingerprintOf(statements(db), session);
  const cached = resultCache.get(db)?.get(sessionId);
  return { session, fingerprint, cached: cached?.fingerprint === fingerprint ? cached : null };
}

/**
 * How the "first frame reaching offset X" look-ups read the store: `walk` (the default)
 * reads each flow direction's advances in runs and walks them with the writes
 * (AdvanceWalk); `seek` asks SQLite once per look-up (FirstReaching), as before. Both give
 * the same records; `seek` stays as the reference the bench and a differential test
 * compare against.
 */
export type AdvanceReads = 'walk' | 'seek';

/** How the reads go: the look-ups (`reads`), and the encoding of the runs the walk and the completions come in (`runs`: packed where the extension loads). */
export interface ReadOptions {
  reads?: AdvanceReads;
  runs?: RunEncoding;
}

/** A correlation without its records: what is left when they were handed out one by one. */
export type CorrelationHead = Omit<SessionCorrelation, 'records'>;

/** Correlates every completion of a session now (no cache), inside one read transaction. */
export function correlateSession(db: Db, sessionId: number, options: ReadOptions = {}): SessionCorrelation {
  const records: CorrelationRecord[] = [];
  const head = correlateEach(db, sessionId, (r) => records.push(r), options);
  return { ...head, records };
}

/**
 * The same correlation, each record handed to `onRecord` as it is made (in the order
 * correlateSession keeps them) and none held, so a caller that folds them (a streamed
 * summary, correlate/summary-stream.ts) holds only its fold.
 */
export function correlateEach(
  db: Db,
  sessionId: number,
  onRecord: (record: CorrelationRecord) => void,
  options: ReadOptions = {},
): CorrelationHead {
  const reads = options.reads ?? 'walk';
  const s = statements(db);
  const runs = runStatements(db, options.runs);
  const started = performance.now();
  const run = db.transaction(() => {
    const session = getSession(db, sessionId);
    if (!session) throw sessionNotFound(sessionId);
    const fingerprint = fingerprintOf(s, session);
    const { firstTs, lastTs } = frameTimeBounds(s, sessionId);
    // Relative times stay exact within ±104 days of the base: the capture's first frame,
    // else (no frames) the median submission (one wrong clock cannot move it).
    const baseNs = firstTs ?? medianSubmission(s, sessionId) ?? session.created_ns;
    return assembleEach(
      {
        session,
        baseNs,
        firstTs,
        lastTs,
        fingerprint,
        flows: readFlows(s, baseNs, sessionId),
        completions: reads === 'walk' ? completionsInRuns(s, runs, baseNs, sessionId) : completionsForCorrelation(s, baseNs, sessionId),
        sideOf: (flow, dataDir) => loadFlowSide(s, runs, baseNs, flow, dataDir, reads),
        taggedDirections: (flowId) => taggedDirections(s, flowId),
        tagsOf: (flowId, dir) => readTags(s, baseNs, flowId, dir),
      },
      onRecord,
    );
  });
  const result = run.deferred();
  result.stats.elapsedMs = performance.now() - started;
  return result;
}

/**
 * What a store hands the correlation: the session's rows as the correlation reads them
 * (times relative to baseNs). SQLite reads them lazily inside its read transaction; the
 * ClickHouse store (analysis/clickhouse-correlation.ts) has read them in a few set-based
 * queries beforehand. Either way the rules below are the same.
 */
export interface CorrelationInputs {
  session: SessionRow;
  baseNs: bigint;
  /** The capture's first and last frame time, epoch ns (undefined: no frames). */
  firstTs: bigint | undefined;
  lastTs: bigint | undefined;
  fingerprint: string;
  flows: FlowInfo[];
  /** In (flow 4-tuple, writeId) order. */
  completions: Iterable<CompletionForCorrelation>;
  /** One direction of a flow, asked once per (flow, direction) that a completion matched. */
  sideOf: (flow: FlowInfo, dataDir: 0 | 1) => FlowSide;
  taggedDirections: (flowId: number) => (0 | 1)[];
  tagsOf: (flowId: number, dir: 0 | 1) => TagRow[];
  /** Each flow's host and each host's claimed clock error; absent on a one-host store (SQLite). */
  hostClocks?: SessionHostClocks;
}

/** The correlation of a session from its inputs: flow matching, evidence, classification, ordering. */
export function assembleCorrelation(inputs: CorrelationInputs): SessionCorrelation {
  const records: CorrelationRecord[] = [];
  const head = assembleEach(inputs, (r) => records.push(r));
  return { ...head, records };
}

/** assembleCorrelation handing each record to `onRecord` as it is made, holding none: the one loop of both. */
export function assembleEach(inputs: CorrelationInputs, onRecord: (record: CorrelationRecord) => void): CorrelationHead {
  const { session, baseNs, firstTs, lastTs, fingerprint, flows } = inputs;
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

  const index = new FlowIndex(flows.map(toCandidate));
  const byId = new Map(flows.map((f) => [f.id, f]));
  const sides = new Map<string, FlowSide>();
  // completions come grouped by address pair: the side asked last is nearly always the one asked next
  let lastAsked: FlowSide | null = null;
  const sideOf = (flowId: number, dataDir: 0 | 1): FlowSide => {
    if (lastAsked !== null && lastAsked.flowId === flowId && lastAsked.dataDir === dataDir) return lastAsked;
    const key = `${flowId}/${dataDir}`;
    let side = sides.get(key);
    if (!side) sides.set(key, (side = inputs.sideOf(byId.get(flowId)!, dataDir)));
    return (lastAsked = side);
  };
  // Completions come grouped by address pair, so a flow direction's look-ups are over
  // once the next completion asks another: what its walk holds is let go then.
  let lastSide: FlowSide | null = null;

  const facts: SessionFacts = { captureStartNs, captureEndNs, captureRunning: session.state === 'capturing', kernelDrops, clockUncertaintyNs, nearMarginNs };
  const hostClocks = inputs.hostClocks;
  let correlated = 0;
  for (const c of inputs.completions) {
    const { id, srcAddr, srcPort, dstAddr, dstPort, writeId, offsetStart, offsetEnd, submittedNs, completedNs } = c;
    // More than 104 days from the base (a wrong clock let in on purpose, ingest refuses
    // it otherwise): its times cannot be placed exactly, so it alone is unknown; its
    // times are shown to the nearest representable ns.
    const placeable = Number.isSafeInteger(submittedNs) && Number.isSafeInteger(completedNs);
    const match = placeable ? index.match({ srcAddr, srcPort, dstAddr, dstPort }, submittedNs, completedNs) : null;
    const side = match ? sideOf(match.flow.id, match.dataDir) : null;
    if (side !== lastSide && side !== null) {
      lastSide?.sent.release?.();
      lastSide?.acked.release?.();
      lastSide = side;
    }
    // staged on the bytes the call accepted; the record keeps the submitted range
    const stagedEnd = acceptedEnd(offsetStart, offsetEnd, c.bytesReported);
    const evidence = evidenceFor(side, offsetStart, stagedEnd, submittedNs, completedNs, c.tcpBytesSent, c.tcpBytesAcked, facts);
    // the completion's clock against its flow's capturing host's (one host: the session's uncertainty as it is)
    const clock =
      hostClocks !== undefined && match !== null && c.host !== undefined
        ? clockErrorBetween(clockUncertaintyNs, c.host, hostClocks.flowHosts.get(match.flow.id) ?? null, hostClocks.claimed)
        : null;
    if (clock !== null) evidence.clockUncertaintyNs = clock.clockErrorNs;
    const crossHost = clock !== null && clock.crossHost;
    const k = placeable ? classifyCompletion(evidence) : unplaceable(evidence);
    const ladder = ladderStage(k.stage, completedNs, k.lastWireNs, k.ackedNs, placeable ? c.kernel : null);
    // One literal with every field, no spread: spreading the classification into a
    // 34-property record built slow dictionary-mode objects; dropping the spreads took
    // the bench from 36 to 17 µs per completion.
    correlated++;
    onRecord({
      completionId: id,
      flowId: match ? match.flow.id : null,
      dataDir: match ? match.dataDir : null,
      srcAddr,
      srcPort,
      dstAddr,
      dstPort,
      writeId,
      api: c.api,
      status: c.status,
      buffers: c.buffers,
      offsetStart,
      offsetEnd,
      bytesReported: c.bytesReported,
      submittedNs,
      completedNs,
      tcpBytesSent: c.tcpBytesSent,
      tcpBytesAcked: c.tcpBytesAcked,
      stage: ladder.stage,
      reason: k.reason,
      firstWireNs: k.firstWireNs,
      lastWireNs: k.lastWireNs,
      ackedNs: k.ackedNs,
      sackedNs: k.sackedNs,
      retransmitted: k.retransmitted,
      submitToCompleteNs: k.submitToCompleteNs,
      lastWireMinusCompleteNs: k.lastWireMinusCompleteNs,
      ackedMinusCompleteNs: k.ackedMinusCompleteNs,
      decidingGapNs: k.decidingGapNs,
      decidingEvent: k.decidingEvent,
      decidingEarliestNs: k.decidingEarliestNs,
      decidingLatestNs: k.decidingLatestNs,
      decidingDoubt: k.decidingDoubt,
      nearBoundary: k.nearBoundary,
      uncertain: k.uncertain,
      tcpInfoStage: k.tcpInfoStage,
      tcpInfoAgrees: k.tcpInfoAgrees,
      kernel: c.kernel,
      kernelStage: ladder.kernelStage,
      decidedBy: ladder.decidedBy,
      driverMinusWireNs: ladder.driverMinusWireNs,
      ackArrivedMinusCaptureNs: ladder.ackArrivedMinusCaptureNs,
      clockErrorNs: evidence.clockUncertaintyNs,
      crossHost,
      completionHost: crossHost ? c.host! : null,
      captureHost: crossHost ? hostClocks!.flowHosts.get(match!.flow.id)! : null,
    });
  }

  const ordering: FlowOrdering[] = [];
  for (const flow of flows) {
    for (const d of inputs.taggedDirections(flow.id)) {
      const side = sides.get(`${flow.id}/${d}`);
      const synSeen = d === 0 ? flow.aSynSeen : flow.bSynSeen;
      const result = orderingVerdict(inputs.tagsOf(flow.id, d), synSeen ? 0 : (side?.shift ?? null));
      ordering.push({ flowId: flow.id, dir: d, result });
    }
  }
  let queries = 0;
  for (const side of sides.values()) queries += side.sent.queries + side.acked.queries;
  return {
    session,
    baseNs,
    flows,
    ordering,
    captureStartNs,
    captureEndNs,
    kernelDrops,
    offsetShifts: new Map([...sides].map(([key, side]) => [key, side.shift])),
    fingerprint,
    stats: { elapsedMs: 0, queries, completions: correlated },
  };
}

/** What a flow direction's side is made of, however the store read it. */
export interface FlowSideParts {
  tags: TagRow[];
  /** First data frame and first ACK of the direction (directionStart); unused with the SYN captured. */
  start: DirectionCoverage;
  sent: FirstReachingLookup;
  acked: FirstReachingLookup;
  sacks: SackBlocks;
  retransmits: Retransmits;
}

/** One direction of a flow as the evidence needs it: the offset shift and the coverage decided here, once for every store. */
export function flowSide(flow: FlowInfo, dataDir: 0 | 1, parts: FlowSideParts): FlowSide {
  const ackDir: 0 | 1 = dataDir === 0 ? 1 : 0;
  const synSeen = dataDir === 0 ? flow.aSynSeen : flow.bSynSeen;
  // With the SYN captured, offsets count from the ISN as the sender's do.
  const shift = synSeen ? 0 : offsetShiftFromTags(parts.tags);
  const coverage: DirectionCoverage = synSeen ? { dataLowOff: 0, dataLowNs: flow.firstNs, ackLowOff: -1, ackLowNs: flow.firstNs } : parts.start;
  return { flowId: flow.id, dataDir, ackDir, shift, coverage, sent: parts.sent, acked: parts.acked, sacks: parts.sacks, retransmits: parts.retransmits };
}

function loadFlowSide(s: Statements, runs: RunStatements, base: bigint, flow: FlowInfo, dataDir: 0 | 1, reads: AdvanceReads): FlowSide {
  const ackDir: 0 | 1 = dataDir === 0 ? 1 : 0;
  const synSeen = dataDir === 0 ? flow.aSynSeen : flow.bSynSeen;
  return flowSide(flow, dataDir, {
    tags: readTags(s, base, flow.id, dataDir),
    start: synSeen ? NO_START : directionStart(s, base, flow.id, dataDir),
    sent:
      reads === 'walk'
        ? new AdvanceWalk(runs.sentRun, s.firstSent, { base, flow: flow.id, dir: dataDir, x: 0, n: 0 }, { stmt: runs.sentRange, last: s.sentLast })
        : new FirstReaching(s.firstSent, { base, flow: flow.id, dir: dataDir, x: 0 }),
    acked:
      reads === 'walk'
        ? new AdvanceWalk(runs.ackRun, s.firstAck, { base, flow: flow.id, dir: ackDir, x: 0, n: 0 }, { stmt: runs.ackRange, last: s.ackLast })
        : new FirstReaching(s.firstAck, { base, flow: flow.id, dir: ackDir, x: 0 }),
    sacks: readSacks(s, base, flow.id, ackDir),
    retransmits: readRetransmits(s, flow.id, dataDir),
  });
}

const NO_START: DirectionCoverage = { dataLowOff: null, dataLowNs: null, ackLowOff: null, ackLowNs: null };

function toCandidate(f: FlowInfo): FlowCandidate {
  return { id: f.id, aAddr: f.aAddr, aPort: f.aPort, bAddr: f.bAddr, bPort: f.bPort, firstNs: f.firstNs, lastNs: f.lastNs };
}
