import type {
  Classification,
  CompletionEvidence,
  FrameHit,
  Stage,
  TcpInfoStage,
  UnknownReason,
} from './types.js';

/**
 * When a milestone (first byte sent, last byte sent, end acknowledged) happened, as far
 * as the capture can tell: exactly (lo === hi), or only within [lo, hi] for a reason.
 */
interface Milestone {
  lo: number;
  hi: number;
  cause: UnknownReason | null;
}

const exact = (ts: number): Milestone => ({ lo: ts, hi: ts, cause: null });
const isExact = (m: Milestone) => m.lo === m.hi && m.cause === null;

/**
 * When was byte `byteOff` first transmitted? `hit` is the first frame whose running
 * first-transmission maximum passed the byte.
 */
function sendMilestone(byteOff: number, hit: FrameHit | null, ev: CompletionEvidence): Milestone {
  const { dataLowOff, dataLowNs } = ev.coverage;
  const earliest = ev.submittedNs; // bytes cannot leave before the send call
  if (dataLowOff !== null && dataLowNs !== null && byteOff < dataLowOff) {
    // Sent before the first data frame the capture saw: the capture began mid-stream.
    return { lo: earliest, hi: dataLowNs, cause: 'capture-started-after' };
  }
  if (hit) {
    if (ev.kernelDrops > 0) return { lo: earliest, hi: hit.tsNs, cause: 'kernel-drops' };
    // A frame beyond the byte passed the maximum without carrying it: the byte left
    // earlier (first transmissions are in order) but the capture missed it.
    if (hit.seqOff > byteOff) return { lo: earliest, hi: hit.tsNs, cause: 'bytes-not-captured' };
    return exact(hit.tsNs);
  }
  return notSeen(ev, dataLowOff === null);
}

/**
 * When did the peer's cumulative ACK first reach `ackValue`? `bytesSeenLeaving`: the
 * last byte's first transmission was captured, so any ACK of it came later, while the
 * capture was running.
 */
function ackMilestone(ackValue: number, ackNs: number | null, bytesSeenLeaving: boolean, ev: CompletionEvidence): Milestone {
  const { ackLowOff, ackLowNs } = ev.coverage;
  if (ackNs !== null) {
    if (ev.kernelDrops > 0) return { lo: ev.submittedNs, hi: ackNs, cause: 'kernel-drops' };
    // The first ACK the capture saw already covered it: an earlier one may have too.
    if (!bytesSeenLeaving && ackLowOff !== null && ackLowNs !== null && ackValue <= ackLowOff) {
      return { lo: ev.submittedNs, hi: ackLowNs, cause: 'capture-started-after' };
    }
    return exact(ackNs);
  }
  return notSeen(ev, ackLowOff === null && !bytesSeenLeaving);
}

/** The capture never saw the event: it happened after the capture ended, or was missed. */
function notSeen(ev: CompletionEvidence, directionNeverSeen: boolean): Milestone {
  if (ev.kernelDrops > 0) return { lo: ev.submittedNs, hi: Infinity, cause: 'kernel-drops' };
  const start = ev.captureStartNs ?? -Infinity;
  // A direction the capture never saw (no SYN either) may have carried it before the
  // capture began, unless the send call itself came after the start.
  if (directionNeverSeen && ev.submittedNs < start) {
    return { lo: ev.submittedNs, hi: Infinity, cause: 'capture-started-after' };
  }
  const end = ev.captureEndNs ?? Infinity;
  return { lo: Math.max(end, ev.submittedNs), hi: Infinity, cause: ev.captureRunning ? 'capture-running' : 'capture-stopped-before' };
}

/**
 * first ≤ last ≤ ack in time: each bound tightens its neighbours. Observations are
 * left as they are (were capture stamps ever out of order, an inference must not
 * overrule what was seen).
 */
function tighten(first: Milestone, last: Milestone, ack: Milestone): void {
  if (!isExact(last)) last.lo = Math.max(last.lo, first.lo);
  if (!isExact(ack)) ack.lo = Math.max(ack.lo, last.lo);
  if (!isExact(last)) last.hi = Math.min(last.hi, ack.hi);
  if (!isExact(first)) first.hi = Math.min(first.hi, last.hi);
}

type Position = 'before' | 'after' | 'undecided';
function position(m: Milestone, t: number): Position {
  if (m.hi <= t) return 'before';
  if (m.lo > t) return 'after';
  return 'undecided';
}

/**
 * The stage of one completion at its completion instant, from the capture's evidence.
 * Positive evidence (an event seen at or before completion) decides on its own;
 * "not yet" needs the capture to have been watching, so gaps, drops and a capture that
 * started late or stopped early turn it into `unknown` with the reason.
 */
export function classifyCompletion(ev: CompletionEvidence): Classification {
  const t = ev.completedNs;
  const tcpInfoStageSeen = ev.tcpInfo ? tcpInfoStage(ev.offsetStart, ev.offsetEnd, ev.tcpInfo) : null;
  if (!ev.flowFound) return undecided(ev, flowMissingReason(ev), tcpInfoStageSeen);
  if (!ev.offsetsAligned) return undecided(ev, 'capture-started-after', tcpInfoStageSeen);
  let first: Milestone;
  let last: Milestone;
  let ack: Milestone;
  if (ev.offsetEnd > ev.offsetStart) {
    first = sendMilestone(ev.offsetStart, ev.firstWire, ev);
    last = sendMilestone(ev.offsetEnd - 1, ev.lastWire, ev);
    ack = ackMilestone(ev.offsetEnd, ev.ackNs, isExact(last), ev);
  } else if (ev.offsetEnd > 0) {
    // An empty write has no bytes of its own: it stands where the byte before it stands.
    last = sendMilestone(ev.offsetEnd - 1, ev.lastWire, ev);
    first = { ...last };
    ack = ackMilestone(ev.offsetEnd, ev.ackNs, isExact(last), ev);
  } else {
    // An empty write at the start of the stream: no byte of its own and none before it,
    // so no witness can place it (calling it acked would be a claim without evidence).
    return undecided(ev, 'no-bytes', tcpInfoStageSeen);
  }
  tighten(first, last, ack);

  const firstWireNs = isExact(first) ? first.lo : null;
  const lastWireNs = isExact(last) ? last.lo : null;
  const ackedNs = isExact(ack) ? ack.lo : null;
  const sackedNs = ev.sackNs !== null && (ackedNs === null || ev.sackNs < ackedNs) ? ev.sackNs : null;

  let stage: Stage;
  let reason: UnknownReason | null = null;
  const ackPos = position(ack, t);
  const lastPos = position(last, t);
  const firstPos = position(first, t);
  if (ackPos === 'before') stage = 'acked';
  else if (ackPos === 'undecided') [stage, reason] = ['unknown', ack.cause];
  else if (lastPos === 'before') stage = 'wire';
  else if (lastPos === 'undecided') [stage, reason] = ['unknown', last.cause];
  else if (firstPos === 'before') stage = 'partial-wire';
  else if (firstPos === 'undecided') [stage, reason] = ['unknown', first.cause];
  else stage = 'queued';

  const deciding =
    stage === 'unknown'
      ? undecidedWindow(ackPos === 'undecided' ? [ack, 'ack'] : lastPos === 'undecided' ? [last, 'last-wire'] : [first, 'first-wire'])
      : decidingGap(stage, t, first, last, ack);
  // one literal with every field, no spread of a base result: one object per completion, not two
  return {
    stage,
    reason,
    firstWireNs,
    lastWireNs,
    ackedNs,
    sackedNs,
    retransmitted: ev.retransmitted,
    submitToCompleteNs: t - ev.submittedNs,
    lastWireMinusCompleteNs: lastWireNs === null ? null : lastWireNs - t,
    ackedMinusCompleteNs: ackedNs === null ? null : ackedNs - t,
    decidingGapNs: deciding.gap,
    decidingEvent: deciding.event,
    decidingEarliestNs: deciding.window ? deciding.window.lo : null,
    decidingLatestNs: deciding.window && deciding.window.hi !== Infinity ? deciding.window.hi : null,
    decidingDoubt: deciding.window ? deciding.window.cause : null,
    nearBoundary: deciding.gap !== null && deciding.gap < ev.nearMarginNs,
    uncertain: deciding.gap !== null && ev.clockUncertaintyNs > deciding.gap,
    tcpInfoStage: tcpInfoStageSeen,
    tcpInfoAgrees: tcpInfoStageSeen === null || stage === 'unknown' ? null : tcpInfoStageSeen === stage,
  };
}

/** A completion whose times lie too far from the session's base to be placed (a wrong clock). */
export function unplaceable(ev: CompletionEvidence): Classification {
  return undecided(ev, 'time-out-of-range', null);
}

/** `unknown` for a reason decided before any milestone: no event times, no deciding gap. */
function undecided(ev: CompletionEvidence, reason: UnknownReason, tcpInfoStageSeen: TcpInfoStage | null): Classification {
  return {
    stage: 'unknown',
    reason,
    firstWireNs: null,
    lastWireNs: null,
    ackedNs: null,
    sackedNs: null,
    retransmitted: ev.retransmitted,
    submitToCompleteNs: ev.completedNs - ev.submittedNs,
    lastWireMinusCompleteNs: null,
    ackedMinusCompleteNs: null,
    decidingGapNs: null,
    decidingEvent: null,
    decidingEarliestNs: null,
    decidingLatestNs: null,
    decidingDoubt: null,
    nearBoundary: false,
    uncertain: false,
    tcpInfoStage: tcpInfoStageSeen,
    tcpInfoAgrees: null,
  };
}

function flowMissingReason(ev: CompletionEvidence): UnknownReason {
  if (ev.captureStartNs !== null && ev.completedNs < ev.captureStartNs) return 'capture-started-after';
  if (ev.captureEndNs !== null && ev.submittedNs > ev.captureEndNs) return ev.captureRunning ? 'capture-running' : 'capture-stopped-before';
  return 'flow-not-found';
}

type EventName = 'first-wire' | 'last-wire' | 'ack';
interface Deciding {
  gap: number | null;
  event: EventName | null;
  window: Milestone | null;
}

/**
 * The events on either side of the completion that decide its stage, and the nearer
 * one's distance. An event known only within a window counts at the window's edge
 * nearest the completion: the closest it can have been, so `nearBoundary` and
 * `uncertain` see the worst case instead of nothing.
 */
function decidingGap(stage: Stage, t: number, first: Milestone, last: Milestone, ack: Milestone): Deciding {
  // each stage's events in a fixed order, the first winning a tie (no arrays: this runs per completion)
  const best: Deciding = { gap: null, event: null, window: null };
  if (stage === 'acked') consider(best, t, ack, 'ack');
  else if (stage === 'wire') {
    consider(best, t, last, 'last-wire');
    consider(best, t, ack, 'ack');
  } else if (stage === 'partial-wire') {
    consider(best, t, first, 'first-wire');
    consider(best, t, last, 'last-wire');
  } else if (stage === 'queued') consider(best, t, first, 'first-wire');
  return best;
}

/** Takes the event as the deciding one when it is nearer the completion than the one held. */
function consider(best: Deciding, t: number, m: Milestone, name: EventName): void {
  const d = m.hi <= t ? t - m.hi : m.lo > t ? m.lo - t : null;
  if (d === null || d === Infinity) return;
  if (best.gap === null || d < best.gap) {
    best.gap = d;
    best.event = name;
    best.window = m;
  }
}

/** An `unknown` stage: the event whose window holds the completion, no gap. */
function undecidedWindow([m, name]: [Milestone, EventName]): Deciding {
  return { gap: null, event: name, window: m };
}

/**
 * The kernel's own view at completion: bytes_acked and bytes_sent are stream offsets
 * (SYN removed). bytes_sent counts bytes handed to IP, before the qdisc, so it may run
 * ahead of the capture; a disagreement is a finding, not an error.
 */
export function tcpInfoStage(
  offsetStart: number,
  offsetEnd: number,
  info: { bytesSent: number; bytesAcked: number },
): TcpInfoStage {
  if (info.bytesAcked >= offsetEnd) return 'acked';
  if (info.bytesSent >= offsetEnd) return 'wire';
  // Without this middle step every capture `partial-wire` would read as a disagreement.
  if (info.bytesSent > offsetStart) return 'partial-wire';
  return 'queued';
}
