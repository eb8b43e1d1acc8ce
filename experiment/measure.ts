/**
 * From the service's answers to the experiment's records: a session's summary (GET
 * /sessions/:id/summary) becomes a PointMeasurement; its correlations and frames become
 * the RunDetail the per-run plots draw. The conversions are pure; the readers take the
 * app (fastify.inject: the parent process opens the same SQLite file).
 */
import type { App } from '../service/app.js';
import type { CorrelationT, SummaryT } from '../service/schemas/correlation.js';
import { AckscopeError } from '../core/errors.js';
import { errorFromReply } from '../core/api-reply.js';
import {
  STAGES,
  emptyStages,
  type AckPoint,
  type CompletionTimes,
  type OrderingVerdict,
  type Percentiles,
  type PointMeasurement,
  type RunDetail,
  type SegmentPoint,
  type Stage,
} from './results.js';

const NS_PER_MS = 1e6;

function spreadToMs(s: { count: number; p50: string | null; p90: string | null; p99: string | null; max: string | null }): Percentiles | null {
  if (s.count === 0 || s.p50 === null || s.p90 === null || s.p99 === null || s.max === null) return null;
  return { p50: Number(s.p50) / NS_PER_MS, p90: Number(s.p90) / NS_PER_MS, p99: Number(s.p99) / NS_PER_MS, max: Number(s.max) / NS_PER_MS };
}

function stageCounts(byStage: SummaryT['overall']['stages']): Record<Stage, number> {
  const stages = emptyStages();
  for (const s of STAGES) stages[s] = (byStage as Record<string, { count: number }>)[s]?.count ?? 0;
  return stages;
}

export function orderingVerdict(v: SummaryT['flows'][number]['ordering']['verdict']): OrderingVerdict {
  if (v === 'in-order') return 'in-order';
  if (v === 'no-tags') return 'untagged';
  return 'violated'; // interleaved or reordered
}

/**
 * A point's measurement from its session summary. A point has one connection; should a
 * summary hold several flows, ordering is judged over all of them (any violation wins).
 */
export function summaryToMeasurement(summary: SummaryT): PointMeasurement {
  const o = summary.overall;
  const stages = stageCounts(o.stages);
  const flows = summary.flows.filter((f) => f.flowId !== null);
  const verdicts = flows.map((f) => ({ v: orderingVerdict(f.ordering.verdict), f }));
  const violated = verdicts.find((x) => x.v === 'violated');
  let verdict: OrderingVerdict = 'unknown';
  if (violated) verdict = 'violated';
  else if (verdicts.length > 0 && verdicts.every((x) => x.v === 'in-order')) verdict = 'in-order';
  else if (verdicts.length > 0 && verdicts.every((x) => x.v === 'untagged')) verdict = 'untagged';
  return {
    completions: o.completions,
    stages,
    completionMs: spreadToMs(o.gaps.submitToComplete),
    lastWireAfterMs: spreadToMs(o.gaps.lastWireMinusComplete),
    ackedAfterMs: spreadToMs(o.gaps.ackedMinusComplete),
    partial: {
      count: o.partial.partial,
      examples: o.partial.examples.map((e) => `write ${e.writeId}: ${e.bytesReported} of ${e.length} B (${e.status})`),
    },
    ordering: {
      verdict,
      writesChecked: flows.reduce((n, f) => n + f.ordering.writesSeen, 0),
      firstViolation: violated?.f.ordering.firstViolation?.message ?? null,
    },
    retransmitted: o.retransmitted,
    nearBoundary: o.nearBoundary,
    pcapDropped: summary.capture.drops.dropped ?? 0,
    kernelAgreement: o.tcpInfo.compared > 0 ? { compared: o.tcpInfo.compared, agreed: o.tcpInfo.agree } : null,
    kernelWitness:
      o.kernel.witnessed > 0
        ? { witnessed: o.kernel.witnessed, compared: o.kernel.compared, agreed: o.kernel.agree, driverMinusWireMs: spreadToMs(o.kernel.driverMinusWire) }
        : null,
    apis: summary.apis.map((a) => ({ api: a.api, completions: a.completions, stages: stageCounts(a.stages) })),
  };
}

async function getJson<T>(app: App, url: string): Promise<T> {
  const res = await app.inject({ method: 'GET', url });
  if (res.statusCode >= 400) throw errorFromReply(res.statusCode, res.body, `GET ${url}`);
  return JSON.parse(res.body) as T;
}

export async function readSummary(app: App, sessionId: number): Promise<SummaryT> {
  return getJson<SummaryT>(app, `/sessions/${sessionId}/summary`);
}

export async function readCorrelations(app: App, sessionId: number): Promise<CorrelationT[]> {
  const all: CorrelationT[] = [];
  let cursor: string | null = null;
  do {
    const q: string = `limit=10000&sort=completed${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page: { items: CorrelationT[]; nextCursor: string | null } = await getJson(app, `/sessions/${sessionId}/correlations?${q}`);
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

/** Data frames and ACKs of one flow, times as epoch-ns BigInts. */
export interface FlowFrames {
  data: { tsNs: bigint; seqOff: number; len: number; retransmit: boolean }[];
  acks: { tsNs: bigint; ackOff: number }[];
}

/**
 * Frames of the flow the completions belong to, straight from the frames table (two
 * look-ups on its per-flow indexes; a point's run is a few thousand frames).
 */
export function readFlowFrames(app: App, flowId: number): FlowFrames {
  const data = app.db
    .prepare('SELECT ts_ns, seq_off, payload_len, retransmit FROM frames WHERE flow_id = ? AND dir = 0 AND payload_len > 0 ORDER BY id')
    .safeIntegers(true)
    .all(flowId) as { ts_ns: bigint; seq_off: bigint; payload_len: bigint; retransmit: bigint }[];
  const acks = app.db
    // ack_advances (005_frame_advances.sql): the frames whose ACK advanced, keyed by it (so in frame order)
    .prepare('SELECT ts_ns, acked_max AS ack_off FROM ack_advances WHERE flow_id = ? AND dir = 1 ORDER BY acked_max')
    .safeIntegers(true)
    .all(flowId) as { ts_ns: bigint; ack_off: bigint }[];
  return {
    data: data.map((r) => ({ tsNs: r.ts_ns, seqOff: Number(r.seq_off), len: Number(r.payload_len), retransmit: r.retransmit !== 0n })),
    acks: acks.map((r) => ({ tsNs: r.ts_ns, ackOff: Number(r.ack_off) })),
  };
}

/** The per-run plot data: times in ms since the first submission (pure). */
export function buildRunDetail(label: string, sessionId: number | null, correlations: readonly CorrelationT[], frames: FlowFrames): RunDetail {
  const sorted = [...correlations].sort((a, b) => a.writeId - b.writeId);
  if (sorted.length === 0) return { label, sessionId, completions: [], segments: [], acks: [] };
  const base = sorted.reduce((min, c) => (BigInt(c.submittedNs) < min ? BigInt(c.submittedNs) : min), BigInt(sorted[0].submittedNs));
  const ms = (ns: string | bigint | null) => (ns === null ? null : Number(BigInt(ns) - base) / NS_PER_MS);
  const completions: CompletionTimes[] = sorted.map((c) => ({
    writeId: c.writeId,
    offsetStart: c.offsetStart,
    offsetEnd: c.offsetEnd,
    submittedMs: ms(c.submittedNs)!,
    completedMs: ms(c.completedNs)!,
    firstWireMs: ms(c.firstWireNs),
    lastWireMs: ms(c.lastWireNs),
    ackedMs: ms(c.ackedNs),
    stage: c.stage,
  }));
  const segments: SegmentPoint[] = frames.data.map((f) => ({
    tMs: ms(f.tsNs)!,
    offsetStart: f.seqOff,
    offsetEnd: f.seqOff + f.len,
    retransmit: f.retransmit,
  }));
  const acks: AckPoint[] = frames.acks.map((a) => ({ tMs: ms(a.tsNs)!, ackOffset: a.ackOff }));
  return { label, sessionId, completions, segments, acks };
}

export async function readRunDetail(app: App, label: string, sessionId: number): Promise<RunDetail> {
  const correlations = await readCorrelations(app, sessionId);
  const flowId = correlations.find((c) => c.flowId !== null)?.flowId ?? null;
  const frames = flowId === null ? { data: [], acks: [] } : readFlowFrames(app, flowId);
  return buildRunDetail(label, sessionId, correlations, frames);
}
