/**
 * An import's rows as SQLite stores them, for differential tests of the import's paths
 * (test/import.two-thread.test.ts, test/frame-rows.packed.test.ts): the same capture
 * imported two ways must leave the same rows, column for column with SQLite's own storage
 * class (quote()), in every table the import fills.
 */
import assert from 'node:assert/strict';
import type { Db } from '../../db/connection.js';
import { createSession } from '../../db/sessions.js';
import { importCapture, type ImportResult } from '../../recording/import.js';
import { isAckscopeError } from '../../core/errors.js';

/** The tables an import writes, each with the rows of one session in key order. */
export const SESSION_TABLES: Record<string, string> = {
  flows: 'SELECT * FROM flows WHERE session_id = @s ORDER BY id',
  frames: 'SELECT * FROM frames WHERE id BETWEEN @s * 4294967296 AND @s * 4294967296 + 4294967295 ORDER BY id',
  sacks: 'SELECT * FROM sacks WHERE flow_id IN (SELECT id FROM flows WHERE session_id = @s) ORDER BY rowid',
  tags: 'SELECT * FROM tags WHERE flow_id IN (SELECT id FROM flows WHERE session_id = @s) ORDER BY flow_id, dir, stream_off',
  retransmissions: 'SELECT * FROM retransmissions WHERE flow_id IN (SELECT id FROM flows WHERE session_id = @s) ORDER BY rowid',
  sent_advances: 'SELECT * FROM sent_advances WHERE flow_id IN (SELECT id FROM flows WHERE session_id = @s) ORDER BY flow_id, dir, sent_max',
  ack_advances: 'SELECT * FROM ack_advances WHERE flow_id IN (SELECT id FROM flows WHERE session_id = @s) ORDER BY flow_id, dir, acked_max',
};
/** The sessions row's columns the import writes (not its times of creation and update). */
const SESSION_COLUMNS = [
  'link_type', 'frames_total', 'frames_tcp', 'skipped_truncated', 'skipped_malformed', 'skipped_not_ip',
  'skipped_not_tcp', 'skipped_other', 'skip_reasons',
];

/** Every row as SQLite stores it: quote() keeps the storage class (integer 1 is not real 1.0 nor text '1'). */
function quoted(db: Db, sql: string, sessionId: number): string[] {
  const columns = db.prepare(sql).columns().map((c) => c.name);
  const outer = `SELECT ${columns.map((c) => `quote("${c}")`).join(" || '|' || ")} AS row FROM (${sql})`;
  return db.prepare(outer).pluck().all({ s: sessionId }) as string[];
}

export function dump(db: Db, sessionId: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [table, sql] of Object.entries(SESSION_TABLES)) out[table] = quoted(db, sql, sessionId);
  out.sessions = quoted(db, `SELECT ${SESSION_COLUMNS.join(', ')} FROM sessions WHERE id = @s`, sessionId);
  return out;
}

export type Outcome = { ok: true; result: ImportResult } | { ok: false; code: string; message: string };

export async function importInto(db: Db, bytes: Uint8Array, writerThread: boolean, batchFrames: number): Promise<{ sessionId: number; outcome: Outcome }> {
  const { id } = createSession(db, { name: 'diff', kind: 'import' });
  try {
    const result = await importCapture(db, id, (async function* () {
      for (let i = 0; i < bytes.length; i += 4096) yield bytes.subarray(i, i + 4096);
    })(), { writerThread, batchFrames });
    return { sessionId: id, outcome: { ok: true, result } };
  } catch (err) {
    assert.ok(isAckscopeError(err), `a refusal is an AckscopeError: ${String(err)}`);
    return { sessionId: id, outcome: { ok: false, code: err.code, message: err.message } };
  }
}

