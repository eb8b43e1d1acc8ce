/**
 * Pure: a flow's captured frames as a time-sequence graph (stream offset against time):
 * the data segments of one direction and the cumulative ACKs of the other, thinned for
 * drawing. Fed frame by frame (`add`): only data segments and ACKs that moved are kept.
 */
import type { SequenceData } from './src/shapes.js';
import type { SequenceFrame } from '../../core/sequence-frame.js';

/** Points drawn per series before thinning. */
export const MAX_SEQUENCE_POINTS = 10_000;

interface Segment {
  tUs: number;
  seqOff: number;
  endOff: number;
  retransmit: boolean;
}
interface Ack {
  tUs: number;
  ackOff: number;
}

export class SequenceBuilder {
  private readonly segments: Segment[] = [];
  private readonly acks: Ack[] = [];

  constructor(
    private readonly dataDir: 0 | 1,
    private readonly baseNs: bigint,
  ) {}

  add(frame: SequenceFrame): void {
    const tUs = frame.rel_ns / 1000;
    if (frame.dir === this.dataDir) {
      if (frame.payload_len > 0) {
        this.segments.push({
          tUs,
          seqOff: frame.seq_off,
          endOff: frame.seq_off + frame.payload_len,
          retransmit: frame.retransmit === 1,
        });
      }
    } else if (frame.ack_off !== null && frame.ack_advanced === 1) {
      // only ACKs that moved: a repeated ACK draws nothing new on a step line
      this.acks.push({ tUs, ackOff: frame.ack_off });
    }
  }

  result(sessionId: number, flowId: number, max = MAX_SEQUENCE_POINTS): SequenceData {
    const segments = thinSegments(this.segments, max);
    const acks = thinByBucket(this.acks, max, (a) => a.ackOff);
    return {
      sessionId,
      flowId,
      dir: this.dataDir,
      baseNs: this.baseNs.toString(),
      segmentsTotal: this.segments.length,
      acksTotal: this.acks.length,
      segments: {
        tUs: segments.map((s) => s.tUs),
        seqOff: segments.map((s) => s.seqOff),
        endOff: segments.map((s) => s.endOff),
        retransmit: segments.map((s) => s.retransmit),
      },
      acks: { tUs: acks.map((a) => a.tUs), ackOff: acks.map((a) => a.ackOff) },
    };
  }
}

/**
 * At most `max` segments in time order. Retransmissions are the rare events a reader
 * looks for, so they are kept first (up to half the budget); the first transmissions
 * keep, per time bucket, the one that reached furthest (the edge the graph shows).
 */
export function thinSegments(segments: readonly Segment[], max: number): Segment[] {
  if (segments.length <= max) return [...segments];
  const retransmits = segments.filter((s) => s.retransmit);
  const keptRetransmits = retransmits.length > max / 2 ? strided(retransmits, Math.floor(max / 2)) : retransmits;
  const firsts = thinByBucket(
    segments.filter((s) => !s.retransmit),
    max - keptRetransmits.length,
    (s) => s.endOff,
  );
  return [...firsts, ...keptRetransmits].sort((a, b) => a.tUs - b.tUs);
}

/** At most `max` points: the time span in `max` buckets, each keeping its highest `y`. Keeps time order. */
export function thinByBucket<T extends { tUs: number }>(points: readonly T[], max: number, y: (p: T) => number): T[] {
  if (points.length <= max) return [...points];
  if (max <= 0) return [];
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of points) {
    lo = Math.min(lo, p.tUs);
    hi = Math.max(hi, p.tUs);
  }
  const width = (hi - lo) / max || 1;
  const best = new Map<number, T>();
  for (const p of points) {
    const bucket = Math.min(max - 1, Math.floor((p.tUs - lo) / width));
    const current = best.get(bucket);
    if (current === undefined || y(p) > y(current)) best.set(bucket, p);
  }
  return [...best.entries()].sort((a, b) => a[0] - b[0]).map(([, p]) => p);
}

function strided<T>(items: readonly T[], max: number): T[] {
  const step = items.length / max;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(items[Math.floor(i * step)]);
  return out;
}
