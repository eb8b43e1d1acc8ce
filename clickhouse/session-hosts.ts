/**
 * Each host's claimed clock error in a session, in the ClickHouse store
 * (migrations/clickhouse/002, session_hosts: a ReplacingMergeTree by updated_ns). A
 * statement is one row; a reader takes each host's newest (argMax), merged or not.
 * SQLite's counterpart is db/session-hosts.ts; the API's shape is the same.
 */
import type { ClickHouseClient } from './http-client.js';
import { encodeRowBinary } from './row-binary.js';
import { identifier, joinSql, literal, qualifiedTable, sql } from './sql.js';
import { TABLES } from './tables.js';
import { insertSettings } from './copy-session.js';
import type { SessionHost } from '../core/session-row.js';
import { readLiveCaptures } from './live-captures.js';

const COLUMNS = TABLES.session_hosts.columns;

/** Writes a host's claimed clock error (a later statement replaces it). */
export async function writeHostClockError(client: ClickHouseClient, sessionId: number, host: string, clockErrorNs: bigint, updatedNs: bigint): Promise<void> {
  await client.insert(
    sql`INSERT INTO ${qualifiedTable(client.config.database, 'session_hosts')} (${joinSql(COLUMNS.map((c) => identifier(c.name)), ', ')}) FORMAT RowBinary`,
    encodeRowBinary(COLUMNS, [[sessionId, host, clockErrorNs, updatedNs]]),
    { settings: insertSettings(client) },
  );
}

/** What each host stated, by host (its newest statement). */
export async function readStatedClockErrors(client: ClickHouseClient, sessionId: number): Promise<Map<string, bigint>> {
  const rows = await client.rows(
    sql`SELECT host, argMax(clock_error_ns, updated_ns) FROM ${identifier('session_hosts')}
         WHERE session_id = ${literal(sessionId, 'UInt64')} GROUP BY host ORDER BY host`,
  );
  return new Map(rows.map((r) => [r[0] as string, BigInt(r[1] as string)]));
}

/** The session's hosts, by name: every host that stated a clock error, wrote frames or posted completions. */
export async function listStoredSessionHosts(client: ClickHouseClient, sessionId: number): Promise<SessionHost[]> {
  const session = literal(sessionId, 'UInt64');
  const [stated, frames, completions, captures] = await Promise.all([
    readStatedClockErrors(client, sessionId),
    client.rows(sql`SELECT host, count() FROM ${identifier('frames')} WHERE session_id = ${session} GROUP BY host`),
    client.rows(sql`SELECT host, count() FROM ${identifier('completions')} WHERE session_id = ${session} GROUP BY host`),
    readLiveCaptures(client, [sessionId]),
  ]);
  const hosts = new Map<string, SessionHost>();
  const entry = (host: string) => {
    let h = hosts.get(host);
    if (!h) hosts.set(host, (h = { host, clockErrorNs: stated.get(host) ?? null, frames: 0, completions: 0 }));
    return h;
  };
  for (const host of stated.keys()) entry(host);
  for (const [host, n] of frames) entry(host as string).frames = Number(n);
  for (const [host, n] of completions) entry(host as string).completions = Number(n);
  for (const c of captures.get(sessionId) ?? []) {
    entry(c.host).capture = { state: c.state, failureReason: c.failure_reason, interface: c.interface, filter: c.filter };
  }
  return [...hosts.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
