/**
 * The stages a completion can be in, in the order of the question's ladder (the bytes
 * nearest the application first), the reasons a stage can be `unknown`, and how each
 * looks and reads. Every layer (classification, API schema, CLI, report, web page)
 * takes them from here.
 */
export const STAGES = ['queued', 'partial-wire', 'wire', 'acked', 'unknown'] as const;
export type Stage = (typeof STAGES)[number];

/** Why a completion's stage is `unknown`. */
export const UNKNOWN_REASONS = [
  'flow-not-found', // no captured flow has the completion's 4-tuple
  'bytes-not-captured', // the capture shows bytes after them on the wire but never them (a hole)
  'capture-started-after', // the capture began after (some of) the bytes or their ACK
  'capture-stopped-before', // the capture ended before the bytes or their ACK
  'kernel-drops', // libpcap reported kernel drops, so "not seen yet" proves nothing
  'time-out-of-range', // the completion's times are over 104 days from the capture's: a wrong clock, they cannot be placed
] as const;
export type UnknownReason = (typeof UNKNOWN_REASONS)[number];

/** One colour per stage, told apart by lightness as well as hue (not red/green alone). */
export const STAGE_COLORS: Record<Stage, string> = {
  queued: '#8c9eb5',
  'partial-wire': '#f0a04b',
  wire: '#e8d44d',
  acked: '#4caf7a',
  unknown: '#d0d0d0',
};

/** What a completion at each stage meant, in plain words. */
export const STAGE_MEANING: Record<Stage, string> = {
  queued: 'no byte of the write had left the host yet (socket buffer or qdisc)',
  'partial-wire': 'part of the write had left the host, the rest was still queued',
  wire: 'every byte had left the host, but the peer had not acknowledged all of it',
  acked: "the peer's cumulative ACK already covered the whole write",
  unknown: 'the capture could not tell',
};

/** A count per stage, every stage present. */
export function zeroStageCounts(): Record<Stage, number> {
  return Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
}
