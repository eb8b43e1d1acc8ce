/**
 * What the page's own data routes (/ui/data/..., service/routes/web.ts) send: compact,
 * column-wise and already thinned, because a chart needs plain numbers, not the
 * public API's per-record objects with decimal-string nanoseconds. Shared by the server
 * and the browser bundle, so both sides agree on the field names.
 *
 * Times are microseconds (floats, ns precision) after `baseNs` (epoch ns, decimal string).
 */

/** `stage` columns hold indexes into STAGES (core/stages.ts). */
export { STAGES as STAGE_NAMES, type Stage as StageName } from '../../../core/stages.js';

export interface SessionListItem {
  id: number;
  name: string;
  kind: string;
  state: string;
  failureReason: string | null;
  createdAt: string;
  frames: number;
  tcp: number;
  completions: number;
  drops: { received: number | null; dropped: number | null; ifDropped: number | null };
}

export interface TimelineData {
  sessionId: number;
  /** null: the completions no captured flow matched. */
  flowId: number | null;
  baseNs: string;
  /** Writes of the flow, and how many of them the columns hold (fewer when thinned). */
  total: number;
  shown: number;
  writeId: number[];
  offsetStart: number[];
  offsetEnd: number[];
  submittedUs: number[];
  completedUs: number[];
  firstWireUs: (number | null)[];
  lastWireUs: (number | null)[];
  ackedUs: (number | null)[];
  /** Index into STAGE_NAMES. */
  stage: number[];
  /** What the hover shows besides the times: the completion's id, its deciding gap and event, why unknown, flags. */
  completionId: number[];
  decidingGapNs: (number | null)[];
  decidingEvent: (string | null)[];
  reason: (string | null)[];
  /** Bits of WRITE_FLAGS. */
  flags: number[];
  /** Which witness decided the stage: capture, kernel or both. */
  decidedBy: string[];
  /** The kernel tracer's moments of the last byte (µs after baseNs, KERNEL_MOMENTS order); null: no kernel witness. */
  kernelUs: ((number | null)[] | null)[];
}

/** The kernel tracer's moments of a write's last byte, in the order of the ladder. */
export const KERNEL_MOMENTS = [
  { key: 'qdiscInNs', label: 'qdisc in' },
  { key: 'qdiscOutNs', label: 'qdisc out' },
  { key: 'driverNs', label: 'driver' },
  { key: 'ackArrivedNs', label: 'ACK arrived' },
  { key: 'ackProcessedNs', label: 'ACK processed' },
] as const;

/** Flags of a write, one bit each in TimelineData.flags (bit i = WRITE_FLAGS[i]). */
export const WRITE_FLAGS = ['near-boundary', 'uncertain', 'retransmitted', 'partial', 'failed'] as const;
export type WriteFlag = (typeof WRITE_FLAGS)[number];

/** One captured frame as the public API gives it (GET /sessions/:id/frames). */
export interface FrameItem {
  frameNo: number;
  flowId: number;
  dir: number;
  tsNs: string;
  flags: string;
  seqRaw: number;
  seqOff: number;
  payloadLen: number;
  ackOff: number | null;
  retransmit: boolean;
}

/** A write and the frames that carried it: what clicking a write in the timeline shows. */
export interface WriteDetail {
  sessionId: number;
  /** The public API's correlation of the write (GET /sessions/:id/correlations), every field. */
  correlation: Record<string, unknown> & { completionId: number; writeId: number; flowId: number | null; offsetStart: number; offsetEnd: number; stage: string };
  /** Frames carrying the write's bytes, capture order (retransmissions included). */
  frames: FrameItem[];
  /** The first ACK that covered the write's last byte; null when none was captured. */
  ack: FrameItem | null;
}

/** A live session's figures, polled by the live view. */
export interface LiveData {
  sessionId: number;
  state: string;
  failureReason: string | null;
  frames: number;
  tcp: number;
  completions: number;
  drops: SessionListItem['drops'];
  flows: number;
  /** The flow the live time-sequence graph follows (most frames); null before the first. */
  busiestFlowId: number | null;
}

export interface SequenceData {
  sessionId: number;
  flowId: number;
  /** The direction whose bytes are drawn (0: a → b, 1: b → a); ACKs are the other one's. */
  dir: 0 | 1;
  baseNs: string;
  /** Data segments and advancing ACKs in the flow, and how many are drawn. */
  segmentsTotal: number;
  acksTotal: number;
  segments: { tUs: number[]; seqOff: number[]; endOff: number[]; retransmit: boolean[] };
  acks: { tUs: number[]; ackOff: number[] };
}
