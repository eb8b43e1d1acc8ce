/**
 * The evidence of one completion, from what the store read for its flow direction:
 * pure (no I/O), so the rules can be tested alone. analysis/correlation.ts feeds it.
 */
import type { CompletionEvidence, DirectionCoverage, FrameHit } from './types.js';

/** "First frame whose running maximum reached x" (the store answers it; db/correlation-reads.ts). */
export interface FirstReachingLookup {
  find(x: number): FrameHit | null;
  /** Look-ups that went to the store (the rest were answered from memory). */
  readonly queries: number;
  /** Frees what it holds for later look-ups (they still work, reading again): a flow direction done with. */
  release?(): void;
}

/** What one direction of one flow needs, gathered once on first use. */
export interface FlowSide {
  flowId: number;
  dataDir: 0 | 1;
  ackDir: 0 | 1;
  /** sender offset − capture offset; null when it cannot be known. */
  shift: number | null;
  coverage: DirectionCoverage;
  sent: FirstReachingLookup;
  acked: FirstReachingLookup;
  sacks: SackBlocks;
  retransmits: Retransmits;
}

/** A flow direction's SACK blocks in time order (parallel arrays: no object per block). */
export interface SackBlocks {
  ts: number[];
  left: number[];
  right: number[];
}

/** Retransmitted ranges [seq, seq + len) in offset order, and the longest len. */
export interface Retransmits {
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
export function firstSackCovering(b: SackBlocks, fromNs: number, toNs: number, lastByte: number): number | null {
  for (let i = lowerBound(b.ts, fromNs); i < b.ts.length && b.ts[i] < toNs; i++) {
    if (b.left[i] <= lastByte && b.right[i] > lastByte) return b.ts[i];
  }
  return null;
}

/** Was any byte of [start, end) retransmitted? */
export function anyRetransmitted(r: Retransmits, start: number, end: number): boolean {
  for (let i = lowerBound(r.seq, start - r.maxLen + 1); i < r.seq.length && r.seq[i] < end; i++) {
    if (r.seq[i] + r.len[i] > start) return true;
  }
  return false;
}

/** What every completion of the session shares (the evidence's session-wide fields). */
export type SessionFacts = Pick<
  CompletionEvidence,
  'captureStartNs' | 'captureEndNs' | 'captureRunning' | 'kernelDrops' | 'clockUncertaintyNs' | 'nearMarginNs'
>;

/** The look-ups for one completion, as the classification's input (one object literal, no spreads). */
export function evidenceFor(
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
    captureRunning: f.captureRunning,
    kernelDrops: f.kernelDrops,
    clockUncertaintyNs: f.clockUncertaintyNs,
    nearMarginNs: f.nearMarginNs,
    // the kernel counts from the connection's start, as the sender's offsets do: shifted
    // into the capture's offsets with them, or the two would be compared across spaces
    tcpInfo:
      tcpSent !== null && tcpAcked !== null
        ? { bytesSent: tcpSent - (aligned ? side.shift! : 0), bytesAcked: tcpAcked - (aligned ? side.shift! : 0) }
        : null,
  };
}

export const NO_COVERAGE: DirectionCoverage = { dataLowOff: null, dataLowNs: null, ackLowOff: null, ackLowNs: null };

