import type { Db } from './connection.js';
import { frameIdRange, type FrameRow } from './frames.js';
import type { SequenceFrame } from '../core/sequence-frame.js';

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

/**
 * The frames that carried a write's bytes [start, end) in direction `dir` of a flow
 * (first transmissions and retransmissions, capture order), and the first frame of the
 * other direction whose cumulative ACK covered `end` (null: none captured). A scan of the
 * flow's frames in the session's id range: one click, not a hot path.
 */
export function writeFrames(
  db: Db,
  sessionId: number,
  flowId: number,
  dir: 0 | 1,
  start: number,
  end: number,
): { data: FrameRow[]; ack: FrameRow | null } {
  const { first, last } = frameIdRange(sessionId);
  const data = db
    .prepare(
      `SELECT * FROM frames WHERE id BETWEEN @first AND @last AND flow_id = @flow AND dir = @dir
          AND payload_len > 0 AND seq_off < @end AND seq_off + payload_len > @start
        ORDER BY id`,
    )
    .safeIntegers(true)
    .all({ first, last, flow: flowId, dir, start, end }) as Record<string, unknown>[];
  // acked_max only grows along a direction and ack_advanced marks each rise, so the lowest
  // acked_max ≥ end is the first ACK that covered it (the frames_first_ack index).
  const ack = db
    .prepare(
      `SELECT * FROM frames WHERE flow_id = @flow AND dir = @dir AND ack_advanced = 1 AND acked_max >= @end
          AND id BETWEEN @first AND @last
        ORDER BY acked_max LIMIT 1`,
    )
    .safeIntegers(true)
    .get({ first, last, flow: flowId, dir: 1 - dir, end }) as Record<string, unknown> | undefined;
  return { data: data.map(frameRow), ack: ack ? frameRow(ack) : null };
}

/** The session's flow with most frames (the one a live view follows), or null before any. */
export function busiestFlowId(db: Db, sessionId: number): number | null {
  const row = db.prepare('SELECT id FROM flows WHERE session_id = ? ORDER BY frames DESC, id LIMIT 1').get(sessionId) as
    | { id: number }
    | undefined;
  return row ? Number(row.id) : null;
}

function frameRow(raw: Record<string, unknown>): FrameRow {
  for (const key of Object.keys(raw)) {
    const v = raw[key];
    if (typeof v === 'bigint' && key !== 'id' && key !== 'ts_ns') raw[key] = Number(v);
  }
  return raw as unknown as FrameRow;
}
