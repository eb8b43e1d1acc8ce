/**
 * A capture file imported into the ClickHouse store: the import's reading loop
 * (recording/import.ts importInto: reader, copy filter, the frame packer, the pcapng
 * copy kept in the session's folder) with ClickHouse as its rows' target — the packed
 * batches encoded as RowBinary from their typed columns and streamed, one insert per
 * table for the whole file (clickhouse/frame-batches.ts). All or nothing: a refused file
 * deletes what it wrote (one mutation per table, waited for) and keeps no pcapng copy.
 *
 * The packing runs on the importing thread, the encoding too; the server stores the
 * streams meanwhile (its own threads): no writer thread of ackscope's, unlike SQLite's
 * import (recording/import-writer.ts), whose inserts are the expensive part.
 */
import type { SessionRow } from '../core/session-row.js';
import { counterColumns, emptyCounters } from '../capture/frame-packer.js';
import type { ClickHouseClient } from '../clickhouse/http-client.js';
import { ClickHouseFrameBatches, deleteWrittenRows, type FrameBatchTarget } from '../clickhouse/frame-batches.js';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wallClockNs } from '../core/time.js';
import { waitForMutations } from '../clickhouse/sessions.js';
import {
  CAPTURE_FILE_NAME,
  INTERRUPTED,
  hasImportOwner,
  importInto,
  importOwnerAlive,
  releaseImportOwner,
  type ImportOptions,
  type ImportResult,
} from './import.js';
import type { ImportRows } from './import-writer.js';

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

/** ImportRows over the streamed writer: batches queue on its streams in order; room() waits while they are backed up. */
function streamedRows(writer: ClickHouseFrameBatches): ImportRows {
  let last: Promise<void> = Promise.resolve();
  let failure: Error | null = null;
  return {
    add: (batch) => {
      // encoded and queued at once, in order; the promise waits for room on the streams
      last = writer.write(batch);
      last.catch((err: Error) => (failure ??= err));
    },
    room: () => last.catch(() => undefined),
    busy: false,
    get failure() {
      return failure;
    },
    finish: async (batch) => {
      await last;
      await writer.write(batch);
      await writer.finish();
    },
    abort: () => writer.abort(),
    writerCpuMs: null,
  };
}

export async function importCaptureIntoClickHouse(
  client: ClickHouseClient,
  sessionId: number,
  chunks: AsyncIterable<Uint8Array>,
  options: ImportOptions & { sessionDir: string; host: string; flowBase?: number; frameBase?: number },
): Promise<{ result: ImportResult; counters: Partial<SessionRow> }> {
  const target: FrameBatchTarget = { sessionId, host: options.host, flowBase: options.flowBase ?? 0, frameBase: options.frameBase ?? 0 };
  const writer = new ClickHouseFrameBatches(client, target, 'one stream per table');
  const result = await importInto(
    {
      // this host's rows of the session start here: frame numbers and flow ids are shifted by the bases
      resume: emptyCounters(),
      start: () => streamedRows(writer),
      discard: async () => {
        // a file refused before its first batch wrote nothing: no mutation (each rewrites parts on 18.16)
        if (!writer.wroteAny) return;
        await deleteWrittenRows(client, target);
        await waitForMutations(client, `the rows of a failed import into session ${sessionId}`);
      },
    },
    withoutEarlyDestroy(chunks),
    options,
  );
  // a file without frames leaves the counters as a new session has them (as SQLite's frame writer does)
  return { result, counters: result.counters.frames === 0 ? {} : counterColumns(result.counters) };
}

/**
 * Written in the session's folder while this host adds its file to a session another host
 * imported before (a joining import): where this host's rows start and the state to go back
 * to. Without it, an interrupted import was the session's first: all its rows go.
 */
const JOIN_FILE = 'import-join.json';

export interface ImportJoin {
  flowBase: number;
  frameBase: number;
  /** The session's state before this host's import claimed it. */
  stateBefore: string;
}

export function recordImportJoin(sessionDir: string, join_: ImportJoin): void {
  writeFileSync(join(sessionDir, JOIN_FILE), JSON.stringify(join_));
}

export function releaseImportJoin(sessionDir: string): void {
  rmSync(join(sessionDir, JOIN_FILE), { force: true });
}

function readImportJoin(sessionDir: string): ImportJoin | null {
  try {
    return JSON.parse(readFileSync(join(sessionDir, JOIN_FILE), 'utf8')) as ImportJoin;
  } catch {
    return null;
  }
}

/** What the recovery reads and writes of a session row (the ClickHouse store). */
export interface ImportSessions {
  get(id: number): Promise<SessionRow | undefined>;
  update(id: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void>;
}

/**
 * At start, on ClickHouse (as recording/import.ts recoverInterruptedImports on SQLite): an
 * import session still `capturing` whose importing process on this host is gone (its
 * owner file in this host's session folder names a dead pid) was cut short. Its rows are
 * deleted (one mutation per table, waited for): all of them for a first import, which
 * then becomes `failed` with reason `interrupted` and loses its partial pcapng; only this
 * host's for a joining import (JOIN_FILE), whose session goes back to the state it had,
 * the other hosts' capture intact. The owner file is this host's own, so an import another
 * service runs is never touched. Returns the ids undone.
 */
export async function recoverInterruptedClickHouseImports(
  client: ClickHouseClient,
  sessions: ImportSessions,
  sessionsDir: string,
  host: string,
): Promise<number[]> {
  if (!existsSync(sessionsDir)) return [];
  const undone: number[] = [];
  for (const name of readdirSync(sessionsDir)) {
    if (!/^[1-9][0-9]*$/.test(name)) continue;
    const dir = join(sessionsDir, name);
    if (!hasImportOwner(dir) || importOwnerAlive(dir)) continue;
    const id = Number(name);
    const row = await sessions.get(id);
    if (row?.kind === 'import' && row.state === 'capturing') {
      const joined = readImportJoin(dir);
      await deleteWrittenRows(client, { sessionId: id, host, flowBase: joined?.flowBase ?? 0, frameBase: joined?.frameBase ?? 0 });
      await waitForMutations(client, `the rows of the interrupted import into session ${id}`);
      if (joined) await sessions.update(id, { state: joined.stateBefore });
      else {
        rmSync(join(dir, CAPTURE_FILE_NAME), { force: true });
        await sessions.update(id, { state: 'failed', failure_reason: INTERRUPTED, stopped_ns: wallClockNs(), capture_file: null });
      }
      undone.push(id);
    }
    // a claim that never happened (the row was not capturing) or an import undone: the marks go
    releaseImportJoin(dir);
    releaseImportOwner(dir);
  }
  return undone;
}
