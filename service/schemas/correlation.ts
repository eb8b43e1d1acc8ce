import { Type, type Static, type TSchema } from 'typebox';
import { NsString } from './common.js';
import type { CorrelationRecord } from '../../correlate/types.js';
import { STAGES, UNKNOWN_REASONS, type Stage, type UnknownReason } from '../../core/stages.js';
import type { GroupSummary, SessionSummaryData } from '../../correlate/summary.js';
import type { OrderingResult } from '../../correlate/ordering.js';
import type { Spread } from '../../correlate/percentiles.js';
import { absoluteNs, type SessionCorrelation } from '../../analysis/correlation.js';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const NsGap = Type.String({ pattern: '^-?[0-9]+$', description: 'signed nanoseconds, decimal string' });

export const StageSchema = Type.Unsafe<Stage>({ type: 'string', enum: [...STAGES] });
export const ReasonSchema = Type.Unsafe<UnknownReason>({ type: 'string', enum: [...UNKNOWN_REASONS] });

export const Correlation = Type.Object(
  {
    completionId: Type.Integer(),
    flowId: Nullable(Type.Integer()),
    writeId: Type.Integer(),
    api: Type.String(),
    status: Type.String(),
    buffers: Type.Integer(),
    flow: Type.Object({ srcAddr: Type.String(), srcPort: Type.Integer(), dstAddr: Type.String(), dstPort: Type.Integer() }),
    offsetStart: Type.Integer(),
    offsetEnd: Type.Integer({ description: 'exclusive; the end of the submitted range (see bytesReported)' }),
    bytesReported: Type.Integer({
      description:
        'what the call reported it transferred; fewer than offsetEnd − offsetStart is a partial completion: its stage is decided on [offsetStart, offsetStart + bytesReported), the bytes it accepted, while offsetStart/offsetEnd keep the submitted range',
    }),
    submittedNs: NsString,
    completedNs: NsString,
    firstWireNs: Nullable(NsString),
    lastWireNs: Nullable(NsString),
    ackedNs: Nullable(NsString),
    sackedNs: Nullable(NsString),
    stage: StageSchema,
    reason: Nullable(ReasonSchema),
    gaps: Type.Object({
      submitToCompleteNs: NsGap,
      lastWireMinusCompleteNs: Nullable(NsGap),
      ackedMinusCompleteNs: Nullable(NsGap),
    }),
    retransmitted: Type.Boolean(),
    decidingGapNs: Nullable(
      Type.String({
        pattern: '^-?[0-9]+$',
        description:
          'distance from the completion to the nearest deciding event; an event known only within a window counts at the window edge nearest the completion',
      }),
    ),
    decidingEvent: Nullable(Type.String()),
    decidingWindow: Nullable(
      Type.Object(
        {
          earliestNs: NsString,
          latestNs: Nullable(NsString),
          doubt: Nullable(ReasonSchema),
        },
        {
          description:
            'when the deciding event happened: exactly (earliest = latest, doubt null) or only within a window, with why (kernel drops, a capture hole, a late capture); latest null: unbounded',
        },
      ),
    ),
    nearBoundary: Type.Boolean(),
    uncertain: Type.Boolean({ description: 'the clock error (clockErrorNs) exceeds the deciding gap: the stage is a guess' }),
    clockErrorNs: Type.String({
      pattern: '^[0-9]+$',
      description:
        "the clock error the deciding gap was judged with: the session's clockUncertaintyNs, plus both hosts' claimed errors when the completion came from another host than the one that captured its flow",
    }),
    crossHost: Type.Boolean({ description: 'the completion came from another host than the one that captured its flow' }),
    hosts: Nullable(
      Type.Object(
        { completion: Type.String(), capture: Type.String() },
        { description: 'with crossHost only: the host whose sender posted the completion, and the host that captured its flow' },
      ),
    ),
    tcpInfo: Nullable(
      Type.Object({
        bytesSent: Type.Integer(),
        bytesAcked: Type.Integer(),
        stage: Type.String(),
        agrees: Nullable(Type.Boolean()),
      }),
    ),
    decidedBy: Type.Union([Type.Literal('capture'), Type.Literal('kernel'), Type.Literal('both')], {
      description: 'which witness decided the stage: the capture, the kernel tracer, or both (socket/qdisc: the capture said queued, the kernel said where)',
    }),
    kernel: Nullable(
      Type.Object(
        {
          stage: Nullable(Type.String({ description: 'the stage by the kernel moments alone (socket, qdisc, wire, acked)' })),
          qdiscInNs: Nullable(NsString),
          qdiscOutNs: Nullable(NsString),
          driverNs: Nullable(NsString),
          ackArrivedNs: Nullable(NsString),
          ackProcessedNs: Nullable(NsString),
          retransmitted: Type.Boolean(),
          driverMinusWireNs: Nullable(NsGap),
          ackArrivedMinusCaptureNs: Nullable(NsGap),
        },
        { description: "the kernel tracer's moments of the write's last byte; null: not seen" },
      ),
    ),
  },
  { $id: 'Correlation', description: 'one completion joined with the capture' },
);
export type CorrelationT = Static<typeof Correlation>;

const gap = (v: number | null) => (v === null ? null : String(v));

export function correlationToApi(c: { baseNs: bigint }, r: CorrelationRecord): CorrelationT {
  const abs = (v: number | null) => (v === null ? null : absoluteNs(c, v));
  return {
    completionId: r.completionId,
    flowId: r.flowId,
    writeId: r.writeId,
    api: r.api,
    status: r.status,
    buffers: r.buffers,
    flow: { srcAddr: r.srcAddr, srcPort: r.srcPort, dstAddr: r.dstAddr, dstPort: r.dstPort },
    offsetStart: r.offsetStart,
    offsetEnd: r.offsetEnd,
    bytesReported: r.bytesReported,
    submittedNs: absoluteNs(c, r.submittedNs),
    completedNs: absoluteNs(c, r.completedNs),
    firstWireNs: abs(r.firstWireNs),
    lastWireNs: abs(r.lastWireNs),
    ackedNs: abs(r.ackedNs),
    sackedNs: abs(r.sackedNs),
    stage: r.stage,
    reason: r.reason,
    gaps: {
      submitToCompleteNs: String(r.submitToCompleteNs),
      lastWireMinusCompleteNs: gap(r.lastWireMinusCompleteNs),
      ackedMinusCompleteNs: gap(r.ackedMinusCompleteNs),
    },
    retransmitted: r.retransmitted,
    decidingGapNs: gap(r.decidingGapNs),
    decidingEvent: r.decidingEvent,
    decidingWindow:
      r.decidingEarliestNs === null
        ? null
        : { earliestNs: absoluteNs(c, r.decidingEarliestNs), latestNs: abs(r.decidingLatestNs), doubt: r.decidingDoubt },
    nearBoundary: r.nearBoundary,
    uncertain: r.uncertain,
    clockErrorNs: String(r.clockErrorNs),
    crossHost: r.crossHost,
    hosts: r.crossHost ? { completion: r.completionHost!, capture: r.captureHost! } : null,
    tcpInfo:
      r.tcpInfoStage === null || r.tcpBytesSent === null || r.tcpBytesAcked === null
        ? null
        : { bytesSent: r.tcpBytesSent, bytesAcked: r.tcpBytesAcked, stage: r.tcpInfoStage, agrees: r.tcpInfoAgrees },
    decidedBy: r.decidedBy,
    kernel: r.kernel
      ? {
          stage: r.kernelStage,
          qdiscInNs: abs(r.kernel.qdiscInNs),
          qdiscOutNs: abs(r.kernel.qdiscOutNs),
          driverNs: abs(r.kernel.driverNs),
          ackArrivedNs: abs(r.kernel.ackArrivedNs),
          ackProcessedNs: abs(r.kernel.ackProcessedNs),
          retransmitted: r.kernel.retransmitted,
          driverMinusWireNs: gap(r.driverMinusWireNs),
          ackArrivedMinusCaptureNs: gap(r.ackArrivedMinusCaptureNs),
        }
      : null,
  };
}

const SpreadSchema = Type.Object({
  count: Type.Integer(),
  p50: Nullable(NsGap),
  p90: Nullable(NsGap),
  p99: Nullable(NsGap),
  max: Nullable(NsGap),
});

const StageCount = Type.Object({ count: Type.Integer(), share: Type.Number() });

const OrderingSchema = Type.Object({
  verdict: Type.Union([Type.Literal('in-order'), Type.Literal('interleaved'), Type.Literal('reordered'), Type.Literal('no-tags')]),
  writesSeen: Type.Integer(),
  firstViolation: Nullable(
    Type.Object({
      kind: Type.String(),
      streamOff: Type.Integer(),
      writeId: Nullable(Type.Integer()),
      atNs: NsString,
      message: Type.String(),
    }),
  ),
});

const GroupSchema = {
  completions: Type.Integer(),
  stages: Type.Object(Object.fromEntries(STAGES.map((s) => [s, StageCount]))),
  unknownReasons: Type.Record(Type.String(), Type.Integer()),
  uncertain: Type.Integer(),
  crossHost: Type.Integer({ description: 'completions matched to a flow another host captured: their clock error adds both hosts\' claims (PUT /sessions/:id/hosts/:host)' }),
  crossHostUncertain: Type.Integer({ description: 'of those, the uncertain ones' }),
  nearBoundary: Type.Integer(),
  decidedFromWindow: Type.Integer({
    description: 'stages decided from an event the capture could only bound (kernel drops, a hole, a late start): see decidingWindow',
  }),
  gaps: Type.Object({
    submitToComplete: SpreadSchema,
    lastWireMinusComplete: SpreadSchema,
    ackedMinusComplete: SpreadSchema,
  }),
  retransmitted: Type.Integer({ description: 'completions with a retransmitted byte' }),
  sackedBeforeAck: Type.Integer(),
  tcpInfo: Type.Object({ compared: Type.Integer(), agree: Type.Integer(), disagree: Type.Integer() }),
  partial: Type.Object({
    verdict: Type.Union([Type.Literal('none'), Type.Literal('found')]),
    completions: Type.Integer(),
    partial: Type.Integer(),
    examples: Type.Array(
      Type.Object({ writeId: Type.Integer(), length: Type.Integer(), bytesReported: Type.Integer(), status: Type.String() }),
    ),
  }),
  kernel: Type.Object(
    {
      witnessed: Type.Integer({ description: 'completions with a kernel witness' }),
      compared: Type.Integer(),
      agree: Type.Integer({ description: 'the kernel and capture stages agree (socket/qdisc = queued)' }),
      decidedByKernel: Type.Integer({ description: 'stages only the kernel could decide' }),
      driverMinusWire: SpreadSchema,
      ackArrivedMinusCapture: SpreadSchema,
    },
    { description: 'the kernel tracer beside the capture' },
  ),
};

export const Summary = Type.Object(
  {
    sessionId: Type.Integer(),
    clockUncertaintyNs: NsString,
    nearMarginNs: NsString,
    capture: Type.Object({
      startNs: Nullable(NsString),
      endNs: Nullable(NsString),
      frames: Type.Integer(),
      tcp: Type.Integer(),
      flows: Type.Integer(),
      drops: Type.Object({ received: Nullable(Type.Integer()), dropped: Nullable(Type.Integer()), ifDropped: Nullable(Type.Integer()) }),
    }),
    correlation: Type.Object({ elapsedMs: Type.Number(), queries: Type.Integer() }),
    percentiles: Type.Object(
      {
        exact: Type.Boolean(),
        relativeError: Type.Number({ description: '0 when exact' }),
      },
      {
        description:
          'how p50/p90/p99 of every gap were taken: exactly from every value (a finished or imported session), or, while the session is capturing, ' +
          'from a fixed-size sketch, each within relativeError × |exact value| + 0.5 ns of the exact nearest-rank value; count and max are always exact',
      },
    ),
    overall: Type.Object(GroupSchema),
    flows: Type.Array(
      Type.Object({
        flowId: Nullable(Type.Integer({ description: 'null: completions no captured flow matched' })),
        endpoints: Nullable(Type.String()),
        frames: Type.Integer(),
        flowRetransmits: Type.Integer({ description: 'retransmitted frames the capture marked in the flow' }),
        ordering: OrderingSchema,
        ...GroupSchema,
      }),
    ),
    apis: Type.Array(Type.Object({ api: Type.String(), ordering: OrderingSchema, ...GroupSchema })),
  },
  { $id: 'Summary' },
);
export type SummaryT = Static<typeof Summary>;

function spreadToApi(s: Spread): Static<typeof SpreadSchema> {
  return { count: s.count, p50: gap(s.p50), p90: gap(s.p90), p99: gap(s.p99), max: gap(s.max) };
}

function groupToApi(g: GroupSummary) {
  return {
    completions: g.completions,
    stages: g.stages,
    unknownReasons: g.unknownReasons as Record<string, number>,
    uncertain: g.uncertain,
    crossHost: g.crossHost,
    crossHostUncertain: g.crossHostUncertain,
    nearBoundary: g.nearBoundary,
    decidedFromWindow: g.decidedFromWindow,
    gaps: {
      submitToComplete: spreadToApi(g.gaps.submitToComplete),
      lastWireMinusComplete: spreadToApi(g.gaps.lastWireMinusComplete),
      ackedMinusComplete: spreadToApi(g.gaps.ackedMinusComplete),
    },
    retransmitted: g.retransmitted,
    sackedBeforeAck: g.sackedBeforeAck,
    tcpInfo: g.tcpInfo,
    partial: g.partial,
    kernel: {
      ...g.kernel,
      driverMinusWire: spreadToApi(g.kernel.driverMinusWire),
      ackArrivedMinusCapture: spreadToApi(g.kernel.ackArrivedMinusCapture),
    },
  };
}

function orderingToApi(c: { baseNs: bigint }, o: OrderingResult): Static<typeof OrderingSchema> {
  const v = o.firstViolation;
  return {
    verdict: o.verdict,
    writesSeen: o.writesSeen,
    firstViolation: v
      ? { kind: v.kind, streamOff: v.streamOff, writeId: v.writeId, atNs: absoluteNs(c, v.tsNs), message: v.message }
      : null,
  };
}

export const endpointsLabel = (f: { aAddr: string; aPort: number; bAddr: string; bPort: number }) =>
  `${f.aAddr}:${f.aPort} <-> ${f.bAddr}:${f.bPort}`;

/** `c`: the correlation, its records not needed (a worker's reply carries none). */
export function summaryToApi(c: Omit<SessionCorrelation, 'records'>, data: SessionSummaryData): SummaryT {
  const s = c.session;
  return {
    sessionId: s.id,
    clockUncertaintyNs: s.clock_uncertainty_ns.toString(),
    nearMarginNs: s.near_margin_ns.toString(),
    capture: {
      startNs: c.captureStartNs === null ? null : absoluteNs(c, c.captureStartNs),
      endNs: c.captureEndNs === null ? null : absoluteNs(c, c.captureEndNs),
      frames: s.frames_total,
      tcp: s.frames_tcp,
      flows: c.flows.length,
      drops: { received: s.pcap_received, dropped: s.pcap_dropped, ifDropped: s.pcap_if_dropped },
    },
    correlation: { elapsedMs: Math.round(c.stats.elapsedMs * 10) / 10, queries: c.stats.queries },
    percentiles: { ...data.percentiles },
    overall: groupToApi(data.overall),
    flows: data.flows.map((f) => ({
      flowId: f.flow ? f.flow.id : null,
      endpoints: f.flow ? endpointsLabel(f.flow) : null,
      frames: f.flow ? f.flow.frames : 0,
      flowRetransmits: f.flow ? f.flow.retransmits : 0,
      ordering: orderingToApi(c, f.ordering),
      ...groupToApi(f.summary),
    })),
    apis: data.apis.map((a) => ({ api: a.api, ordering: orderingToApi(c, a.ordering), ...groupToApi(a.summary) })),
  };
}
