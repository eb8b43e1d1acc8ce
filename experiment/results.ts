/**
 * What an experiment keeps of each point, in the form the report and the plots read.
 * Times inside these records are milliseconds (numbers): the report shows gaps and
 * session-relative times only, never raw epoch nanoseconds.
 */
import type { Matrix, MatrixPoint } from './matrix.js';
import type { QdiscStats } from './rig.js';
import { zeroStageCounts } from '../core/stages.js';

export { STAGES, STAGE_MEANING, type Stage } from '../core/stages.js';
import type { Stage } from '../core/stages.js';

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export type OrderingVerdict = 'in-order' | 'violated' | 'untagged' | 'unknown';

export interface PointMeasurement {
  completions: number;
  stages: Record<Stage, number>;
  /** completedNs − submittedNs, ms. */
  completionMs: Percentiles | null;
  /** lastWireNs − completedNs, ms (negative: the last byte left before the completion). */
  lastWireAfterMs: Percentiles | null;
  /** ackedNs − completedNs, ms. */
  ackedAfterMs: Percentiles | null;
  /** Completions whose bytesReported was less than their length. */
  partial: { count: number; examples: string[] };
  ordering: { verdict: OrderingVerdict; writesChecked: number; firstViolation: string | null };
  /** Completions with a retransmitted byte. */
  retransmitted: number;
  /** libpcap kernel drops during the capture. */
  pcapDropped: number;
  /**
   * Completions whose stage was decided by a gap under the session's near-boundary margin
   * (default 5 µs: below that, capture timing noise could flip the stage).
   */
  nearBoundary: number;
  /** Where the sender reported TCP_INFO: completions whose kernel stage agreed with the capture. */
  kernelAgreement: { compared: number; agreed: number } | null;
  /**
   * Where the kernel tracer witnessed the completions (a command sender): how many, how
   * many stages both witnesses gave and agreed on, and the driver hand-off − captured
   * frame spread (the same moment seen twice), ms.
   */
  kernelWitness: { witnessed: number; compared: number; agreed: number; driverMinusWireMs: Percentiles | null } | null;
  /** The stages per API the records name (a traced command: linux:write, linux:sendto…). */
  apis: ApiStages[];
}

export interface ApiStages {
  api: string;
  completions: number;
  stages: Record<Stage, number>;
}

export interface PointResult {
  point: MatrixPoint;
  status: 'ok' | 'failed' | 'skipped';
  /** Why the point failed or was skipped. */
  reason: string | null;
  sessionId: number | null;
  durationMs: number;
  measurement: PointMeasurement | null;
  /** Sender-side qdisc counters after the run (veth rig). */
  qdisc: QdiscStats | null;
  /** Bytes the receiver read, by its own count (a witness independent of the sender and the capture); null: not reported. */
  received: number | null;
}

/** One completion of the representative run, times in ms since the run's first submission. */
export interface CompletionTimes {
  writeId: number;
  offsetStart: number;
  offsetEnd: number;
  submittedMs: number;
  completedMs: number;
  firstWireMs: number | null;
  lastWireMs: number | null;
  ackedMs: number | null;
  stage: Stage;
}

/** A data segment leaving the sender (first transmission or retransmission). */
export interface SegmentPoint {
  tMs: number;
  offsetStart: number;
  offsetEnd: number;
  retransmit: boolean;
}

/** A cumulative ACK from the receiver. */
export interface AckPoint {
  tMs: number;
  ackOffset: number;
}

/** Everything the per-run plots draw for one representative run. */
export interface RunDetail {
  label: string;
  sessionId: number | null;
  completions: CompletionTimes[];
  segments: SegmentPoint[];
  acks: AckPoint[];
}

export interface ExperimentRun {
  startedAt: string;
  /** The matrix as run (parsed form). */
  matrix: Matrix;
  durationMs: number;
  /** Where the sessions can be opened (`ackscope serve` on the same database). */
  serviceUrl: string;
  dbPath: string;
  environment: { kernel: string; node: string; host: string };
  results: PointResult[];
  representative: RunDetail | null;
}

export function emptyStages(): Record<Stage, number> {
  return zeroStageCounts();
}

/** Nearest-rank percentiles of a list of numbers; null for an empty list. */
export function percentiles(values: readonly number[]): Percentiles | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  return { p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), max: sorted[sorted.length - 1] };
}
