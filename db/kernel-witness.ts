import type { Db } from './connection.js';
import { canonicalAddress } from '../core/completion.js';
import { AckscopeError } from '../core/errors.js';
import type { KernelWitness, KernelWitnessInput, TraceStats } from '../core/kernel-witness.js';
import { updateSession } from './sessions.js';

export type { TraceStats };


/**
 * Stores witnesses of completions already stored (same flow and writeId), replacing an
 * earlier witness of the same completion: a later join may have seen more moments.
 * One transaction; a witness whose completion is not there refuses the whole request.
 * The session's updated_ns moves: its correlation's fingerprint changes, so a cached
 * correlation is not served without the witnesses (they change stages, not counts).
 */
export function storeKernelWitnesses(
  db: Db,
  sessionId: number,
  rows: readonly { flow: KernelWitnessInput['flow']; writeId: number; witness: KernelWitness }[],
): number {
  const find = db.prepare(
    `SELECT c.id FROM completions c
      WHERE c.session_id = ? AND c.src_addr = ? AND c.src_port = ? AND c.dst_addr = ? AND c.dst_port = ? AND c.write_id = ?`,
  ).pluck();
  const put = db.prepare(
    `INSERT OR REPLACE INTO kernel_witness
       (completion_id, byte_off, qdisc_in_ns, qdisc_out_ns, driver_ns, ack_arrived_ns, ack_processed_ns, retransmitted)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  db.transaction(() => {
    rows.forEach(({ flow, writeId, witness: w }, index) => {
      const src = canonicalAddress(flow.srcAddr) ?? flow.srcAddr;
      const dst = canonicalAddress(flow.dstAddr) ?? flow.dstAddr;
      const id = find.get(sessionId, src, flow.srcPort, dst, flow.dstPort, writeId) as number | undefined;
      if (id === undefined) {
        throw new AckscopeError(
          'ACKSCOPE_ERR_COMPLETION_INVALID',
          `witness ${index}: no completion ${src}:${flow.srcPort} → ${dst}:${flow.dstPort} writeId ${writeId} in session ${sessionId}: post the completion first`,
          { index, field: 'writeId' },
        );
      }
      put.run(id, w.byte, w.qdiscInNs, w.qdiscOutNs, w.driverNs, w.ackArrivedNs, w.ackProcessedNs, w.retransmitted ? 1 : 0);
    });
    if (rows.length > 0) updateSession(db, sessionId, {});
  }).immediate(); // it reads (the completion ids) before it writes: take the write lock first, waiting as the busy timeout allows
  return rows.length;
}

export function storeTraceStats(db: Db, sessionId: number, s: TraceStats): void {
  db.prepare(
    `INSERT OR REPLACE INTO session_traces (session_id, target, lost_events, calls, uncovered, moments_without_call, missing_json, exit_code)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(sessionId, s.target, s.lostEvents, s.calls, s.uncovered, s.momentsWithoutCall, JSON.stringify(s.missing), s.exitCode);
}

export function getTraceStats(db: Db, sessionId: number): TraceStats | null {
  const r = db.prepare('SELECT * FROM session_traces WHERE session_id = ?').get(sessionId) as Record<string, unknown> | undefined;
  if (!r) return null;
  return {
    target: r.target as string,
    lostEvents: r.lost_events as number,
    calls: r.calls as number,
    uncovered: r.uncovered as number,
    momentsWithoutCall: r.moments_without_call as number,
    missing: r.missing_json ? (JSON.parse(r.missing_json as string) as Record<string, number>) : {},
    exitCode: (r.exit_code as number | null) ?? null,
  };
}
