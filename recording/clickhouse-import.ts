/**
 * A capture file imported into the ClickHouse store: decoded, tracked and written by
 * the SQLite import path (recording/import.ts, the frame writer) into a scratch SQLite
 * file in the session's folder, then copied into ClickHouse as one RowBinary stream per
 * table (clickhouse/copy-session.ts, rows only: the session row is the store's) and the
 * scratch file removed. All or nothing: a refused file leaves nothing in either store.
 *
 * Why through SQLite: the frame writer (flow tracking, offset unwrapping, the advance
 * tables, SACKs, tags, retransmissions) is the one tested definition of what a session's
 * rows are; a frame writer emitting RowBinary directly would skip the detour (about half
 * the copy's time goes to reading SQLite back: docs/scale-out.md) and is not built yet.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../db/connection.js';
import { createSession, getSession, type SessionRow } from '../db/sessions.js';
import type { ClickHouseClient } from '../clickhouse/http-client.js';
import { copySessionFromSqlite } from '../clickhouse/copy-session.js';
import { importCapture, type ImportOptions, type ImportResult } from './import.js';

const SCRATCH_FILE = 'import-scratch.db';

/** The session columns the frame writer fills during an import (the rest are the route's). */
const IMPORT_COUNTERS = [
  'link_type', 'frames_total', 'frames_tcp', 'skipped_truncated', 'skipped_malformed', 'skipped_not_ip',
  'skipped_not_tcp', 'skipped_other', 'skip_reasons', 'pcap_received', 'pcap_dropped', 'pcap_if_dropped',
] as const satisfies readonly (keyof SessionRow)[];

/**
 * The body's chunks without handing an early stop on to the body: a refused file (too
 * large, malformed) ends the import's read, and the route then drains the rest so the
 * client gets the reply. Ending the body's own iterator would destroy it instead, and
 * the reply would race the destroyed request (the store's update is awaited over HTTP
 * here, where SQLite's is immediate).
 */
async function* withoutEarlyDestroy(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  for (;;) {
    const step = await it.next();
    if (step.done) return;
    yield step.value;
  }
}

function removeScratch(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
}

export async function importCaptureIntoClickHouse(
  client: ClickHouseClient,
  sessionId: number,
  chunks: AsyncIterable<Uint8Array>,
  options: ImportOptions & { sessionDir: string; host: string; flowBase?: number; frameBase?: number },
): Promise<{ result: ImportResult; counters: Partial<SessionRow> }> {
  const path = join(options.sessionDir, SCRATCH_FILE);
  removeScratch(path); // a scratch file left by a process that died mid-import
  const db = openDatabase(path);
  try {
    const scratch = createSession(db, { name: `import of session ${sessionId}`, kind: 'import' });
    const result = await importCapture(db, scratch.id, withoutEarlyDestroy(chunks), options);
    await copySessionFromSqlite(db, client, scratch.id, {
      targetSessionId: sessionId,
      host: options.host,
      rowsOnly: true,
      flowBase: options.flowBase,
      frameBase: options.frameBase,
    });
    const row = getSession(db, scratch.id)!;
    const counters: Partial<SessionRow> = {};
    for (const f of IMPORT_COUNTERS) (counters as Record<string, unknown>)[f] = row[f];
    return { result, counters };
  } finally {
    db.close();
    removeScratch(path);
  }
}
