import type { Db } from './connection.js';
import { wallClockNs } from '../core/time.js';
import type { NewSession, SessionKind, SessionRow, SessionState } from '../core/session-row.js';

export type { NewSession, SessionKind, SessionRow, SessionState };

export { wallClockNs };

const NS_COLUMNS = ['clock_uncertainty_ns', 'near_margin_ns', 'created_ns', 'updated_ns', 'started_ns', 'stopped_ns'];

/** Reads a row with BigInt for ns columns and plain numbers for the rest. */
function normalise(raw: Record<string, unknown> | undefined): SessionRow | undefined {
  if (!raw) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    out[key] = typeof value === 'bigint' && !NS_COLUMNS.includes(key) ? Number(value) : value;
  }
  return out as unknown as SessionRow;
}

export function createSession(db: Db, s: NewSession): SessionRow {
  const now = wallClockNs();
  const info = db
    .prepare(
      `INSERT INTO sessions (name, kind, interface, filter, snaplen, buffer_size, immediate,
         clock_uncertainty_ns, near_margin_ns, created_ns, updated_ns)
       VALUES (@name, @kind, @interface, @filter, @snaplen, @bufferSize, @immediate,
         @clockUncertaintyNs, @nearMarginNs, @now, @now)`,
    )
    .run({
      name: s.name,
      kind: s.kind,
      interface: s.interface ?? null,
      filter: s.filter ?? null,
      snaplen: s.snaplen ?? null,
      bufferSize: s.bufferSize ?? null,
      immediate: s.immediate ? 1 : 0,
      clockUncertaintyNs: s.clockUncertaintyNs ?? 0n,
      nearMarginNs: s.nearMarginNs ?? 5000n,
      now,
    });
  return getSession(db, Number(info.lastInsertRowid))!;
}

export function getSession(db: Db, id: number): SessionRow | undefined {
  const stmt = db.prepare('SELECT * FROM sessions WHERE id = ?').safeIntegers(true);
  return normalise(stmt.get(id) as Record<string, unknown> | undefined);
}

/** Newest first; `beforeId` is the cursor (the last id of the previous page). */
export function listSessions(db: Db, limit: number, beforeId?: number): SessionRow[] {
  const stmt = db
    .prepare(
      `SELECT * FROM sessions WHERE (@before IS NULL OR id < @before)
       ORDER BY id DESC LIMIT @limit`,
    )
    .safeIntegers(true);
  return (stmt.all({ before: beforeId ?? null, limit }) as Record<string, unknown>[]).map((r) => normalise(r)!);
}

export function deleteSession(db: Db, id: number): boolean {
  return db.prepare('DELETE FROM sessions WHERE id = ?').run(id).changes > 0;
}

/** Partial update of a session's columns (by column name); bumps updated_ns. */
export function updateSession(db: Db, id: number, fields: Partial<Record<keyof SessionRow, unknown>>): void {
  const keys = Object.keys(fields);
  const sets = keys.map((k) => `${k} = @${k}`);
  sets.push('updated_ns = @__now');
  db.prepare(`UPDATE sessions SET ${sets.join(', ')} WHERE id = @__id`).run({
    ...fields,
    __now: wallClockNs(),
    __id: id,
  });
}
