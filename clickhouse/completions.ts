/**
 * Posted completions in the ClickHouse store: an upload inserted as ONE RowBinary
 * stream (never a row per request), listed in posting order, one deleted.
 *
 * Ids: completion_id numbers a session's completions in posting order, as SQLite's
 * rowid does; an upload takes the ids after the session's highest. The caller
 * serialises the uploads of a session within one service (clickhouse-store.ts).
 * Idempotency and conflicts (the same (flow, writeId) posted twice) are checked by the
 * caller against `storedWithKeys` before inserting: ClickHouse has no unique keys.
 */
import type { CompletionFilter, CompletionRow } from '../core/completion.js';
import type { ClickHouseClient } from './http-client.js';
import { encodeRowBinary } from './row-binary.js';
import { identifier, joinSql, literal, qualifiedTable, sql, type Sql } from './sql.js';
import { LOCAL_SUFFIX, TABLES } from './tables.js';
import { insertSettings } from './copy-session.js';

const COLUMNS = TABLES.completions.columns;

/** ClickHouse column (the same names as SQLite's) → CompletionRow field: the record's columns, ids and host apart. */
export const COMPLETION_FIELD_OF: Readonly<Record<string, keyof CompletionRow>> = {
  src_addr: 'srcAddr', src_port: 'srcPort', dst_addr: 'dstAddr', dst_port: 'dstPort', write_id: 'writeId',
  offset_start: 'offsetStart', offset_end: 'offsetEnd', submitted_ns: 'submittedNs', completed_ns: 'completedNs',
  bytes_reported: 'bytesReported', api: 'api', buffers: 'buffers', status: 'status', write_returned: 'writeReturned',
  immediate: 'immediate', writable_length: 'writableLength', tcp_bytes_sent: 'tcpBytesSent', tcp_bytes_acked: 'tcpBytesAcked',
  tcp_notsent_bytes: 'tcpNotsentBytes', tcp_unacked: 'tcpUnacked', tcp_bytes_retrans: 'tcpBytesRetrans', tcp_rtt_us: 'tcpRttUs',
  extra: 'extra', tcp_info_from: 'tcpInfoFrom',
};
const RECORD_COLUMNS = COLUMNS.filter((c) => c.name in COMPLETION_FIELD_OF);
const NS_COLUMNS = new Set(['submitted_ns', 'completed_ns']);

/** A stored completion: the record and its id (the API's shape, as db/completions.ts StoredCompletion). */
export type StoredClickHouseCompletion = CompletionRow & { id: number };

const session = (id: number) => literal(id, 'UInt64');

/** A server row (JSONCompact) of `completion_id, <RECORD_COLUMNS>` → the record; ns as BigInt, other integers as numbers. */
function toStored(r: unknown[]): StoredClickHouseCompletion {
  const out: Record<string, unknown> = { id: Number(r[0]) };
  RECORD_COLUMNS.forEach((c, i) => {
    const v = r[i + 1];
    const field = COMPLETION_FIELD_OF[c.name];
    if (v === null) out[field] = null;
    else if (NS_COLUMNS.has(c.name)) out[field] = BigInt(v as string);
    else if (/Int/.test(c.type)) out[field] = Number(v);
    else out[field] = v;
  });
  return out as unknown as StoredClickHouseCompletion;
}

const recordColumnList = () => joinSql([identifier('completion_id'), ...RECORD_COLUMNS.map((c) => identifier(c.name))], ', ');

/** One page of a session's completions in posting order, after id `afterId`. */
export async function listStoredCompletions(
  client: ClickHouseClient,
  sessionId: number,
  filter: CompletionFilter,
  limit: number,
  afterId: number,
): Promise<StoredClickHouseCompletion[]> {
  const where: Sql[] = [sql`session_id = ${session(sessionId)}`, sql`completion_id > ${literal(afterId, 'UInt64')}`];
  if (filter.srcAddr !== undefined) where.push(sql`src_addr = ${literal(filter.srcAddr, 'String')}`);
  if (filter.srcPort !== undefined) where.push(sql`src_port = ${literal(filter.srcPort, 'UInt16')}`);
  if (filter.dstAddr !== undefined) where.push(sql`dst_addr = ${literal(filter.dstAddr, 'String')}`);
  if (filter.dstPort !== undefined) where.push(sql`dst_port = ${literal(filter.dstPort, 'UInt16')}`);
  if (filter.api !== undefined) where.push(sql`api = ${literal(filter.api, 'String')}`);
  if (filter.status !== undefined) where.push(sql`status = ${literal(filter.status, 'String')}`);
  if (filter.fromNs !== undefined) where.push(sql`completed_ns >= ${literal(filter.fromNs, 'Int64')}`);
  if (filter.toNs !== undefined) where.push(sql`completed_ns < ${literal(filter.toNs, 'Int64')}`);
  const rows = await client.rows(
    sql`SELECT ${recordColumnList()} FROM ${identifier('completions')} WHERE ${joinSql(where, ' AND ')}
         ORDER BY completion_id LIMIT ${literal(limit, 'UInt64')}`,
  );
  return rows.map(toStored);
}

/**
 * The stored completions of the session on the given flows whose writeId lies in
 * [minWriteId, maxWriteId]: what an upload's records may repeat. One query whatever
 * the upload's size (a fresh upload's range usually holds nothing).
 */
export async function storedWithKeys(
  client: ClickHouseClient,
  sessionId: number,
  flows: readonly { srcAddr: string; srcPort: number; dstAddr: string; dstPort: number }[],
  minWriteId: number,
  maxWriteId: number,
): Promise<StoredClickHouseCompletion[]> {
  if (flows.length === 0) return [];
  const onFlow = flows.map(
    (f) =>
      sql`(src_addr = ${literal(f.srcAddr, 'String')} AND src_port = ${literal(f.srcPort, 'UInt16')} AND dst_addr = ${literal(f.dstAddr, 'String')} AND dst_port = ${literal(f.dstPort, 'UInt16')})`,
  );
  const rows = await client.rows(
    sql`SELECT ${recordColumnList()} FROM ${identifier('completions')}
         WHERE session_id = ${session(sessionId)} AND write_id BETWEEN ${literal(minWriteId, 'Int64')} AND ${literal(maxWriteId, 'Int64')}
           AND (${joinSql(onFlow, ' OR ')})`,
  );
  return rows.map(toStored);
}

export async function highestCompletionId(client: ClickHouseClient, sessionId: number): Promise<number> {
  const [r] = await client.rows(sql`SELECT max(completion_id) FROM ${identifier('completions')} WHERE session_id = ${session(sessionId)}`);
  return Number(r[0]);
}

/** Inserts records as completion ids firstId, firstId + 1, … in one streamed insert. */
export async function insertCompletions(
  client: ClickHouseClient,
  sessionId: number,
  host: string,
  firstId: number,
  rows: readonly CompletionRow[],
): Promise<void> {
  if (rows.length === 0) return;
  function* values(): Generator<unknown[]> {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      yield COLUMNS.map((c) => {
        if (c.name === 'session_id') return sessionId;
        if (c.name === 'completion_id') return firstId + i;
        if (c.name === 'host') return host;
        return row[COMPLETION_FIELD_OF[c.name]];
      });
    }
  }
  await client.insert(
    sql`INSERT INTO ${qualifiedTable(client.config.database, 'completions')} (${joinSql(COLUMNS.map((c) => identifier(c.name)), ', ')}) FORMAT RowBinary`,
    encodeRowBinary(COLUMNS, values()),
    { settings: insertSettings(client) },
  );
}

/** The session's first submission and last completion (a session without a capture stays near them). */
export async function completionTimes(client: ClickHouseClient, sessionId: number): Promise<{ lo: bigint; hi: bigint } | null> {
  const [r] = await client.rows(
    sql`SELECT count(), min(submitted_ns), max(completed_ns) FROM ${identifier('completions')} WHERE session_id = ${session(sessionId)}`,
  );
  return Number(r[0]) === 0 ? null : { lo: BigInt(r[1] as string), hi: BigInt(r[2] as string) };
}

export async function completionExists(client: ClickHouseClient, sessionId: number, completionId: number): Promise<boolean> {
  const [r] = await client.rows(
    sql`SELECT count() FROM ${identifier('completions')} WHERE session_id = ${session(sessionId)} AND completion_id = ${literal(completionId, 'UInt64')}`,
  );
  return Number(r[0]) > 0;
}

/**
 * Deletes one completion and its kernel witness (mutations; the caller waits for them,
 * clickhouse/sessions.ts waitForMutations). false: the session has no such completion.
 */
export async function deleteStoredCompletion(client: ClickHouseClient, sessionId: number, completionId: number): Promise<boolean> {
  if (!(await completionExists(client, sessionId, completionId))) return false;
  const local = client.config.cluster !== undefined;
  for (let host = 0; host < client.hostCount; host++) {
    for (const table of ['completions', 'kernel_witness'] as const) {
      await client.query(
        sql`ALTER TABLE ${identifier(local ? table + LOCAL_SUFFIX : table)} DELETE WHERE session_id = ${session(sessionId)} AND completion_id = ${literal(completionId, 'UInt64')}`,
        { host },
      );
    }
  }
  return true;
}
