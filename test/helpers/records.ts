/**
 * Completion records as the Node sender writes them (node:socket.write, one buffer,
 * status ok, loopback to port 7000), for tests and benches that post or parse them.
 */

/** Where the records' times start (epoch ns, 2025-11-25). */
export const BASE_NS = 1764061234123456789n;

export interface RecordLayout {
  writeId: number;
  srcPort: number;
  /** Every write is this long: write N covers stream offsets [N × writeBytes, (N + 1) × writeBytes). */
  writeBytes: number;
  submittedNs: bigint;
  /** completedNs − submittedNs. */
  takesNs: bigint;
}

/** A valid record for one write; `over` replaces or adds fields (undefined removes one from the JSON). */
export function completionRecord(layout: RecordLayout, over: Record<string, unknown> = {}): Record<string, unknown> {
  const { writeId, srcPort, writeBytes, submittedNs, takesNs } = layout;
  return {
    flow: { srcAddr: '127.0.0.1', srcPort, dstAddr: '127.0.0.1', dstPort: 7000 },
    writeId,
    offsetStart: writeId * writeBytes,
    offsetEnd: (writeId + 1) * writeBytes,
    submittedNs: String(submittedNs),
    completedNs: String(submittedNs + takesNs),
    bytesReported: writeBytes,
    api: 'node:socket.write',
    buffers: 1,
    status: 'ok',
    ...over,
  };
}
