/**
 * Read queries over a session's flows and frames. A session's frames are the rowid range
 * [sessionId * 2^32 + 1, sessionId * 2^32 + 2^32 - 1] (migrations/002_capture.sql).
 */
import type { Db } from './connection.js';
import { frameIdRange } from '../core/frame-id.js';

export { frameIdRange };

export interface FlowRow {
  id: number;
  session_id: number;
  ip_version: number;
  a_addr: string;
  a_port: number;
  b_addr: string;
  b_port: number;
  a_isn: number | null;
  b_isn: number | null;
  a_syn_seen: number;
  b_syn_seen: number;
  a_mss: number | null;
  b_mss: number | null;
  a_wscale: number | null;
  b_wscale: number | null;
  sack_permitted: number;
  first_ns: bigint;
  last_ns: bigint;
  frames: number;
  a_bytes: number;
  b_bytes: number;
  retransmits: number;
  closed: number;
}

export interface FrameRow {
  id: bigint;
  frame_no: number;
  flow_id: number;
  dir: number;
  ts_ns: bigint;
  caplen: number;
  wirelen: number;
  tcp_flags: number;
  seq_raw: number;
  ack_raw: number;
  seq_off: number;
  payload_len: number;
  ack_off: number | null;
  window: number;
  retransmit: number;
  sent_max: number;
  acked_max: number | null;
  sent_advanced: number;
  ack_advanced: number;
  sack_count: number;
  file_offset: number | null;
}

/** BigInt for the *_ns columns and ids, numbers elsewhere (offsets stay exact below 2^53). */
function normalise<T>(raw: Record<string, unknown>, keepBig: readonly string[]): T {
  for (const key of Object.keys(raw)) {
    const v = raw[key];
    if (typeof v === 'bigint' && !keepBig.includes(key)) raw[key] = Number(v);
  }
  return raw as T;
}

/** Flows of a session in id order, after `afterId`. */
export function listFlows(db: Db, sessionId: number, limit: number, afterId = 0): FlowRow[] {
  const rows = db
    .prepare('SELECT * FROM flows WHERE session_id = ? AND id > ? ORDER BY id LIMIT ?')
    .safeIntegers(true)
    .all(sessionId, afterId, limit) as Record<string, unknown>[];
  return rows.map((r) => normalise<FlowRow>(r, ['first_ns', 'last_ns']));
}

export interface FrameQuery {
  flowId?: number;
  fromNs?: bigint;
  toNs?: bigint;
  /** frame_no of the last frame of the previous page. */
  afterFrameNo?: number;
  limit: number;
}

export function listFrames(db: Db, sessionId: number, q: FrameQuery): FrameRow[] {
  const range = frameIdRange(sessionId);
  const first = range.first + BigInt(q.afterFrameNo ?? 0);
  const rows = db
    .prepare(
      `SELECT * FROM frames WHERE id BETWEEN @first AND @last
         AND (@flow IS NULL OR flow_id = @flow)
         AND (@from IS NULL OR ts_ns >= @from)
         AND (@to IS NULL OR ts_ns < @to)
       ORDER BY id LIMIT @limit`,
    )
    .safeIntegers(true)
    .all({
      first,
      last: range.last,
      flow: q.flowId ?? null,
      from: q.fromNs ?? null,
      to: q.toNs ?? null,
      limit: q.limit,
    }) as Record<string, unknown>[];
  return rows.map((r) => normalise<FrameRow>(r, ['id', 'ts_ns']));
}
