import type { Db } from './connection.js';
import { frameIdRange } from './frames.js';

/** The columns of a frame this graph reads (sequenceFrames below), time already relative to the base. */
export interface SequenceFrame {
  /** ts_ns − baseNs */
  rel_ns: number;
  dir: number;
  seq_off: number;
  payload_len: number;
  ack_off: number | null;
  retransmit: number;
  ack_advanced: number;
}

/** Completions stored per session, for the page's session list (one grouped scan). */
export function completionCounts(db: Db, sessionIds: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  if (sessionIds.length === 0) return counts;
  const rows = db
    .prepare(
      `SELECT session_id, count(*) FROM completions
        WHERE session_id IN (SELECT value FROM json_each(?)) GROUP BY session_id`,
    )
    .raw(true)
    .all(JSON.stringify(sessionIds)) as [number, number][];
  for (const [id, n] of rows) counts.set(Number(id), Number(n));
  return counts;
}

/**
 * A flow's frames in capture order, only the columns a time-sequence graph reads, time
 * relative to `baseNs` (a plain number: no BigInt per frame). Iterated, never loaded whole.
 */
export function* sequenceFrames(db: Db, sessionId: number, flowId: number, baseNs: bigint): Generator<SequenceFrame> {
  const { first, last } = frameIdRange(sessionId);
  const rows = db
    .prepare(
      `SELECT ts_ns - @base AS rel_ns, dir, seq_off, payload_len, ack_off, retransmit, ack_advanced
         FROM frames WHERE id BETWEEN @first AND @last AND flow_id = @flow ORDER BY id`,
    )
    .iterate({ base: baseNs, first, last, flow: flowId }) as IterableIterator<SequenceFrame>;
  yield* rows;
}
