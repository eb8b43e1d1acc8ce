/**
 * Messages between the service's thread and the correlation worker
 * (analysis/correlation-worker.ts, started by analysis/correlation-runner.ts). Every
 * request carries an id; the worker answers each with one reply of the same id.
 */
import type { CorrelationHead } from './correlation.js';
import type { SessionSummaryData } from '../correlate/summary.js';
import type { Cursor, ListFilter, SortKey } from '../correlate/listing.js';
import type { CorrelationRecord } from '../correlate/types.js';
import type { TraceEvent } from '../correlate/trace.js';
import type { ThreadMemory } from '../core/thread-memory.js';
import type { ClickHouseStoreConfig } from '../clickhouse/store-url.js';

/** A correlation without its records: what a reply needs to turn relative times into epoch ns. */
export type { CorrelationHead };

export interface WorkerInit {
  /** Where the worker reads sessions: the service's SQLite file (read-only), or the ClickHouse store. */
  store: { kind: 'sqlite'; dbPath: string } | { kind: 'clickhouse'; config: ClickHouseStoreConfig };
  /** The worker thread's nice value (0: the service's priority). */
  nice: number;
}

/** What answers the messages, in the worker or (no worker) on the service's thread. */
export interface CorrelationAnswers {
  answer(m: ToWorker): ReplyBody | Promise<ReplyBody>;
}

/** What an export streams: correlation records in submission order, or trace events. */
export type ExportKind = 'records' | 'trace';

/** A listing filter as the API takes it: the completion-time window in epoch ns (the worker knows the base). */
export type PageFilter = Omit<ListFilter, 'fromNs' | 'toNs'> & { fromEpochNs?: string; toEpochNs?: string };

export type ToWorker =
  | { id: number; type: 'summary'; sessionId: number }
  | { id: number; type: 'page'; sessionId: number; filter: PageFilter; key: SortKey; order: 'asc' | 'desc'; limit: number; after: Cursor | null }
  | { id: number; type: 'flow-records'; sessionId: number; flowId: number | null }
  | { id: number; type: 'record'; sessionId: number; completionId: number }
  | { id: number; type: 'export-open'; sessionId: number; kind: ExportKind; batchSize: number }
  | { id: number; type: 'export-next'; exportId: number }
  | { id: number; type: 'export-close'; exportId: number }
  | { id: number; type: 'forget'; sessionId: number | null }
  | { id: number; type: 'stats' };

export interface WorkerStats {
  /** correlations computed (a cache hit is not a run) */
  runs: number;
  /** exports opened and not yet finished or closed */
  openExports: number;
}

export type ReplyBody =
  | { type: 'summary'; head: CorrelationHead; summary: SessionSummaryData }
  | { type: 'page'; head: CorrelationHead; items: CorrelationRecord[]; next: Cursor | null }
  | { type: 'flow-records'; head: CorrelationHead; records: CorrelationRecord[] }
  | { type: 'record'; head: CorrelationHead; record: CorrelationRecord | null }
  | { type: 'export-open'; head: CorrelationHead; exportId: number; total: number }
  | { type: 'export-next'; records: CorrelationRecord[]; events: TraceEvent[]; done: boolean }
  | { type: 'done' }
  | { type: 'stats'; stats: WorkerStats };

/** Every reply carries the worker thread's memory as it answered (its results cache lives there). */
export type FromWorker = (
  | { id: number; ok: true; body: ReplyBody }
  | { id: number; ok: false; error: { code: string; message: string; details?: Record<string, unknown> } }
) & { memory?: ThreadMemory };
