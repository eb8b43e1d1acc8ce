/**
 * Shared vocabulary of the correlation: the per-completion evidence and result (the
 * stage names and unknown reasons are core/stages.ts).
 *
 * Times inside correlate/ are session-relative nanoseconds held in plain numbers
 * (exact up to ±2^53 ns ≈ ±104 days from the session's base), so the hot loop never
 * touches BigInt; db/ adds the base back at the edges.
 */
export { STAGES, UNKNOWN_REASONS, type Stage, type UnknownReason } from '../core/stages.js';
import type { Stage, UnknownReason } from '../core/stages.js';
import type { KernelMoments, KernelStage } from './ladder.js';

/** Second opinion from the kernel's TCP_INFO read at completion (stream offsets). */
export type TcpInfoStage = 'queued' | 'partial-wire' | 'wire' | 'acked';

/** A captured frame found by an index look-up: when, and the first stream offset it carried. */
export interface FrameHit {
  tsNs: number;
  seqOff: number;
}

/** What the capture can vouch for in one direction of a flow. */
export interface DirectionCoverage {
  /**
   * Lowest stream offset whose first transmission the capture saw (0 when the SYN was
   * captured; else the first data frame's offset). null: no data frame seen at all.
   */
  dataLowOff: number | null;
  /** Time of the frame that set dataLowOff. */
  dataLowNs: number | null;
  /**
   * Highest ACK value carried by the first ACK the capture saw (0 when the SYN was
   * captured). An ACK value at or below it may have been first sent before the capture.
   */
  ackLowOff: number | null;
  ackLowNs: number | null;
}

/** Everything the classification needs for one completion; gathered by db/correlations.ts. */
export interface CompletionEvidence {
  /** Completion, offsets already in the capture's offset space. */
  offsetStart: number;
  offsetEnd: number;
  submittedNs: number;
  completedNs: number;
  flowFound: boolean;
  /**
   * The completion's offsets could be placed in the capture's offset space (the SYN was
   * captured, or a write tag told the shift). A mid-stream capture without tags cannot.
   */
  offsetsAligned: boolean;
  /** First frame whose running first-transmission maximum reached offsetStart + 1. */
  firstWire: FrameHit | null;
  /** First frame whose running first-transmission maximum reached offsetEnd. */
  lastWire: FrameHit | null;
  /** First frame of the other direction whose cumulative ACK reached offsetEnd. */
  ackNs: number | null;
  /** First SACK block covering the last byte (offsetEnd − 1), if any. */
  sackNs: number | null;
  /** Some byte of the write was seen again after its first transmission. */
  retransmitted: boolean;
  coverage: DirectionCoverage;
  /** When the capture watched: start, and end (last frame or stop time). */
  captureStartNs: number | null;
  captureEndNs: number | null;
  /** The capture is still running: what it has not seen may still come. */
  captureRunning: boolean;
  /** libpcap kernel + interface drops of the session; their timing is not known. */
  kernelDrops: number;
  clockUncertaintyNs: number;
  nearMarginNs: number;
  tcpInfo: { bytesSent: number; bytesAcked: number } | null;
}

export interface Classification {
  stage: Stage;
  reason: UnknownReason | null;
  /** Exact observations only (null when the capture can only bound the time). */
  firstWireNs: number | null;
  lastWireNs: number | null;
  ackedNs: number | null;
  /** First SACK covering the last byte, reported only when earlier than the cumulative ACK. */
  sackedNs: number | null;
  retransmitted: boolean;
  /** completedNs − submittedNs */
  submitToCompleteNs: number;
  /** lastWireNs − completedNs (negative: the bytes had all left before completion). */
  lastWireMinusCompleteNs: number | null;
  /** ackedNs − completedNs (negative: acked before completion). */
  ackedMinusCompleteNs: number | null;
  /**
   * Distance from completedNs to the nearest event that decides the stage. An event the
   * capture can only bound counts at its window's edge nearest the completion (the
   * closest it can have been); null when no event decides or the completion lies inside
   * the deciding window (stage `unknown`).
   */
  decidingGapNs: number | null;
  /** Which event that was (for `unknown`: the event whose window holds the completion). */
  decidingEvent: 'first-wire' | 'last-wire' | 'ack' | null;
  /**
   * When the deciding event happened: earliest and latest (equal when it was observed
   * exactly; latest null when unbounded, e.g. after the capture ended).
   */
  decidingEarliestNs: number | null;
  decidingLatestNs: number | null;
  /**
   * Why the deciding event is known only within a window (kernel drops, a capture hole,
   * a capture that began late), also when the window still decides the stage: the stage
   * holds, but its timing is bounded, not seen. null: observed exactly.
   */
  decidingDoubt: UnknownReason | null;
  nearBoundary: boolean;
  /** The clock error (clockErrorNs below) exceeds the deciding gap: the stage is a guess. */
  uncertain: boolean;
  tcpInfoStage: TcpInfoStage | null;
  /** null when there is no TCP info or the capture stage is unknown. */
  tcpInfoAgrees: boolean | null;
}

/** One completion joined with the capture: identity, the completion's own facts, and the classification. */
export interface CorrelationRecord extends Classification {
  completionId: number;
  flowId: number | null;
  /** Direction of the write's bytes in the flow (0 a→b, 1 b→a); null without a flow. */
  dataDir: 0 | 1 | null;
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
  writeId: number;
  api: string;
  status: string;
  buffers: number;
  offsetStart: number;
  offsetEnd: number;
  bytesReported: number;
  submittedNs: number;
  completedNs: number;
  tcpBytesSent: number | null;
  tcpBytesAcked: number | null;
  /** The kernel tracer's moments of the last byte (correlate/ladder.ts), or null without a witness. */
  kernel: KernelMoments | null;
  /** The stage by the kernel's moments alone. */
  kernelStage: KernelStage | null;
  /** Which witness decided `stage`. */
  decidedBy: 'capture' | 'kernel' | 'both';
  /** The same moment seen by both witnesses: driver hand-off − captured last frame; ACK arrival − captured ACK. */
  driverMinusWireNs: number | null;
  ackArrivedMinusCaptureNs: number | null;
  /**
   * The clock error the deciding gap was judged with (`uncertain` when larger): the
   * session's clockUncertaintyNs, plus both hosts' claimed errors when the completion's
   * host and the deciding frames' host differ (correlate/host-clocks.ts).
   */
  clockErrorNs: number;
  /** The completion came from another host than the one that captured its flow. */
  crossHost: boolean;
  /** With crossHost only (null otherwise): the completion's host and the capturing host. */
  completionHost: string | null;
  captureHost: string | null;
}
