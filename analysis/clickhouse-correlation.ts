/**
 * The correlation of a session kept in the ClickHouse store: the same rules as SQLite's
 * (assembleCorrelation in analysis/correlation.ts, correlate/), fed by set-based reads
 * (clickhouse/correlation-reads.ts) instead of one index look-up per completion.
 *
 * The per-completion look-ups are known only once each completion is matched to a flow
 * and its offsets aligned (flow matching, the tag shift, the accepted end): so the rules
 * run twice. The first run records every threshold evidenceFor asks (it asks the same
 * ones whatever the answers are), the store answers all of them in two or three
 * queries per kind, and the second run classifies with the answers. Recording through
 * the rules themselves, rather than recomputing the thresholds here, keeps one
 * definition of which look-ups a completion needs.
 */
import { AckscopeError, sessionNotFound } from '../core/errors.js';
import type { ClickHouseClient } from '../clickhouse/http-client.js';
import {
  firstReachingMany,
  readCompletionCount,
  readCompletions,
  readFlowHosts,
  readFlows,
  readFrameBounds,
  readMedianSubmission,
  readSession,
  readSides,
  type Lookup,
  type LookupAnswers,
} from '../clickhouse/correlation-reads.js';
import type { FirstReachingLookup } from '../correlate/evidence.js';
import type { FrameHit } from '../correlate/types.js';
import { correlationFingerprint } from '../correlate/inputs.js';
import { readStatedClockErrors } from '../clickhouse/session-hosts.js';
import { assembleCorrelation, assembleEach, flowSide, type SessionCorrelation } from './correlation.js';

const EMPTY_SACKS = { ts: [], left: [], right: [] };
const EMPTY_RETRANSMITS = { seq: [], len: [], maxLen: 0 };

/** First run: remembers what is asked, answers nothing. */
class RecordingLookup implements FirstReachingLookup {
  readonly queries = 0;
  constructor(
    private readonly flowId: number,
    private readonly dir: 0 | 1,
    private readonly into: Lookup[],
  ) {}
  find(x: number): FrameHit | null {
    this.into.push({ flowId: this.flowId, dir: this.dir, x });
    return null;
  }
}

/** Second run: answers from what the store returned for the whole session. */
class AnsweredLookup implements FirstReachingLookup {
  readonly queries = 0;
  constructor(
    private readonly flowId: number,
    private readonly dir: 0 | 1,
    private readonly answers: LookupAnswers,
  ) {}
  find(x: number): FrameHit | null {
    const hit = this.answers.get(this.flowId, this.dir, x);
    if (hit === undefined) {
      throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', `look-up ${this.flowId}/${this.dir}/${x} was not asked in the first run`);
    }
    return hit;
  }
}

export interface ClickHouseCorrelationStats {
  /** Round trips to ClickHouse in all. */
  storeQueries: number;
  lookups: { sent: number; acked: number; secondPass: number };
  /** Where the time went: the session's reads, the recording run of the rules, the look-ups, the classifying run. */
  phasesMs: { reads: number; record: number; lookups: number; classify: number };
}

/** Correlates every completion of a session in the ClickHouse store. */
export async function correlateSessionInClickHouse(
  client: ClickHouseClient,
  sessionId: number,
): Promise<SessionCorrelation & { store: ClickHouseCorrelationStats }> {
  const started = performance.now();
  const session = await readSession(client, sessionId);
  if (!session) throw sessionNotFound(sessionId);
  const [bounds, counts] = await Promise.all([readFrameBounds(client, sessionId), readCompletionCount(client, sessionId)]);
  const baseNs = bounds.firstTs ?? (await readMedianSubmission(client, sessionId, counts.count)) ?? session.created_ns;
  const fingerprint = correlationFingerprint(session, bounds.maxFrameNo, counts.count, counts.maxId);
  const [flows, completions, sides, flowHosts, stated] = await Promise.all([
    readFlows(client, sessionId, baseNs),
    readCompletions(client, sessionId, baseNs),
    readSides(client, sessionId, baseNs),
    readFlowHosts(client, sessionId),
    readStatedClockErrors(client, sessionId),
  ]);
  const readsDone = performance.now();
  // the reads above: session, bounds, count, (median), flows, witnesses, completions, 5 per-side reads, flow hosts, stated clock errors
  let storeQueries = 19;
  // numbers, as every time in correlate/ (a claim past 2^53 ns, 104 days, loses precision, not its effect: all within is uncertain)
  const hostClocks = { flowHosts, claimed: new Map([...stated].map(([host, ns]) => [host, Number(ns)])) };
  const key = (flowId: number, dir: number) => `${flowId}/${dir}`;

  const common = {
    session,
    baseNs,
    firstTs: bounds.firstTs,
    lastTs: bounds.lastTs,
    fingerprint,
    flows,
    completions,
    hostClocks,
    taggedDirections: (flowId: number) => ([0, 1] as const).filter((d) => (sides.tags.get(key(flowId, d))?.length ?? 0) > 0),
    tagsOf: (flowId: number, dir: 0 | 1) => sides.tags.get(key(flowId, dir)) ?? [],
  };
  const partsOf = (flowId: number, dataDir: 0 | 1) => {
    const ackDir: 0 | 1 = dataDir === 0 ? 1 : 0;
    return {
      tags: sides.tags.get(key(flowId, dataDir)) ?? [],
      start: sides.starts(flowId, dataDir),
      sacks: sides.sacks.get(key(flowId, ackDir)) ?? EMPTY_SACKS,
      retransmits: sides.retransmits.get(key(flowId, dataDir)) ?? EMPTY_RETRANSMITS,
      ackDir,
    };
  };

  const sentAsked: Lookup[] = [];
  const ackedAsked: Lookup[] = [];
  // the first pass only records the look-ups the rules ask; its records are not kept
  assembleEach({
    ...common,
    sideOf: (flow, dataDir) => {
      const p = partsOf(flow.id, dataDir);
      return flowSide(flow, dataDir, { ...p, sent: new RecordingLookup(flow.id, dataDir, sentAsked), acked: new RecordingLookup(flow.id, p.ackDir, ackedAsked) });
    },
  }, () => undefined);
  const recorded = performance.now();
  const [sent, acked] = await Promise.all([
    firstReachingMany(client, sessionId, baseNs, 'sent', sentAsked, sides.highestSent),
    firstReachingMany(client, sessionId, baseNs, 'acked', ackedAsked, sides.highestAcked),
  ]);
  storeQueries += sent.queries + acked.queries;
  const answered = performance.now();
  const result = assembleCorrelation({
    ...common,
    sideOf: (flow, dataDir) => {
      const p = partsOf(flow.id, dataDir);
      return flowSide(flow, dataDir, { ...p, sent: new AnsweredLookup(flow.id, dataDir, sent.answers), acked: new AnsweredLookup(flow.id, p.ackDir, acked.answers) });
    },
  });
  const done = performance.now();
  result.stats.elapsedMs = done - started;
  return {
    ...result,
    store: {
      storeQueries,
      lookups: { sent: sentAsked.length, acked: ackedAsked.length, secondPass: sent.secondPass + acked.secondPass },
      phasesMs: { reads: readsDone - started, record: recorded - readsDone, lookups: answered - recorded, classify: done - answered },
    },
  };
}
