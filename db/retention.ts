import type { Db } from './connection.js';
import type { SessionState } from './sessions.js';

/**
 * What retention reads and deletes in the database. The policy (which sessions go) is
 * the pure `sessionsPastRetention`; the service runs it in the background
 * (service/retention.ts). SQLite reuses the pages a deletion frees (auto_vacuum stays
 * off: turning it on would need a full VACUUM of existing files and adds pointer-map
 * writes to every capture commit), so the file stops growing rather than shrinking;
 * sizes here count the pages in use, not the file's length.
 */

export interface RetentionCandidate {
  id: number;
  name: string;
  state: SessionState;
  /** Last change of the session row (created, capture stopped, import finished), epoch ns. */
  updatedNs: bigint;
}

/** Every session, the least recently changed first (ties: lower id first). */
export function retentionCandidates(db: Db): RetentionCandidate[] {
  const rows = db
    .prepare('SELECT id, name, state, updated_ns FROM sessions ORDER BY updated_ns, id')
    .safeIntegers(true)
    .all() as { id: bigint; name: string; state: SessionState; updated_ns: bigint }[];
  return rows.map((r) => ({ id: Number(r.id), name: r.name, state: r.state, updatedNs: r.updated_ns }));
}

/**
 * A session is running while it is `capturing` (a live capture, or a file import, which
 * claims the session with that state); retention never touches it.
 */
export function isRunning(c: Pick<RetentionCandidate, 'state'>): boolean {
  return c.state === 'capturing';
}

/** The sessions not changed for `days` days at `nowNs`, oldest first, running ones left out (pure). */
export function sessionsPastRetention(candidates: readonly RetentionCandidate[], nowNs: bigint, days: number): RetentionCandidate[] {
  const cutoff = nowNs - BigInt(Math.round(days * 86_400_000)) * 1_000_000n;
  return candidates.filter((c) => !isRunning(c) && c.updatedNs < cutoff);
}

/** Bytes of the database's pages in use (page_count − freelist_count, times page_size). */
export function usedDatabaseBytes(db: Db): number {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return (pages - free) * pageSize;
}

/** Frames deleted per transaction: short enough that a capture's writer never waits long for the lock. */
const DELETE_CHUNK_FRAMES = 20_000;

/**
 * Deletes a session and every row it has, its frames a chunk per transaction with the
 * event loop free in between (one transaction for millions of frames would hold the
 * write lock for seconds, past the capture writer's busy timeout). Returns false when
 * the session was gone or became running meanwhile. Each transaction is IMMEDIATE: it
 * reads before it writes, and a deferred one would fail at once with SQLITE_BUSY (no busy
 * wait) whenever a capture's writer committed between its read and its first write.
 */
export async function deleteSessionInChunks(db: Db, sessionId: number): Promise<boolean> {
  const base = BigInt(sessionId) * 0x1_0000_0000n;
  const last = (db.prepare('SELECT MAX(id) AS m FROM frames WHERE id BETWEEN ? AND ?').safeIntegers(true).get(base, base + 0xffff_ffffn) as {
    m: bigint | null;
  }).m;
  const stillIdle = db.prepare(`SELECT 1 FROM sessions WHERE id = ? AND state != 'capturing'`);
  const deleteFrames = db.prepare('DELETE FROM frames WHERE id BETWEEN ? AND ?');
  if (last !== null) {
    for (let from = base + 1n; from <= last; from += BigInt(DELETE_CHUNK_FRAMES)) {
      const done = db.transaction(() => {
        if (!stillIdle.get(sessionId)) return false;
        deleteFrames.run(from, from + BigInt(DELETE_CHUNK_FRAMES) - 1n);
        return true;
      }).immediate();
      if (!done) return false;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  // The rest (flows and their sacks, tags and advance rows; completions) in one go: a
  // flow's rows are a few per connection, not per frame.
  return db.transaction(() => {
    if (!stillIdle.get(sessionId)) return false;
    return db.prepare('DELETE FROM sessions WHERE id = ?').run(sessionId).changes > 0;
  }).immediate();
}
