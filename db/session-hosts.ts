/**
 * Each host's claimed clock error in a session, on SQLite (migrations/009): stated
 * through `PUT /sessions/:id/hosts/:host`, listed with the session. The ClickHouse
 * store's counterpart is clickhouse/session-hosts.ts.
 *
 * On SQLite a session's frames and completions all come from the service's own host
 * (ACKSCOPE_STORE_HOST), so that host is the one with rows; stated hosts are listed
 * beside it (nothing is decided across hosts on SQLite, so their errors change no stage).
 */
import type { Db } from './connection.js';
import { wallClockNs } from '../core/time.js';
import { updateSession } from './sessions.js';
import type { SessionHost } from '../core/session-row.js';


/**
 * Sets a host's claimed clock error (replacing what it stated before) and bumps the
 * session's updated_ns: the correlation's fingerprint reads it, so a cached
 * correlation made with the old error is not served again.
 */
export function stateHostClockError(db: Db, sessionId: number, host: string, clockErrorNs: bigint): void {
  db.transaction(() => {
    db.prepare(
      `INSERT INTO session_hosts (session_id, host, clock_error_ns, updated_ns) VALUES (?, ?, ?, ?)
       ON CONFLICT (session_id, host) DO UPDATE SET clock_error_ns = excluded.clock_error_ns, updated_ns = excluded.updated_ns`,
    ).run(sessionId, host, clockErrorNs, wallClockNs());
    updateSession(db, sessionId, {});
  })();
}

/** What each host stated, by host. */
export function statedClockErrors(db: Db, sessionId: number): Map<string, bigint> {
  const rows = db
    .prepare('SELECT host, clock_error_ns FROM session_hosts WHERE session_id = ? ORDER BY host')
    .safeIntegers(true)
    .all(sessionId) as { host: string; clock_error_ns: bigint }[];
  return new Map(rows.map((r) => [r.host, r.clock_error_ns]));
}

/**
 * The session's hosts, by name: every host that stated a clock error, and `ownHost`
 * (the service's) when the session holds frames or completions (all of them are its).
 * Counting the completions walks the session's range of an index (a few ms per 100 k).
 */
export function listSessionHosts(db: Db, sessionId: number, ownHost: string): SessionHost[] {
  const stated = statedClockErrors(db, sessionId);
  const completions = Number(db.prepare('SELECT count(*) FROM completions WHERE session_id = ?').pluck().get(sessionId));
  // the frames stored (GET /frames lists them; the ClickHouse store counts its rows per host):
  // one row per TCP frame (capture/frame-packer.ts), so the session's counter, not a scan of its frames
  const framesTotal = Number(db.prepare('SELECT frames_tcp FROM sessions WHERE id = ?').pluck().get(sessionId) ?? 0);
  const hosts = new Map<string, SessionHost>();
  for (const [host, clockErrorNs] of stated) hosts.set(host, { host, clockErrorNs, frames: 0, completions: 0 });
  if (framesTotal > 0 || completions > 0) {
    const own = hosts.get(ownHost) ?? { host: ownHost, clockErrorNs: null, frames: 0, completions: 0 };
    own.frames = framesTotal;
    own.completions = completions;
    hosts.set(ownHost, own);
  }
  return [...hosts.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
