/**
 * The service's side of the correlation worker (analysis/correlation-worker.ts): one
 * worker thread per store (the SQLite file, or the ClickHouse store), started on first
 * use, holding the correlations and answering summaries, listing pages, a flow's records
 * and exports in batches.
 *
 * Why a worker: correlating takes about 10 µs per completion (bench/correlate.ts), so
 * the first summary of a 100 k-completion session held the event loop for a second and
 * every other request waited. The records stay in the worker: copying 100 k of them to
 * this thread would itself stall the loop, so only what a reply needs crosses (a
 * summary, one page, one batch of an export).
 *
 * The worker is referenced (keeps the process alive) only while a request is pending,
 * so an idle service or a finished CLI command can exit without closing it first.
 */
import { Worker } from 'node:worker_threads';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { AckscopeError, isErrorCode } from '../core/errors.js';
import type { Cursor, SortKey } from '../correlate/listing.js';
import type { CorrelationRecord } from '../correlate/types.js';
import type { TraceEvent } from '../correlate/trace.js';
import type { SessionSummaryData } from '../correlate/summary.js';
import type { Db } from '../db/connection.js';
import type { ThreadMemory } from '../core/thread-memory.js';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { CorrelationDesk } from './correlation-desk.js';
import { ClickHouseCorrelationDesk } from './clickhouse-correlation-desk.js';
import type {
  CorrelationAnswers,
  CorrelationHead,
  ExportKind,
  FromWorker,
  PageFilter,
  ReplyBody,
  ToWorker,
  WorkerInit,
  WorkerStats,
} from './correlation-protocol.js';

export type { CorrelationHead, ExportKind, PageFilter, WorkerStats };

/** The worker thread's nice value unless told otherwise (docs/design-notes.md, "Correlation speed"). */
export const WORKER_NICE = 10;

/** Rows per export batch: ~0.3 MB of CSV, a few ms of formatting between two awaits. */
export const EXPORT_BATCH_ROWS = 1000;

type Request = ToWorker extends infer T ? (T extends { id: number } ? Omit<T, 'id'> : never) : never;

/**
 * worker.ts next to this file; under tsx (tests, benches) Node 20 does not apply the
 * `--import tsx` hooks to a worker's entry (tsx issue #354), so a bootstrap registers
 * tsx first (as recording/live/manager.ts does).
 */
function spawnWorker(init: WorkerInit): Worker {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const file = join(dirname(here), `correlation-worker${ext}`);
  if (ext !== '.ts') return new Worker(file, { workerData: init });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}

export class CorrelationRunner {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (b: ReplyBody) => void; reject: (e: Error) => void }>();
  /** Summaries asked for and not yet answered, by session: a second asker shares the first's. */
  private readonly summaries = new Map<number, Promise<{ head: CorrelationHead; summary: SessionSummaryData }>>();
  private closed = false;
  /** The worker thread's memory with its last answer (null: no worker, or none answered yet). */
  private lastMemory: ThreadMemory | null = null;

  /** null: answered on the worker thread; else on this thread (no file a worker could open, or the worker switched off). */
  private readonly inline: CorrelationAnswers | null;
  private readonly store: WorkerInit['store'];
  private readonly nice: number;

  /**
   * `db`: the service's connection; a worker opens the same file unless `inWorker` is false
   * or the database lives in memory. `nice`: the worker thread's nice value (WORKER_NICE unless given).
   */
  constructor(db: Db, options?: { inWorker?: boolean; nice?: number });
  /**
   * The ClickHouse store's correlations: a worker with a client of its own to the store
   * (`clickhouse`'s settings), unless `inWorker` is false (then this client answers here).
   */
  constructor(clickhouse: ClickHouseClient, options?: { inWorker?: boolean; nice?: number });
  constructor(source: Db | ClickHouseClient, options: { inWorker?: boolean; nice?: number } = {}) {
    this.nice = options.nice ?? WORKER_NICE;
    if (source instanceof ClickHouseClient) {
      this.store = { kind: 'clickhouse', config: source.config };
      this.inline = options.inWorker === false ? new ClickHouseCorrelationDesk(source) : null;
    } else {
      this.store = { kind: 'sqlite', dbPath: source.name };
      this.inline = source.memory || options.inWorker === false ? new CorrelationDesk(source) : null;
    }
  }

  /** Whether a worker thread answers (false: this thread does). */
  get inWorker(): boolean {
    return this.inline === null;
  }

  async summary(sessionId: number): Promise<{ head: CorrelationHead; summary: SessionSummaryData }> {
    let p = this.summaries.get(sessionId);
    if (!p) {
      p = this.ask({ type: 'summary', sessionId }).then((b) => {
        const r = b as Extract<ReplyBody, { type: 'summary' }>;
        return { head: r.head, summary: r.summary };
      });
      const shared = p;
      this.summaries.set(sessionId, shared);
      const forget = () => {
        if (this.summaries.get(sessionId) === shared) this.summaries.delete(sessionId);
      };
      shared.then(forget, forget);
    }
    return p;
  }

  async page(
    sessionId: number,
    query: { filter: PageFilter; key: SortKey; order: 'asc' | 'desc'; limit: number; after: Cursor | null },
  ): Promise<{ head: CorrelationHead; items: CorrelationRecord[]; next: Cursor | null }> {
    const r = (await this.ask({ type: 'page', sessionId, ...query })) as Extract<ReplyBody, { type: 'page' }>;
    return { head: r.head, items: r.items, next: r.next };
  }

  /** The records of one flow (null: the completions no flow matched). */
  async flowRecords(sessionId: number, flowId: number | null): Promise<{ head: CorrelationHead; records: CorrelationRecord[] }> {
    const r = (await this.ask({ type: 'flow-records', sessionId, flowId })) as Extract<ReplyBody, { type: 'flow-records' }>;
    return { head: r.head, records: r.records };
  }

  /** One completion's correlation (null: the session has no such completion). */
  async record(sessionId: number, completionId: number): Promise<{ head: CorrelationHead; record: CorrelationRecord | null }> {
    const r = (await this.ask({ type: 'record', sessionId, completionId })) as Extract<ReplyBody, { type: 'record' }>;
    return { head: r.head, record: r.record };
  }

  /**
   * Opens an export: the head now (so the route can fail with a proper status before
   * the first byte), then batches on demand. Closing the batches early (a client that
   * went away) closes the worker's cursor.
   */
  async openExport(
    sessionId: number,
    kind: ExportKind,
    batchSize = EXPORT_BATCH_ROWS,
  ): Promise<{ head: CorrelationHead; total: number; batches: AsyncGenerator<{ records: CorrelationRecord[]; events: TraceEvent[] }> }> {
    const opened = (await this.ask({ type: 'export-open', sessionId, kind, batchSize })) as Extract<ReplyBody, { type: 'export-open' }>;
    const { exportId } = opened;
    const runner = this;
    async function* batches() {
      let done = false;
      try {
        while (!done) {
          const b = (await runner.ask({ type: 'export-next', exportId })) as Extract<ReplyBody, { type: 'export-next' }>;
          done = b.done;
          yield { records: b.records, events: b.events };
        }
      } finally {
        if (!done && !runner.closed) await runner.ask({ type: 'export-close', exportId }).catch(() => undefined);
      }
    }
    return { head: opened.head, total: opened.total, batches: batches() };
  }

  /** Drops the worker's cached results (one session's, or all). */
  async forget(sessionId: number | null): Promise<void> {
    if (!this.worker && !this.inline) return;
    await this.ask({ type: 'forget', sessionId });
  }

  async stats(): Promise<WorkerStats> {
    const r = (await this.ask({ type: 'stats' })) as Extract<ReplyBody, { type: 'stats' }>;
    return r.stats;
  }

  /** The worker thread's own memory as of its last answer; null before one, or when this thread answers. */
  get workerMemory(): ThreadMemory | null {
    return this.worker ? this.lastMemory : null;
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private ask(request: Request): Promise<ReplyBody> {
    if (this.closed) return Promise.reject(new AckscopeError('ACKSCOPE_ERR_INTERNAL', 'the correlation worker is closed'));
    if (this.inline) {
      const desk = this.inline;
      const id = this.nextId++;
      return Promise.resolve().then(() => desk.answer({ ...request, id } as ToWorker));
    }
    const worker = this.started();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ ...request, id } as ToWorker);
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = spawnWorker({ store: this.store, nice: this.nice });
    worker.unref();
    worker.on('message', (m: FromWorker) => {
      if (m.memory) this.lastMemory = m.memory;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.settled(m.id);
      if (m.ok) p.resolve(m.body);
      else {
        const code = isErrorCode(m.error.code) ? m.error.code : 'ACKSCOPE_ERR_INTERNAL';
        p.reject(new AckscopeError(code, m.error.message, m.error.details));
      }
    });
    const fail = (err: Error) => {
      // the thread is gone: fail what it held and start a fresh one on the next request
      if (this.worker === worker) this.worker = null;
      for (const [id, p] of this.pending) {
        this.settled(id);
        p.reject(new AckscopeError('ACKSCOPE_ERR_INTERNAL', `the correlation worker stopped: ${err.message}`));
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private settled(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
  }
}
