/**
 * The web page's reads from the ClickHouse store (service/routes/web.ts), the answers
 * db/web.ts gives on SQLite: completions per session, a session's flow count and busiest
 * flow, a flow's frames for the time-sequence graph, the frames of one write. Set-based:
 * a query or two per question, never one per row; a long flow's frames come in pages.
 */
import type { ClickHouseClient } from './http-client.js';
import { identifier, literal, literalList, joinSql, sql } from './sql.js';
import { FRAME_COLUMNS, rowsToObjects } from './frames.js';
import type { SequenceFrame } from '../core/sequence-frame.js';


/** Frames per request of sequenceFrames: a page of JSON the client parses at once (~10 MB at most). */
const SEQUENCE_PAGE_ROWS = 100_000;

const session = (id: number) => literal(id, 'UInt64');

/** Completions stored per session, one grouped query. */
export async function completionCounts(client: ClickHouseClient, sessionIds: readonly number[]): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  if (sessionIds.length === 0) return counts;
  const rows = await client.rows(
    sql`SELECT session_id, count() FROM ${identifier('completions')} WHERE session_id IN ${literalList(sessionIds, 'UInt64')} GROUP BY session_id`,
  );
  for (const [id, n] of rows) counts.set(Number(id), Number(n));
  return counts;
}

/**
 * The session's flow count, and its flow with most frames (ties: the lowest id, as SQLite's
 * ORDER BY frames DESC, id). A live capture writes a flow's row again per change
 * (migration 004): each flow's newest version counts, in one query.
 */
export async function flowCounts(client: ClickHouseClient, sessionId: number): Promise<{ flows: number; busiestFlowId: number | null }> {
  const rows = await client.rows(
    sql`SELECT flow_id, frames FROM ${identifier('flows')} WHERE session_id = ${session(sessionId)}
         ORDER BY flow_id, version DESC LIMIT 1 BY flow_id`,
  );
  let busiest: { id: number; frames: number } | null = null;
  for (const [id, frames] of rows) {
    const f = { id: Number(id), frames: Number(frames) };
    if (busiest === null || f.frames > busiest.frames) busiest = f;
  }
  return { flows: rows.length, busiestFlowId: busiest?.id ?? null };
}

/**
 * Hands a flow's frames in capture order to `visit`, the time-sequence graph's columns,
 * time relative to `baseNs` (computed by the server: no BigInt per frame here). Pages of
 * frame numbers.
 */
export async function eachSequenceFrame(
  client: ClickHouseClient,
  sessionId: number,
  flowId: number,
  baseNs: bigint,
  visit: (frame: SequenceFrame) => void,
): Promise<void> {
  let after = 0;
  for (;;) {
    const rows = await client.rows(
      sql`SELECT frame_no, ts_ns - ${literal(baseNs, 'Int64')}, dir, seq_off, payload_len, ack_off, retransmit, ack_advanced
            FROM ${identifier('frames')}
           WHERE session_id = ${session(sessionId)} AND flow_id = ${literal(flowId, 'UInt64')} AND frame_no > ${literal(after, 'UInt64')}
           ORDER BY frame_no LIMIT ${literal(SEQUENCE_PAGE_ROWS, 'UInt64')}`,
    );
    for (const r of rows) {
      visit({
        rel_ns: Number(r[1]),
        dir: Number(r[2]),
        seq_off: Number(r[3]),
        payload_len: Number(r[4]),
        ack_off: r[5] === null ? null : Number(r[5]),
        retransmit: Number(r[6]),
        ack_advanced: Number(r[7]),
      });
    }
    if (rows.length < SEQUENCE_PAGE_ROWS) return;
    after = Number(rows[rows.length - 1][0]);
  }
}

/** Frame rows in db/frames.ts FrameRow's shape, as listStoredFrames gives them (`id`: SQLite's frame id). */
function framesOf(sessionId: number, rows: unknown[][]): Record<string, unknown>[] {
  return rowsToObjects(FRAME_COLUMNS, rows, {}).map((f) => ({ ...f, id: (BigInt(sessionId) << 32n) + BigInt(f.frame_no as number) }));
}

/**
 * The frames that carried bytes [start, end) of direction `dir` (first transmissions and
 * retransmissions, capture order), and the first frame of the other direction whose
 * cumulative ACK covered `end`: acked_max only grows along a direction and ack_advanced
 * marks each rise, so the lowest acked_max ≥ end among those is the first (db/web.ts).
 */
export async function writeFrames(
  client: ClickHouseClient,
  sessionId: number,
  flowId: number,
  dir: 0 | 1,
  start: number,
  end: number,
): Promise<{ data: Record<string, unknown>[]; ack: Record<string, unknown> | null }> {
  const columns = joinSql(FRAME_COLUMNS.map((c) => identifier(c.name)), ', ');
  const ofFlow = sql`session_id = ${session(sessionId)} AND flow_id = ${literal(flowId, 'UInt64')}`;
  const [data, ack] = await Promise.all([
    client.rows(
      sql`SELECT ${columns} FROM ${identifier('frames')}
           WHERE ${ofFlow} AND dir = ${literal(dir, 'UInt8')} AND payload_len > 0
             AND seq_off < ${literal(end, 'Int64')} AND seq_off + payload_len > ${literal(start, 'Int64')}
           ORDER BY frame_no`,
    ),
    client.rows(
      sql`SELECT ${columns} FROM ${identifier('frames')}
           WHERE ${ofFlow} AND dir = ${literal(1 - dir, 'UInt8')} AND ack_advanced = 1 AND acked_max >= ${literal(end, 'Int64')}
           ORDER BY acked_max, frame_no LIMIT 1`,
    ),
  ]);
  return { data: framesOf(sessionId, data), ack: ack.length ? framesOf(sessionId, ack)[0] : null };
}
