/**
 * Where an import's packed batches of frame rows go (capture/frame-packer.ts →
 * db/frame-rows.ts): written at once on the importing thread's connection, or handed to a
 * writer thread of the import's own (recording/import-writer-worker.ts), as transferred
 * typed-array columns — the pattern of the completion ingest (recording/completion-ingest.ts).
 *
 * What the second core buys: decoding, flow tracking, packing and the pcapng copy run on
 * the importing thread while SQLite inserts the previous batches on the other, so an
 * import takes about as long as its SQLite part alone (docs/import.md "Import speed").
 * At most MAX_BATCHES_IN_FLIGHT batches wait for the writer: the importing thread waits
 * for room() before reading on (back-pressure, bounded memory).
 */
import { Worker } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AckscopeError, isErrorCode } from '../core/errors.js';
import { transferList, type PackedFrames } from '../capture/frame-packer.js';
import type { Db } from '../db/connection.js';
import { FrameRowWriter } from '../db/frame-rows.js';

/**
 * wal_autocheckpoint of a connection while it imports: every 128 MiB instead of every 4 MiB,
 * fewer and larger copies into the database file (recording/import.ts).
 */
export const IMPORT_CHECKPOINT_PAGES = 32768;

/**
 * Batches handed over and not yet written before the importing thread waits (20000 frames,
 * ~3.2 MB of columns each: ~26 MB at most). Room for the writer thread's start-up and for
 * the scheduling delays of a loaded machine: with 4 the importing thread stalled more often.
 */
const MAX_BATCHES_IN_FLIGHT = 8;

export interface WriterThreadInit {
  dbPath: string;
  sessionId: number;
  framesInSessionRow: number;
  /** Int32 flag: 1 once the import failed. */
  abort: SharedArrayBuffer;
}
export type WriterToThread = { type: 'batch'; batch: PackedFrames; final: boolean } | { type: 'close' };
export type WriterFromThread =
  | { type: 'written'; final: boolean; cpuMs: number }
  | { type: 'failed'; error: { code: string; message: string; details?: Record<string, unknown> } };

/** CPU time of the calling thread, ms (Linux: /proc/thread-self/schedstat; NaN elsewhere). */
export function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/** An import's writer of frame rows: add() batches in order, then finish(last) or abort(). */
export interface ImportRows {
  add(batch: PackedFrames): void;
  /** Resolves when the writer has room for more batches (at once inline). */
  room(): Promise<void>;
  /** room() would wait: the writer has MAX_BATCHES_IN_FLIGHT batches to write (never inline). */
  readonly busy: boolean;
  /** The writer's first error, if any: the import stops with it. */
  readonly failure: Error | null;
  /** Writes the last batch (the packer's take(true)); resolves when all is written. */
  finish(last: PackedFrames): Promise<void>;
  /** Stops writing (nothing more lands); the caller then deletes what was written. */
  abort(): Promise<void>;
  /** CPU time of the writer thread, ms, once finished (null inline: the importing thread's own). */
  readonly writerCpuMs: number | null;
}

/** Writes on the importing thread's connection, as each batch comes. */
export function inlineRows(db: Db, sessionId: number, framesInSessionRow: number): ImportRows {
  const rows = new FrameRowWriter(db, sessionId, framesInSessionRow);
  return {
    add: (batch) => rows.write(batch),
    room: () => Promise.resolve(),
    busy: false,
    failure: null,
    finish: async (last) => rows.write(last),
    abort: async () => {},
    writerCpuMs: null,
  };
}

function spawnWriter(init: WriterThreadInit): Worker {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const file = join(dirname(here), `import-writer-worker${ext}`);
  if (ext !== '.ts') return new Worker(file, { workerData: init });
  // under tsx, Node 20 does not apply the --import hooks to a worker's entry (see analysis/correlation-runner.ts)
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}

/** Writes on a thread of its own, with a connection of its own to the database file `db` names. */
export function threadRows(db: Db, sessionId: number, framesInSessionRow: number): ImportRows {
  const abortFlag = new SharedArrayBuffer(4);
  const worker = spawnWriter({ dbPath: db.name, sessionId, framesInSessionRow, abort: abortFlag });
  let inFlight = 0;
  let failure: Error | null = null;
  let writerCpuMs: number | null = null;
  let roomWaiters: (() => void)[] = [];
  let finished: { resolve: () => void; reject: (err: Error) => void } | null = null;
  let ended = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));

  const wake = () => {
    const waiters = roomWaiters;
    roomWaiters = [];
    for (const w of waiters) w();
  };
  const fail = (err: Error) => {
    failure ??= err;
    inFlight = 0;
    wake();
    finished?.reject(failure);
    finished = null;
  };
  worker.on('message', (m: WriterFromThread) => {
    if (m.type === 'failed') {
      const code = isErrorCode(m.error.code) ? m.error.code : 'ACKSCOPE_ERR_INTERNAL';
      fail(new AckscopeError(code, m.error.message, m.error.details));
      return;
    }
    inFlight--;
    if (inFlight < MAX_BATCHES_IN_FLIGHT) wake();
    if (m.final) {
      writerCpuMs = m.cpuMs;
      if (failure) finished?.reject(failure);
      else finished?.resolve();
      finished = null;
    }
  });
  worker.on('error', (err) => fail(new AckscopeError('ACKSCOPE_ERR_INTERNAL', `import writer thread: ${err.message}`)));
  worker.on('exit', (code) => {
    if (!ended) fail(new AckscopeError('ACKSCOPE_ERR_INTERNAL', `import writer thread stopped (exit code ${code})`));
  });
  const close = async () => {
    ended = true;
    worker.postMessage({ type: 'close' } satisfies WriterToThread);
    await exited;
  };

  return {
    add: (batch) => {
      if (failure) return;
      inFlight++;
      worker.postMessage({ type: 'batch', batch, final: false } satisfies WriterToThread, transferList(batch));
    },
    room: () => (inFlight < MAX_BATCHES_IN_FLIGHT || failure ? Promise.resolve() : new Promise<void>((resolve) => roomWaiters.push(resolve))),
    get busy() {
      return inFlight >= MAX_BATCHES_IN_FLIGHT && !failure;
    },
    get failure() {
      return failure;
    },
    finish: async (last) => {
      if (!failure) {
        const done = new Promise<void>((resolve, reject) => (finished = { resolve, reject }));
        inFlight++;
        worker.postMessage({ type: 'batch', batch: last, final: true } satisfies WriterToThread, transferList(last));
        try {
          await done;
        } catch {
          // reported below
        }
      }
      await close();
      if (failure) throw failure;
    },
    abort: async () => {
      Atomics.store(new Int32Array(abortFlag), 0, 1);
      await close();
    },
    get writerCpuMs() {
      return writerCpuMs;
    },
  };
}
