import type { Db } from './connection.js';

/** Completions stored per session, for the page's session list (one grouped scan). */
export function completionCounts(db: Db, sessionIds: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  if (sessionIds.length === 0) return counts;
  const rows = db
    .prepare(
      `SELECT session_id, count(*) FROM completions
        WHERE session_id IN (SELECT value FROM json_each(?)) GROUP BY session_id`,
    )
    .raw(true)
    .all(JSON.stringify(sessionIds)) as [number, number][];
  for (const [id, n] of rows) counts.set(Number(id), Number(n));
  return counts;
}
