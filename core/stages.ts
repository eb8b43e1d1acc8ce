/**
 * The stages a completion can be in, in the order of the question's ladder (the bytes
 * nearest the application first). `socket` and `qdisc` need the kernel tracer's witness;
 * from a capture alone they are one stage, `queued`. the reasons a stage can be `unknown`, and how each
 * looks and reads. Every layer (classification, API schema, CLI, report, web page)
 * takes them from here.
 */
export const STAGES = ['socket', 'qdisc', 'queued', 'partial-wire', 'wire', 'acked', 'unknown'] as const;
export type Stage = (typeof STAGES)[number];

/** Why a completion's stage is `unknown`. */
export const UNKNOWN_REASONS = [
  'flow-not-found', // no captured flow has the completion's 4-tuple
  'bytes-not-captured', // the capture shows bytes after them on the wire but never them (a hole)
  'capture-started-after', // the capture began after (some of) the bytes or their ACK
  'capture-stopped-before', // the capture ended before the bytes or their ACK
  'kernel-drops', // libpcap reported kernel drops, so "not seen yet" proves nothing
  'time-out-of-range', // the completion's times are over 104 days from the capture's: a wrong clock, they cannot be placed
  'capture-running', // the capture is still running and has not seen the bytes or their ACK yet: ask again later
  'no-bytes', // an empty write at the start of the stream: no byte of its own, none before it to stand for it
] as const;
export type UnknownReason = (typeof UNKNOWN_REASONS)[number];

/** One colour per stage, told apart by lightness as well as hue (not red/green alone). */
export const STAGE_COLORS: Record<Stage, string> = {
  socket: '#5b6f8f',
  qdisc: '#b5c3d6',
  queued: '#8c9eb5',
  'partial-wire': '#f0a04b',
  wire: '#e8d44d',
  acked: '#4caf7a',
  unknown: '#d0d0d0',
};

/** What a completion at each stage meant, in plain words. */
export const STAGE_MEANING: Record<Stage, string> = {
  socket: "the write's last byte was still in the socket's send queue: TCP had not passed it down",
  qdisc: 'TCP had passed the last byte down; it waited in the traffic-control or device queue',
  queued: 'no byte of the write had left the host yet (socket buffer or qdisc)',
  'partial-wire': 'part of the write had left the host, the rest was still queued',
  wire: 'every byte had left the host, but the peer had not acknowledged all of it',
  acked: "the peer's cumulative ACK already covered the whole write",
  unknown: 'the capture could not tell',
};

/**
 * The five places the question names, and which stages put the bytes there: the socket
 * layer's buffer, TCP's send queue (Linux keeps both in the socket: `socket`), the host's
 * transmit queue (`qdisc`), sent out by the NIC (`wire`, `partial-wire`), acked by the peer.
 */
export const PLACE_OF_STAGE: Record<Stage, string> = {
  socket: 'taken by the socket layer / queued in TCP (not yet passed down)',
  qdisc: "in the host's transmit queue (qdisc / NIC send buffer)",
  queued: 'still in the host (socket, TCP or transmit queue: no kernel witness to tell which)',
  'partial-wire': 'partly sent out by the NIC',
  wire: 'sent out by the NIC, not yet acknowledged',
  acked: 'received and acknowledged by the peer',
  unknown: 'no witness could tell',
};

/** A count per stage, every stage present. */
export function zeroStageCounts(): Record<Stage, number> {
  return Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
}

/** The stages only the kernel tracer can tell. */
export const KERNEL_STAGES: readonly Stage[] = ['socket', 'qdisc'];

/**
 * The stages a table or plot should show: every capture stage, and `socket`/`qdisc` only
 * when some count has them (without a kernel witness they are always empty columns).
 */
export function stagesShown(count: (stage: Stage) => number): Stage[] {
  return STAGES.filter((s) => !KERNEL_STAGES.includes(s) || count(s) > 0);
}
