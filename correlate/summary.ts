import { partialCompletions, type PartialResult } from './partial.js';
import { spread, type Spread } from './percentiles.js';
import type { OrderingResult, OrderingVerdict } from './ordering.js';
import { STAGES, type CorrelationRecord, type Stage, type UnknownReason } from './types.js';

/** Counts, shares and gap spreads of a group of correlated completions. Pure. */
export interface GroupSummary {
  completions: number;
  stages: Record<Stage, { count: number; share: number }>;
  unknownReasons: Partial<Record<UnknownReason, number>>;
  uncertain: number;
  /** Completions matched to a flow another host captured (their clock error adds both hosts' claims: correlate/host-clocks.ts). */
  crossHost: number;
  /** Of those, the uncertain ones. */
  crossHostUncertain: number;
  nearBoundary: number;
  /** Stages (not `unknown`) decided from an event the capture could only bound (drops, a hole, a late start). */
  decidedFromWindow: number;
  gaps: {
    submitToComplete: Spread;
    lastWireMinusComplete: Spread;
    ackedMinusComplete: Spread;
  };
  retransmitted: number;
  sackedBeforeAck: number;
  tcpInfo: { compared: number; agree: number; disagree: number };
  partial: PartialResult;
  /** The kernel tracer beside the capture: completions it witnessed, stages the two witnesses agree on, and the same moment seen by both. */
  kernel: KernelAgreement;
}

export interface KernelAgreement {
  witnessed: number;
  /** Both witnesses gave a stage (the kernel's `socket`/`qdisc` count as the capture's `queued`). */
  compared: number;
  agree: number;
  decidedByKernel: number;
  driverMinusWire: Spread;
  ackArrivedMinusCapture: Spread;
}

const AS_CAPTURE: Record<string, Stage> = { socket: 'queued', qdisc: 'queued', wire: 'wire', acked: 'acked' };

export function kernelAgreement(records: readonly CorrelationRecord[]): KernelAgreement {
  let witnessed = 0;
  let compared = 0;
  let agree = 0;
  let decidedByKernel = 0;
  const driver: number[] = [];
  const ack: number[] = [];
  for (const r of records) {
    if (!r.kernel) continue;
    witnessed++;
    if (r.decidedBy === 'kernel') decidedByKernel++;
    else if (r.kernelStage !== null && r.stage !== 'unknown') {
      compared++;
      const captureStage = r.stage === 'socket' || r.stage === 'qdisc' ? 'queued' : r.stage;
      // partial-wire by the capture: the last byte is still in the host, as socket/qdisc say
      if (AS_CAPTURE[r.kernelStage] === captureStage || (captureStage === 'partial-wire' && AS_CAPTURE[r.kernelStage] === 'queued')) agree++;
    }
    if (r.driverMinusWireNs !== null) driver.push(r.driverMinusWireNs);
    if (r.ackArrivedMinusCaptureNs !== null) ack.push(r.ackArrivedMinusCaptureNs);
  }
  return { witnessed, compared, agree, decidedByKernel, driverMinusWire: spread(driver), ackArrivedMinusCapture: spread(ack) };
}

export function summarise(records: readonly CorrelationRecord[]): GroupSummary {
  const counts = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
  const unknownReasons: Partial<Record<UnknownReason, number>> = {};
  const submit: number[] = [];
  const wire: number[] = [];
  const acked: number[] = [];
  let uncertain = 0;
  let crossHost = 0;
  let crossHostUncertain = 0;
  let nearBoundary = 0;
  let decidedFromWindow = 0;
  let retransmitted = 0;
  let sackedBeforeAck = 0;
  const tcpInfo = { compared: 0, agree: 0, disagree: 0 };
  for (const r of records) {
    counts[r.stage]++;
    if (r.reason) unknownReasons[r.reason] = (unknownReasons[r.reason] ?? 0) + 1;
    submit.push(r.submitToCompleteNs);
    if (r.lastWireMinusCompleteNs !== null) wire.push(r.lastWireMinusCompleteNs);
    if (r.ackedMinusCompleteNs !== null) acked.push(r.ackedMinusCompleteNs);
    if (r.uncertain) uncertain++;
    if (r.crossHost) {
      crossHost++;
      if (r.uncertain) crossHostUncertain++;
    }
    if (r.nearBoundary) nearBoundary++;
    if (r.stage !== 'unknown' && r.decidingDoubt !== null) decidedFromWindow++;
    if (r.retransmitted) retransmitted++;
    if (r.sackedNs !== null) sackedBeforeAck++;
    if (r.tcpInfoAgrees !== null) {
      tcpInfo.compared++;
      if (r.tcpInfoAgrees) tcpInfo.agree++;
      else tcpInfo.disagree++;
    }
  }
  const n = records.length;
  const stages = Object.fromEntries(
    STAGES.map((s) => [s, { count: counts[s], share: n === 0 ? 0 : counts[s] / n }]),
  ) as GroupSummary['stages'];
  return {
    completions: n,
    stages,
    unknownReasons,
    uncertain,
    crossHost,
    crossHostUncertain,
    nearBoundary,
    decidedFromWindow,
    gaps: { submitToComplete: spread(submit), lastWireMinusComplete: spread(wire), ackedMinusComplete: spread(acked) },
    retransmitted,
    sackedBeforeAck,
    tcpInfo,
    partial: partialCompletions(records),
    kernel: kernelAgreement(records),
  };
}

const VERDICT_WEIGHT: Record<OrderingVerdict, number> = { 'no-tags': 0, 'in-order': 1, interleaved: 2, reordered: 3 };

/** Several flows' ordering results as one: the worst verdict, with its first violation. */
export function worstOrdering(results: readonly OrderingResult[]): OrderingResult {
  let worst: OrderingResult = { verdict: 'no-tags', writesSeen: 0, firstViolation: null };
  let writesSeen = 0;
  for (const r of results) {
    writesSeen += r.writesSeen;
    if (VERDICT_WEIGHT[r.verdict] > VERDICT_WEIGHT[worst.verdict]) worst = r;
  }
  return { ...worst, writesSeen };
}

/** Groups records by a key, keeping first-seen order. */
export function groupBy<K>(records: readonly CorrelationRecord[], key: (r: CorrelationRecord) => K): Map<K, CorrelationRecord[]> {
  const groups = new Map<K, CorrelationRecord[]>();
  for (const r of records) {
    const k = key(r);
    const list = groups.get(k);
    if (list) list.push(r);
    else groups.set(k, [r]);
  }
  return groups;
}

export interface FlowIdentity {
  id: number;
  aAddr: string;
  aPort: number;
  bAddr: string;
  bPort: number;
  frames: number;
  retransmits: number;
}

export interface FlowOrderingInput {
  flowId: number;
  dir: 0 | 1;
  result: OrderingResult;
}

export interface SessionSummaryData {
  overall: GroupSummary;
  flows: { flow: FlowIdentity | null; ordering: OrderingResult; summary: GroupSummary }[];
  apis: { api: string; ordering: OrderingResult; summary: GroupSummary }[];
  /** How its p50/p90/p99 were taken (counts and max are always exact). */
  percentiles: PercentileAccuracy;
}

/**
 * Exact: from every value, sorted (`summariseSession`). Not exact: from a sketch
 * (correlate/quantile-sketch.ts, a session still capturing), each within
 * relativeError × |exact value| + 0.5 ns of the exact nearest-rank value.
 */
export interface PercentileAccuracy {
  exact: boolean;
  /** 0 when exact. */
  relativeError: number;
}

/**
 * A flow's ordering verdict: that of the directions its completions' bytes went
 * (`dataDirs`, per flow), or of every tagged direction when it has no completions.
 */
export function flowOrdering(ordering: readonly FlowOrderingInput[], dataDirs: ReadonlyMap<number, ReadonlySet<number>>): (flowId: number) => OrderingResult {
  return (flowId) => {
    const dirs = dataDirs.get(flowId);
    return worstOrdering(ordering.filter((o) => o.flowId === flowId && (!dirs || dirs.has(o.dir))).map((o) => o.result));
  };
}

/**
 * The session summary: everything, per flow (completions without a captured flow form
 * their own group) and per api. A flow's ordering verdict is that of the direction its
 * completions' bytes went (or every tagged direction when it has no completions).
 *
 * The reference, written plainly (each group summarised from its own array of records):
 * the service summarises with the one-pass folds of correlate/summary-stream.ts, which
 * test/summary.stream.test.ts checks against this, and bench/summary.ts times against it.
 */
export function summariseSession(
  records: readonly CorrelationRecord[],
  flows: readonly FlowIdentity[],
  ordering: readonly FlowOrderingInput[],
): SessionSummaryData {
  const byFlow = groupBy(records, (r) => r.flowId);
  const dataDirs = new Map<number, Set<number>>();
  for (const r of records) {
    if (r.flowId === null || r.dataDir === null) continue;
    let dirs = dataDirs.get(r.flowId);
    if (!dirs) dataDirs.set(r.flowId, (dirs = new Set()));
    dirs.add(r.dataDir);
  }
  const orderingOfFlow = flowOrdering(ordering, dataDirs);
  const flowRows: SessionSummaryData['flows'] = flows.map((flow) => ({
    flow,
    ordering: orderingOfFlow(flow.id),
    summary: summarise(byFlow.get(flow.id) ?? []),
  }));
  const unmatched = byFlow.get(null);
  if (unmatched) flowRows.push({ flow: null, ordering: worstOrdering([]), summary: summarise(unmatched) });

  const apis = [...groupBy(records, (r) => r.api)].map(([api, list]) => {
    const flowIds = new Set(list.map((r) => r.flowId).filter((id): id is number => id !== null));
    return { api, ordering: worstOrdering([...flowIds].map(orderingOfFlow)), summary: summarise(list) };
  });
  return { overall: summarise(records), flows: flowRows, apis, percentiles: { exact: true, relativeError: 0 } };
}
