/**
 * Sessions in the ClickHouse store: created, read, listed, updated, deleted.
 *
 * `sessions` is a ReplacingMergeTree(updated_ns) (migrations/clickhouse/001): an update
 * is a whole new row with a later updated_ns, and every read takes the newest row of a
 * session (`LIMIT 1 BY session_id` after `ORDER BY updated_ns DESC`), whether the
 * server has merged the versions yet or not. Each write is one RowBinary insert of one
 * row (a session changes a handful of times, never per frame or record).
 *
 * Ids: the next id is one past the highest ever stored (a deleted session keeps a last
 * version, so its id never comes again, as on SQLite). Two services creating sessions in
 * the same instant could take the same id: the caller serialises creation within one
 * service (clickhouse-store.ts); across services (many hosts, one cluster) ids are not
 * yet allocated without collision (docs/scale-out.md).
 */
import { AckscopeError } from '../core/errors.js';
import { UNSTARTED_CAPTURE_COLUMNS, type NewSession, type SessionRow } from '../core/session-row.js';
import { wallClockNs } from '../core/time.js';
import type { ClickHouseClient } from './http-client.js';
import { encodeRowBinary } from './row-binary.js';
import { identifier, joinSql, literal, qualifiedTable, sql } from './sql.js';
import { TABLES, TABLE_NAMES } from './tables.js';
import { deleteSessionRows, insertSettings } from './copy-session.js';
import { mergeLiveCaptures, readLiveCaptures, withLiveCaptures } from './live-captures.js';

const COLUMNS = TABLES.sessions.columns;
/** 64-bit columns kept as BigInt in a SessionRow (epoch ns and ns margins); other integers are numbers. */
const BIGINT_FIELDS = new Set(['clock_uncertainty_ns', 'near_margin_ns', 'created_ns', 'updated_ns', 'started_ns', 'stopped_ns']);

/** A server row (JSONCompact, 64-bit integers quoted) in the columns' order → SessionRow. */
function toSessionRow(r: unknown[]): SessionRow {
  const out: Record<string, unknown> = {};
  COLUMNS.forEach((c, i) => {
    const v = r[i];
    if (c.name === 'session_id') out.id = Number(v);
    else if (c.name === 'host') return;
    else if (v === null) out[c.name] = null;
    else if (BIGINT_FIELDS.has(c.name)) out[c.name] = BigInt(v as string);
    else if (/Int/.test(c.type)) out[c.name] = Number(v);
    else out[c.name] = v;
  });
  return out as unknown as SessionRow;
}

const columnList = () => joinSql(COLUMNS.map((c) => identifier(c.name)), ', ');

/**
 * `kind` of a deleted session's last version: the row stays (so its id is never given
 * again, as SQLite's AUTOINCREMENT ids are not: migrations/008) and readers skip it.
 */
export const DELETED_KIND = 'deleted';

/** The newest version of each session matching `where`, newest session first; deleted ones left out. */
async function newestRows(client: ClickHouseClient, where: ReturnType<typeof sql>, limit: number): Promise<SessionRow[]> {
  const rows = await client.rows(
    sql`SELECT * FROM (
          SELECT ${columnList()} FROM ${identifier('sessions')} WHERE ${where}
           ORDER BY session_id DESC, updated_ns DESC LIMIT 1 BY session_id
        ) WHERE kind != ${literal(DELETED_KIND, 'String')} ORDER BY session_id DESC LIMIT ${literal(limit, 'UInt64')}`,
  );
  // a live session's state and counters are its hosts' captures' (live-captures.ts)
  return withLiveCaptures(client, rows.map(toSessionRow));
}

export async function getStoredSession(client: ClickHouseClient, id: number): Promise<SessionRow | undefined> {
  const [row] = await newestRows(client, sql`session_id = ${literal(id, 'UInt64')}`, 1);
  return row;
}

/** Newest first; `beforeId` is the cursor (the last id of the previous page). */
export async function listStoredSessions(client: ClickHouseClient, limit: number, beforeId?: number): Promise<SessionRow[]> {
  const where = beforeId === undefined ? sql`1` : sql`session_id < ${literal(beforeId, 'UInt64')}`;
  return newestRows(client, where, limit);
}

/** Writes one version of a session (all columns); readers see the newest. */
export async function writeSessionRow(client: ClickHouseClient, row: SessionRow, host: string): Promise<void> {
  const values = COLUMNS.map((c) => {
    if (c.name === 'session_id') return row.id;
    if (c.name === 'host') return host;
    const v = (row as unknown as Record<string, unknown>)[c.name];
    return v === undefined ? null : v;
  });
  await client.insert(
    sql`INSERT INTO ${qualifiedTable(client.config.database, 'sessions')} (${columnList()}) FORMAT RowBinary`,
    encodeRowBinary(COLUMNS, [values]),
    { settings: insertSettings(client) },
  );
}

export async function nextSessionId(client: ClickHouseClient): Promise<number> {
  const [r] = await client.rows(sql`SELECT max(session_id) FROM ${identifier('sessions')}`);
  return Number(r[0]) + 1;
}

/** A session row as SQLite's createSession makes it: the same defaults and counters at zero. */
export function newSessionRow(id: number, s: NewSession): SessionRow {
  const now = wallClockNs();
  return {
    id,
    name: s.name,
    kind: s.kind,
    interface: s.interface ?? null,
    filter: s.filter ?? null,
    snaplen: s.snaplen ?? null,
    buffer_size: s.bufferSize ?? null,
    immediate: s.immediate ? 1 : 0,
    clock_uncertainty_ns: s.clockUncertaintyNs ?? 0n,
    near_margin_ns: s.nearMarginNs ?? 5000n,
    created_ns: now,
    updated_ns: now,
    ...UNSTARTED_CAPTURE_COLUMNS,
    capture_file: null,
    source_file: null,
  };
}

/**
 * The updated row: `fields` over `row`, updated_ns past both now and the row's own (two
 * updates in one nanosecond tick must still order).
 */
export function updatedSessionRow(row: SessionRow, fields: Partial<Record<keyof SessionRow, unknown>>): SessionRow {
  const now = wallClockNs();
  const next = { ...row, ...fields } as SessionRow;
  next.updated_ns = now > row.updated_ns ? now : row.updated_ns + 1n;
  for (const f of ['started_ns', 'stopped_ns'] as const) {
    const v = next[f] as unknown;
    if (typeof v === 'number') next[f] = BigInt(v);
  }
  return next;
}

/** Counts by state and kind over each session's newest version (a live session's state from its hosts' captures). */
export async function countStoredSessions(client: ClickHouseClient): Promise<{ state: string; kind: string; n: number }[]> {
  const [rows, captured] = await Promise.all([
    client.rows(
      sql`SELECT session_id, state, kind FROM (
            SELECT session_id, argMax(state, updated_ns) AS state, argMax(kind, updated_ns) AS kind FROM ${identifier('sessions')} GROUP BY session_id
          ) WHERE kind != ${literal(DELETED_KIND, 'String')}`,
    ),
    client.rows(sql`SELECT DISTINCT session_id FROM ${identifier('live_captures')}`),
  ]);
  const captures = await readLiveCaptures(client, captured.map((r) => Number(r[0])));
  const counts = new Map<string, { state: string; kind: string; n: number }>();
  for (const [id, state, kind] of rows as [string, string, string][]) {
    const c = captures.get(Number(id));
    const merged = c && kind === 'live' ? mergeLiveCaptures({ state, kind } as SessionRow, c).state : state;
    const key = `${merged}\u0000${kind}`;
    const entry = counts.get(key) ?? { state: merged, kind, n: 0 };
    entry.n++;
    counts.set(key, entry);
  }
  return [...counts.values()];
}

/** How long deleteSessionNow waits for the deletion to be done before giving up. */
const DELETE_DEADLINE_MS = 60_000;

/**
 * Deletes a session: a last version of its row marked deleted (readers stop seeing it at
 * once, and its id is never given again), then its other rows by one mutation per table
 * on every shard (deleteSessionRows), done by the server in the background.
 */
export async function deleteSessionNow(client: ClickHouseClient, row: SessionRow, host: string): Promise<void> {
  await writeSessionRow(client, updatedSessionRow(row, { kind: DELETED_KIND }), host);
  await deleteRowsOfSession(client, row.id);
}

/** A session's rows in every table but its own versions (which keep its deletion), one mutation per table on every shard. */
export async function deleteRowsOfSession(client: ClickHouseClient, id: number): Promise<void> {
  await deleteSessionRows(client, id, TABLE_NAMES.filter((t) => t !== 'sessions'));
}

/** Waits until no mutation of ackscope's database is pending on any host (deletes done), within DELETE_DEADLINE_MS. */
export async function waitForMutations(client: ClickHouseClient, what: string): Promise<void> {
  const deadline = Date.now() + DELETE_DEADLINE_MS;
  for (let host = 0; host < client.hostCount; host++) {
    for (;;) {
      const [r] = await client.rows(
        sql`SELECT count() FROM system.mutations WHERE database = ${literal(client.config.database, 'String')} AND is_done = 0`,
        { host },
      );
      if (Number(r[0]) === 0) break;
      if (Date.now() > deadline) {
        throw new AckscopeError(
          'ACKSCOPE_ERR_STORE_QUERY',
          `ClickHouse did not finish deleting ${what} within ${DELETE_DEADLINE_MS / 1000} s (system.mutations shows what is pending)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
