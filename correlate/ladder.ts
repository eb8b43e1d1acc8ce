/**
 * The kernel witness in the classification (pure): where the capture alone can only say
 * `queued`, the tracer's moments for the write's last byte tell `socket` (TCP had not
 * passed it down yet) from `qdisc` (passed down, waiting in the transmit queue); where the
 * capture cannot tell at all, the kernel's moments decide the stage on their own. Where
 * both witnesses saw the same moment, their difference is kept so the summary can show
 * how well they agree.
 */
import type { Stage } from '../core/stages.js';

/** The tracer's moments of a write's last byte, ns relative to the session's base; null: not seen. */
export interface KernelMoments {
  qdiscInNs: number | null;
  qdiscOutNs: number | null;
  driverNs: number | null;
  ackArrivedNs: number | null;
  ackProcessedNs: number | null;
  retransmitted: boolean;
}

export type KernelStage = 'socket' | 'qdisc' | 'wire' | 'acked';

/**
 * Where the last byte was at `completedNs` by the kernel's moments alone, or null when the
 * moments seen cannot say (a moment that would decide it is missing).
 */
export function kernelStage(completedNs: number, k: KernelMoments): KernelStage | null {
  const before = (t: number | null) => t !== null && t <= completedNs;
  if (before(k.ackArrivedNs)) return 'acked';
  if (before(k.driverNs)) return 'wire';
  if (before(k.qdiscInNs)) return 'qdisc';
  // not in the qdisc yet: only a later qdisc entry proves the byte was still above it
  if (k.qdiscInNs !== null) return 'socket';
  return null;
}

export interface LadderResult {
  stage: Stage;
  kernelStage: KernelStage | null;
  /** Which witness decided the stage. */
  decidedBy: 'capture' | 'kernel' | 'both';
  /** driverNs − the capture's last-wire time (the same moment seen twice), or null. */
  driverMinusWireNs: number | null;
  /** ackArrivedNs − the capture's ACK time, or null. */
  ackArrivedMinusCaptureNs: number | null;
}

/**
 * The stage with both witnesses: the capture's, refined or completed by the kernel's.
 * `captureStage` is what correlate/classify.ts decided from the capture.
 */
export function ladderStage(
  captureStage: Stage,
  completedNs: number,
  lastWireNs: number | null,
  ackedNs: number | null,
  k: KernelMoments | null,
): LadderResult {
  if (!k) return { stage: captureStage, kernelStage: null, decidedBy: 'capture', driverMinusWireNs: null, ackArrivedMinusCaptureNs: null };
  const ks = kernelStage(completedNs, k);
  const driverMinusWireNs = k.driverNs !== null && lastWireNs !== null ? k.driverNs - lastWireNs : null;
  const ackArrivedMinusCaptureNs = k.ackArrivedNs !== null && ackedNs !== null ? k.ackArrivedNs - ackedNs : null;
  let stage = captureStage;
  let decidedBy: LadderResult['decidedBy'] = 'capture';
  if (captureStage === 'queued' && (ks === 'socket' || ks === 'qdisc')) {
    stage = ks;
    decidedBy = 'both';
  } else if (captureStage === 'unknown' && ks !== null) {
    stage = ks;
    decidedBy = 'kernel';
  }
  return { stage, kernelStage: ks, decidedBy, driverMinusWireNs, ackArrivedMinusCaptureNs };
}

/** The ladder fields of a record that has no kernel witness. */
export const NO_KERNEL_WITNESS = {
  kernel: null,
  kernelStage: null,
  decidedBy: 'capture',
  driverMinusWireNs: null,
  ackArrivedMinusCaptureNs: null,
} as const satisfies Pick<LadderResult, 'kernelStage' | 'decidedBy' | 'driverMinusWireNs' | 'ackArrivedMinusCaptureNs'> & { kernel: null };
