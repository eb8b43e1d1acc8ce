/**
 * Each host's live capture of a session, in the ClickHouse store (migrations/clickhouse/005,
 * `live_captures`): several services (one per host) may capture into one live session at
 * the same time (docs/scale-out.md, "Many hosts, one session"). Each writes only its own
 * row (a new version per change, newest `stored_ns` wins), so no host's figures overwrite
 * another's, and every reader of a live session's row gives it what its hosts' rows sum to
 * (`mergeLiveCaptures`, pure): `capturing` while any host captures, `failed` only when
 * every host's capture failed (a failure of one host leaves the others' capture whole:
 * `stopped` once the last stops), counters and libpcap's counters added up, the span from
 * the first start to the last stop. A session without capture rows reads as its row says.
 */
import { UNSTARTED_CAPTURE_COLUMNS, type SessionRow, type SessionState } from '../core/session-row.js';
import type { ClickHouseClient } from './http-client.js';
import { encodeRowBinary } from './row-binary.js';
import { identifier, joinSql, literal, qualifiedTable, sql } from './sql.js';
import { TABLES } from './tables.js';
import { insertSettings } from './copy-session.js';

const COLUMNS = TABLES.live_captures.columns;
const BIGINT_COLUMNS = new Set(['started_ns', 'stopped_ns', 'stored_ns']);

/** The session columns a host's capture owns (its row holds them; the session's are their sum). */
export const CAPTURE_FIELDS = [
  'state', 'failure_reason', 'started_ns', 'stopped_ns', 'link_type', 'frames_total', 'frames_tcp', 'skipped_truncated',
  'skipped_malformed', 'skipped_not_ip', 'skipped_not_tcp', 'skipped_other', 'skip_reasons', 'pcap_received',
  'pcap_dropped', 'pcap_if_dropped',
] as const satisfies readonly (keyof SessionRow)[];

/** One host's capture of a session, as its newest row holds it: the session's capture columns, this host's own. */
export type LiveCaptureRow = Pick<SessionRow, (typeof CAPTURE_FIELDS)[number]> & {
  session_id: number;
  host: string;
  interface: string;
  filter: string | null;
  stored_ns: bigint;
};

const SUMMED = ['frames_total', 'frames_tcp', 'skipped_truncated', 'skipped_malformed', 'skipped_not_ip', 'skipped_not_tcp', 'skipped_other'] as const;
const SUMMED_OR_NULL = ['pcap_received', 'pcap_dropped', 'pcap_if_dropped'] as const;

/** A capture row before its first change: nothing read yet. */
export function newLiveCapture(sessionId: number, host: string, iface: string, filter: string | null): LiveCaptureRow {
  return {
    session_id: sessionId,
    host,
    interface: iface,
    filter,
    ...UNSTARTED_CAPTURE_COLUMNS,
    stored_ns: 0n,
  };
}

/** `fields` (the capture's columns among them) over `row`, stored_ns past both now and the row's own. */
export function updatedLiveCapture(row: LiveCaptureRow, fields: Partial<Record<string, unknown>>, nowNs: bigint): LiveCaptureRow {
  const next = { ...row } as Record<string, unknown>;
  for (const f of CAPTURE_FIELDS) if (f in fields && fields[f] !== undefined) next[f] = fields[f];
  if ('interface' in fields && typeof fields.interface === 'string') next.interface = fields.interface;
  if ('filter' in fields && fields.filter !== undefined) next.filter = fields.filter;
  for (const f of ['started_ns', 'stopped_ns'] as const) if (typeof next[f] === 'number') next[f] = BigInt(next[f] as number);
  next.stored_ns = nowNs > row.stored_ns ? nowNs : row.stored_ns + 1n;
  return next as unknown as LiveCaptureRow;
}

export async function writeLiveCapture(client: ClickHouseClient, row: LiveCaptureRow): Promise<void> {
  const values = COLUMNS.map((c) => (row as unknown as Record<string, unknown>)[c.name] ?? null);
  await client.insert(
    sql`INSERT INTO ${qualifiedTable(client.config.database, 'live_captures')} (${joinSql(COLUMNS.map((c) => identifier(c.name)), ', ')}) FORMAT RowBinary`,
    encodeRowBinary(COLUMNS, [values]),
    { settings: insertSettings(client) },
  );
}

/** Each host's newest capture row of each of the sessions, by session (hosts in name order). */
export async function readLiveCaptures(client: ClickHouseClient, sessionIds: readonly number[]): Promise<Map<number, LiveCaptureRow[]>> {
  const out = new Map<number, LiveCaptureRow[]>();
  if (sessionIds.length === 0) return out;
  const ids = joinSql(sessionIds.map((id) => literal(id, 'UInt64')), ', ');
  const rows = await client.rows(
    sql`SELECT ${joinSql(COLUMNS.map((c) => identifier(c.name)), ', ')} FROM ${identifier('live_captures')}
         WHERE session_id IN (${ids}) ORDER BY session_id, host, stored_ns DESC LIMIT 1 BY session_id, host`,
  );
  for (const r of rows) {
    const row: Record<string, unknown> = {};
    COLUMNS.forEach((c, i) => {
      const v = r[i];
      if (v === null) row[c.name] = null;
      else if (BIGINT_COLUMNS.has(c.name)) row[c.name] = BigInt(v as string);
      else if (/Int/.test(c.type)) row[c.name] = Number(v);
      else row[c.name] = v;
    });
    const capture = row as unknown as LiveCaptureRow;
    const list = out.get(capture.session_id) ?? [];
    list.push(capture);
    out.set(capture.session_id, list);
  }
  return out;
}

/** The session as its hosts' captures make it (see the header); the row as it is without any. */
export function mergeLiveCaptures(row: SessionRow, captures: readonly LiveCaptureRow[]): SessionRow {
  const started = captures.filter((c) => c.state !== 'created');
  if (started.length === 0) return row;
  const out = { ...row } as Record<string, unknown>;
  const capturing = started.some((c) => c.state === 'capturing');
  const allFailed = started.every((c) => c.state === 'failed');
  out.state = capturing ? 'capturing' : allFailed ? 'failed' : 'stopped';
  if (!allFailed || capturing) out.failure_reason = null;
  else {
    const reasons = [...new Set(started.map((c) => c.failure_reason ?? 'failed'))];
    out.failure_reason = started.length === 1 || reasons.length === 1 ? reasons[0] : started.map((c) => `${c.host}: ${c.failure_reason ?? 'failed'}`).join('; ');
  }
  const min = (xs: (bigint | null)[]) => xs.reduce<bigint | null>((m, x) => (x === null ? m : m === null || x < m ? x : m), null);
  const max = (xs: (bigint | null)[]) => xs.reduce<bigint | null>((m, x) => (x === null ? m : m === null || x > m ? x : m), null);
  out.started_ns = min(started.map((c) => c.started_ns));
  out.stopped_ns = capturing ? null : max(started.map((c) => c.stopped_ns));
  out.link_type = started.find((c) => c.link_type !== null)?.link_type ?? null;
  for (const f of SUMMED) out[f] = started.reduce((n, c) => n + c[f], 0);
  for (const f of SUMMED_OR_NULL) {
    const known = started.filter((c) => c[f] !== null);
    out[f] = known.length === 0 ? null : known.reduce((n, c) => n + (c[f] as number), 0);
  }
  const withReasons = started.filter((c) => c.skip_reasons !== null);
  if (withReasons.length <= 1) out.skip_reasons = withReasons[0]?.skip_reasons ?? null;
  else {
    const reasons: Record<string, number> = {};
    for (const c of withReasons) for (const [why, n] of Object.entries(JSON.parse(c.skip_reasons!) as Record<string, number>)) reasons[why] = (reasons[why] ?? 0) + n;
    out.skip_reasons = JSON.stringify(reasons);
  }
  // a new fingerprint with every host's change (analysis/: the correlation cache)
  out.updated_ns = max([row.updated_ns, ...captures.map((c) => c.stored_ns)]) ?? row.updated_ns;
  return out as unknown as SessionRow;
}

/** Live sessions' rows as their hosts' captures make them (one query for all of them). */
export async function withLiveCaptures(client: ClickHouseClient, rows: SessionRow[]): Promise<SessionRow[]> {
  const live = rows.filter((r) => r.kind === 'live').map((r) => r.id);
  if (live.length === 0) return rows;
  const captures = await readLiveCaptures(client, live);
  return rows.map((r) => {
    const c = captures.get(r.id);
    return c ? mergeLiveCaptures(r, c) : r;
  });
}
