/**
 * Storing posted completions with a second thread (the service's side of
 * recording/completion-ingest-worker.ts): the request's thread reads, validates and
 * packs the records (core/completion-columns.ts) and hands each batch over as it fills;
 * the worker stages it at once (db/completion-staging.ts) and stores the whole upload in
 * one transaction when the body ended. What the second core buys: the store runs off the
 * event loop (other requests are answered during a large upload's store), and no
 * upload's rows are kept in the request thread's memory. With the packed path (the
 * default, db/completion-staging.ts) the worker keeps each batch as it came and SQLite
 * reads it as one BLOB at commit; with the temp-table path, binding and staging the rows
 * runs while the body is still being parsed.
 *
 * A database in memory (tests) or ACKSCOPE_INGEST_WORKER=0 stages on the service's own
 * connection instead, synchronously: the same SQL, one thread.
 */
import { Worker } from 'node:worker_threads';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AckscopeError, isErrorCode } from '../core/errors.js';
import { transferList, type PackedCompletions } from '../core/completion-columns.js';
import type { Db } from '../db/connection.js';
import { CompletionStaging } from '../db/completion-staging.js';
import type { StoreResult } from '../db/completions.js';
import type { ThreadMemory } from '../core/thread-memory.js';

export interface IngestWorkerInit {
  dbPath: string;
}
export type IngestToWorker =
  | { type: 'begin'; upload: number; sessionId: number }
  | { type: 'batch'; upload: number; batch: PackedCompletions }
  | { type: 'commit'; upload: number }
  | { type: 'discard'; upload: number };
export type IngestFromWorker =
  | { type: 'staged'; upload: number }
  | { type: 'done'; upload: number; ok: true; result: StoreResult; memory?: ThreadMemory }
  | { type: 'done'; upload: number; ok: false; error: { code: string; message: string; details?: Record<string, unknown> }; memory?: ThreadMemory };

/** Batches handed over and not yet staged, per upload, before the upload waits (back-pressure on the body). */
const MAX_BATCHES_IN_FLIGHT = 8;

/** One upload: add() its batches in order, then commit() or discard(). */
export interface IngestUpload {
  add(batch: PackedCompletions): void;
  /** Resolves when the worker has room for more batches (at once inline). */
  room(): Promise<void>;
  /** More batches now would pass the limit: wait for room() before reading on. */
  readonly busy: boolean;
  commit(): Promise<StoreResult>;
  discard(): void;
}

function spawnWorker(init: IngestWorkerInit): Worker {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const file = join(dirname(here), `completion-ingest-worker${ext}`);
  if (ext !== '.ts') return new Worker(file, { workerData: init });
  // under tsx, Node 20 does not apply the --import hooks to a worker's entry (see analysis/correlation-runner.ts)
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}

interface Pending {
  inFlight: number;
  /** The worker stopped before the upload was committed. */
  failure: Extract<IngestFromWorker, { type: 'done' }> | null;
  roomWaiters: (() => void)[];
  done: ((r: Extract<IngestFromWorker, { type: 'done' }>) => void) | null;
}

export class CompletionIngest {
  private worker: Worker | null = null;
  private nextUpload = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private readonly dbPath: string;
  private readonly inline: boolean;
  /** The worker thread's memory as of its last finished upload (for /metrics). */
  private lastMemory: ThreadMemory | null = null;

  constructor(
    private readonly db: Db,
    options: { inWorker?: boolean } = {},
  ) {
    this.dbPath = db.name;
    this.inline = db.memory || options.inWorker === false;
  }

  get inWorker(): boolean {
    return !this.inline;
  }

  /** The worker thread's own memory as of its last finished upload; null before one, or without a worker. */
  get workerMemory(): ThreadMemory | null {
    return this.worker ? this.lastMemory : null;
  }

  /**
   * `onThisThread`: stage on the service's connection even with a worker (an upload of
   * one batch, whose store takes a few milliseconds: no thread hand-over, no worker
   * started for it).
   */
  open(sessionId: number, onThisThread = false): IngestUpload {
    if (this.closed) throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', 'the ingest worker is closed');
    return this.inline || onThisThread ? this.openInline(sessionId) : this.openInWorker(sessionId);
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private openInline(sessionId: number): IngestUpload {
    const staging = new CompletionStaging(this.db, sessionId);
    let error: unknown = null;
    return {
      add: (batch) => {
        if (error !== null) return;
        try {
          staging.add(batch);
        } catch (err) {
          error = err;
        }
      },
      room: () => Promise.resolve(),
      busy: false,
      commit: async () => {
        if (error !== null) {
          staging.discard();
          throw error;
        }
        return staging.commit();
      },
      discard: () => staging.discard(),
    };
  }

  private openInWorker(sessionId: number): IngestUpload {
    const worker = this.started();
    const upload = this.nextUpload++;
    const state: Pending = { inFlight: 0, failure: null, roomWaiters: [], done: null };
    this.pending.set(upload, state);
    if (this.pending.size === 1) worker.ref();
    const send = (m: IngestToWorker, transfer: ArrayBuffer[] = []) => worker.postMessage(m, transfer);
    send({ type: 'begin', upload, sessionId });
    let finished = false;
    const finish = () => {
      finished = true;
      this.pending.delete(upload);
      if (this.pending.size === 0) this.worker?.unref();
    };
    return {
      add: (batch) => {
        state.inFlight++;
        send({ type: 'batch', upload, batch }, transferList(batch));
      },
      room: () =>
        state.inFlight < MAX_BATCHES_IN_FLIGHT ? Promise.resolve() : new Promise<void>((resolve) => state.roomWaiters.push(resolve)),
      get busy() {
        return state.inFlight >= MAX_BATCHES_IN_FLIGHT;
      },
      commit: () =>
        new Promise<StoreResult>((resolve, reject) => {
          state.done = (m) => {
            finish();
            if (m.ok) resolve(m.result);
            else reject(new AckscopeError(isErrorCode(m.error.code) ? m.error.code : 'ACKSCOPE_ERR_INTERNAL', m.error.message, m.error.details));
          };
          if (state.failure) state.done(state.failure);
          else send({ type: 'commit', upload });
        }),
      discard: () => {
        if (finished) return;
        finish();
        send({ type: 'discard', upload });
      },
    };
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = spawnWorker({ dbPath: this.dbPath });
    worker.unref();
    worker.on('message', (m: IngestFromWorker) => {
      if (m.type === 'done' && m.memory) this.lastMemory = m.memory;
      const p = this.pending.get(m.upload);
      if (!p) return;
      if (m.type === 'staged') {
        p.inFlight--;
        if (p.inFlight < MAX_BATCHES_IN_FLIGHT) for (const wake of p.roomWaiters.splice(0)) wake();
      } else {
        p.done?.(m);
      }
    });
    const fail = (err: Error) => {
      // the thread is gone: fail its uploads; the next upload starts a fresh one
      if (this.worker === worker) this.worker = null;
      for (const [upload, p] of this.pending) {
        this.pending.delete(upload);
        p.inFlight = 0;
        for (const wake of p.roomWaiters.splice(0)) wake();
        p.failure = { type: 'done', upload, ok: false, error: { code: 'ACKSCOPE_ERR_INTERNAL', message: `the ingest worker stopped: ${err.message}` } };
        p.done?.(p.failure);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
