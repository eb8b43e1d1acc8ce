/**
 * A session's flows and frames read from the ClickHouse store for the API's listings, in
 * the shapes db/frames.ts gives (the routes convert either the same way): flows in id
 * order, frames in capture order (frame_no), each page after a cursor.
 */
import type { ClickHouseClient } from './http-client.js';
import { identifier, joinSql, literal, sql, type Sql } from './sql.js';
import { TABLES } from './tables.js';

/** Columns read back as BigInt (epoch ns); other integers become numbers. */
const BIGINT_COLUMNS = new Set(['first_ns', 'last_ns', 'ts_ns']);

export function rowsToObjects(columns: readonly { name: string; type: string }[], rows: unknown[][], rename: Record<string, string>): Record<string, unknown>[] {
  return rows.map((r) => {
    const out: Record<string, unknown> = {};
    columns.forEach((c, i) => {
      const v = r[i];
      const name = rename[c.name] ?? c.name;
      if (v === null) out[name] = null;
      else if (BIGINT_COLUMNS.has(c.name)) out[name] = BigInt(v as string);
      else if (/Int/.test(c.type)) out[name] = Number(v);
      else out[name] = v;
    });
    return out;
  });
}

const FLOW_COLUMNS = TABLES.flows.columns.filter((c) => c.name !== 'host' && c.name !== 'version');
export const FRAME_COLUMNS = TABLES.frames.columns.filter((c) => c.name !== 'host' && c.name !== 'session_id');

/**
 * Flows of a session in id order after `afterId` (db/frames.ts FlowRow's shape: `id` is
 * the flow id), each flow's newest row (a live capture writes one per change: 004).
 */
export async function listStoredFlows(client: ClickHouseClient, sessionId: number, limit: number, afterId: number) {
  const rows = await client.rows(
    sql`SELECT ${joinSql(FLOW_COLUMNS.map((c) => identifier(c.name)), ', ')} FROM ${identifier('flows')}
         WHERE session_id = ${literal(sessionId, 'UInt64')} AND flow_id > ${literal(afterId, 'UInt64')}
         ORDER BY flow_id, version DESC LIMIT 1 BY flow_id LIMIT ${literal(limit, 'UInt64')}`,
  );
  return rowsToObjects(FLOW_COLUMNS, rows, { flow_id: 'id' });
}

export interface StoredFrameQuery {
  flowId?: number;
  fromNs?: bigint;
  toNs?: bigint;
  afterFrameNo?: number;
  limit: number;
}

/** Frames of a session in capture order (db/frames.ts FrameRow's shape; `id` is SQLite's frame id, session·2^32 + frame_no). */
export async function listStoredFrames(client: ClickHouseClient, sessionId: number, q: StoredFrameQuery) {
  const where: Sql[] = [sql`session_id = ${literal(sessionId, 'UInt64')}`, sql`frame_no > ${literal(q.afterFrameNo ?? 0, 'UInt64')}`];
  if (q.flowId !== undefined) where.push(sql`flow_id = ${literal(q.flowId, 'UInt64')}`);
  if (q.fromNs !== undefined) where.push(sql`ts_ns >= ${literal(q.fromNs, 'Int64')}`);
  if (q.toNs !== undefined) where.push(sql`ts_ns < ${literal(q.toNs, 'Int64')}`);
  const rows = await client.rows(
    sql`SELECT ${joinSql(FRAME_COLUMNS.map((c) => identifier(c.name)), ', ')} FROM ${identifier('frames')}
         WHERE ${joinSql(where, ' AND ')} ORDER BY frame_no LIMIT ${literal(q.limit, 'UInt64')}`,
  );
  return rowsToObjects(FRAME_COLUMNS, rows, {}).map((f) => ({ ...f, id: (BigInt(sessionId) << 32n) + BigInt(f.frame_no as number) }));
}

/** Who has captured into a session so far: frames per host, and the highest flow id and frame number taken. */
export async function sessionCaptureHosts(
  client: ClickHouseClient,
  sessionId: number,
): Promise<{ framesByHost: Map<string, number>; maxFlowId: number; maxFrameNo: number }> {
  const session = literal(sessionId, 'UInt64');
  const [byHost, [flows], [frames]] = await Promise.all([
    client.rows(sql`SELECT host, count() FROM ${identifier('frames')} WHERE session_id = ${session} GROUP BY host`),
    client.rows(sql`SELECT max(flow_id) FROM ${identifier('flows')} WHERE session_id = ${session}`),
    client.rows(sql`SELECT max(frame_no) FROM ${identifier('frames')} WHERE session_id = ${session}`),
  ]);
  return {
    framesByHost: new Map(byHost.map((r) => [r[0] as string, Number(r[1])])),
    maxFlowId: Number(flows[0]),
    maxFrameNo: Number(frames[0]),
  };
}
