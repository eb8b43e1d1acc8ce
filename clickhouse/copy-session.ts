/**
 * Copies one session from an SQLite store into the ClickHouse store: every table of the
 * session, each as ONE streamed RowBinary insert (never a row per request), read from
 * SQLite row by row so a session of any size passes through little memory.
 *
 * The first write path of the ClickHouse store: it loads what the SQLite import path
 * (recording/import.ts) and the completion ingest wrote, so the test suite's captures
 * and the benchmarks can be compared on both stores. The sessions row is written last:
 * a reader that finds the session finds all of it. A copy that fails midway deletes
 * what it wrote.
 */
import { hostname } from 'node:os';
import type { Database } from 'better-sqlite3';
import { AckscopeError } from '../core/errors.js';
import type { ClickHouseClient } from './http-client.js';
import { encodeRowBinary } from './row-binary.js';
import { identifier, joinSql, literal, qualifiedTable, sql } from './sql.js';
import { LOCAL_SUFFIX, TABLES, TABLE_NAMES, type TableName } from './tables.js';

/** 2^32: SQLite's frame id is session_id * 2^32 + frame_no (migrations/002). */
const FRAME_NO_MASK = '4294967295';

/**
 * Per ClickHouse table: the SQLite query giving its columns in tables.ts order for
 * session :sid, copied as session :target from host :host. Column names are SQLite's
 * except the ids (named by what they identify) and frame_no (derived from frame ids).
 */
function sqliteSelect(table: CopiedTable): string {
  // flow ids and frame numbers shifted by :flowBase / :frameBase (0 but when a host's
  // rows join a session that already holds another host's: CopyOptions)
  const overrides: Record<string, string> = {
    session_id: ':target',
    host: ':host',
    flow_id: 'flow_id + :flowBase',
    frame_no: 'frame_no + :frameBase',
    // kernel witnesses and trace statements (migrations/clickhouse/003): SQLite keeps one per completion / session
    stored_ns: '0',
  };
  const frameNo = `(frame_id & ${FRAME_NO_MASK}) + :frameBase`;
  const ofSessionFlows = 'flow_id IN (SELECT id FROM flows WHERE session_id = :sid)';
  const from: Record<CopiedTable, { from: string; extra?: Record<string, string> }> = {
    sessions: { from: 'FROM sessions WHERE id = :sid' },
    // each host's stated clock error keeps its own host's name (migrations/009)
    session_hosts: { from: 'FROM session_hosts WHERE session_id = :sid ORDER BY host', extra: { host: 'host' } },
    // SQLite's row is the flow's final state: one version (migrations/clickhouse/004)
    flows: { from: 'FROM flows WHERE session_id = :sid ORDER BY id', extra: { flow_id: 'id + :flowBase', version: '0' } },
    // one rowid range per session (002)
    frames: { from: 'FROM frames WHERE id BETWEEN :sid * 4294967296 AND :sid * 4294967296 + 4294967295 ORDER BY id' },
    sent_advances: { from: `FROM sent_advances WHERE ${ofSessionFlows} ORDER BY flow_id, dir, sent_max` },
    ack_advances: { from: `FROM ack_advances WHERE ${ofSessionFlows} ORDER BY flow_id, dir, acked_max` },
    sacks: { from: `FROM sacks WHERE ${ofSessionFlows}`, extra: { frame_no: frameNo } },
    tags: { from: `FROM tags WHERE ${ofSessionFlows}`, extra: { frame_no: frameNo } },
    retransmissions: { from: `FROM retransmissions WHERE ${ofSessionFlows}`, extra: { frame_no: frameNo } },
    completions: { from: 'FROM completions WHERE session_id = :sid ORDER BY id', extra: { completion_id: 'id' } },
    kernel_witness: { from: 'FROM kernel_witness WHERE completion_id IN (SELECT id FROM completions WHERE session_id = :sid)' },
    session_traces: { from: 'FROM session_traces WHERE session_id = :sid' },
  };
  const spec = from[table];
  const columns = TABLES[table].columns.map((c) => {
    const expr = spec.extra?.[c.name] ?? overrides[c.name];
    return expr === undefined ? c.name : `${expr} AS ${c.name}`;
  });
  return `SELECT ${columns.join(', ')} ${spec.from}`;
}

/**
 * The tables a copy writes. `id_claims` and `live_captures` are the ClickHouse store's own
 * (how its services take ids: clickhouse/id-claims.ts; each host's live capture of a
 * session: live-captures.ts), with nothing of SQLite's to copy.
 */
/** Every table that holds a session's data (not the ids, captures or upload turns that coordinate services). */
export type CopiedTable = Exclude<TableName, (typeof COORDINATION_TABLES)[number]>;
const COORDINATION_TABLES = ['id_claims', 'live_captures', 'upload_turns'] as const;
/** A session's own rows, what an import adds (not its row, nor what was stated about its hosts). */
const ROW_TABLES: CopiedTable[] = TABLE_NAMES.filter(
  (t): t is CopiedTable => t !== 'sessions' && t !== 'session_hosts' && !(COORDINATION_TABLES as readonly string[]).includes(t),
);
/** Tables in the order they are copied: sessions last (see the header). */
export const COPIED_TABLES: readonly CopiedTable[] = [...ROW_TABLES, 'session_hosts', 'sessions'];

export interface CopyOptions {
  /** The session's id in ClickHouse; default: its SQLite id. */
  targetSessionId?: number;
  /** Host the rows came from (frames, flows, completions, sessions); default: this machine's name. */
  host?: string;
  /**
   * Copy every table but `sessions`, into a session the store already holds (the
   * service's import: the session was created through the API, its row is rewritten by
   * the caller once the rows are in). A failed copy then deletes those rows only.
   */
  rowsOnly?: boolean;
  /**
   * Added to every flow id and frame number copied (default 0): another host's rows
   * joining a session keep clear of the ids its first host's rows hold (rowsOnly copies).
   */
  flowBase?: number;
  frameBase?: number;
}

export interface CopyResult {
  sessionId: number;
  rows: Record<CopiedTable, number>;
}

/** Distributed inserts land on their shards before the request returns (else they queue in the background). */
export function insertSettings(client: ClickHouseClient): Record<string, number> {
  return client.config.cluster !== undefined ? { insert_distributed_sync: 1 } : {};
}

/**
 * Deletes every row of one session in every table (on a cluster: on every shard's local
 * tables). ClickHouse runs these as asynchronous mutations: the rows go shortly after
 * (system.mutations shows when); the sessions row goes too, so readers stop seeing it.
 */
export async function deleteSessionRows(client: ClickHouseClient, sessionId: number, tables: readonly TableName[] = TABLE_NAMES): Promise<void> {
  const local = client.config.cluster !== undefined;
  for (let host = 0; host < client.hostCount; host++) {
    for (const table of tables) {
      const name = identifier(local ? table + LOCAL_SUFFIX : table);
      await client.query(sql`ALTER TABLE ${name} DELETE WHERE session_id = ${literal(sessionId, 'UInt64')}`, { host });
    }
  }
}

export async function sessionExists(client: ClickHouseClient, sessionId: number): Promise<boolean> {
  const rows = await client.rows(sql`SELECT count() FROM ${identifier('sessions')} WHERE session_id = ${literal(sessionId, 'UInt64')}`);
  return Number(rows[0][0]) > 0;
}

export async function copySessionFromSqlite(
  sqlite: Database,
  client: ClickHouseClient,
  sessionId: number,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const target = options.targetSessionId ?? sessionId;
  const host = options.host ?? hostname();
  const found = sqlite.prepare('SELECT count(*) FROM sessions WHERE id = ?').pluck().get(sessionId) as number;
  if (found === 0) throw new AckscopeError('ACKSCOPE_ERR_SESSION_NOT_FOUND', `session ${sessionId} does not exist in the SQLite store`, { id: sessionId });
  const order = options.rowsOnly ? ROW_TABLES : COPIED_TABLES;
  if (!options.rowsOnly && (await sessionExists(client, target))) {
    throw new AckscopeError('ACKSCOPE_ERR_CONFLICT', `ClickHouse already holds session ${target}: pick another targetSessionId`, { id: target });
  }
  const rows = {} as Record<CopiedTable, number>;
  const params = { sid: sessionId, target, host, flowBase: options.flowBase ?? 0, frameBase: options.frameBase ?? 0 };
  // one read transaction: every table from the same snapshot of the SQLite file
  const ownTransaction = !sqlite.inTransaction;
  if (ownTransaction) sqlite.exec('BEGIN');
  try {
    for (const table of order) {
      const spec = TABLES[table];
      const statement = sqlite.prepare(sqliteSelect(table)).raw(true).safeIntegers(true);
      const counter = { rows: 0 };
      const columns = joinSql(spec.columns.map((c) => identifier(c.name)), ', ');
      const into = qualifiedTable(client.config.database, table);
      await client.insert(
        sql`INSERT INTO ${into} (${columns}) FORMAT RowBinary`,
        encodeRowBinary(spec.columns, statement.iterate(params) as Iterable<unknown[]>, counter),
        { settings: insertSettings(client) },
      );
      rows[table] = counter.rows;
    }
  } catch (err) {
    await deleteSessionRows(client, target, order).catch(() => undefined);
    throw err;
  } finally {
    if (ownTransaction) sqlite.exec('ROLLBACK');
  }
  return { sessionId: target, rows };
}

