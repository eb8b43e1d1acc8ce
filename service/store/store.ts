/**
 * The store: what the service's routes ask of wherever sessions live, so the same routes
 * run on SQLite (the default, `sqlite-store.ts`) or on ClickHouse (`ACKSCOPE_STORE=
 * clickhouse://…`, `clickhouse-store.ts`; docs/scale-out.md). One name for the concept:
 * a **store** (not backend, repository, database).
 *
 * Why here, on the service's floor: a store answers sessions, frames and completions
 * (db/ or clickhouse/), imports a capture file (recording/) and correlates (analysis/),
 * so the seam sits above all three; the rules stay in correlate/ and the SQL in db/ and
 * clickhouse/. Every method is async because ClickHouse answers over HTTP; the SQLite
 * store answers at once, with the same db/ functions the routes called before.
 *
 * A store that cannot serve something throws ACKSCOPE_ERR_STORE_UNSUPPORTED (501), never
 * a crash; the routes it does not serve at all are listed in `unsupported-routes.ts`.
 */
import type { SessionHost, SessionRow } from '../../core/session-row.js';
import type { RetentionStore } from '../retention.js';
import type { CompletionRow } from '../../core/completion.js';
import type { SessionTimeSpan } from '../../core/time.js';
import type { NewSession } from '../../db/sessions.js';
import type { FlowRow, FrameQuery, FrameRow } from '../../db/frames.js';
import type { CompletionFilter, StoredCompletion, StoreResult } from '../../db/completions.js';
import type { ImportOptions, ImportResult } from '../../recording/import.js';
import type { CorrelationRunner } from '../../analysis/correlation-runner.js';
import type { ClickHouseHealth } from '../../clickhouse/health.js';
import type { SequenceFrame } from '../../core/sequence-frame.js';
import type { parseKernelWitness, TraceStats } from '../../core/kernel-witness.js';

export type StoreKind = 'sqlite' | 'clickhouse';

/**
 * The correlation questions the routes ask (summaries, listing pages, exports): the
 * correlation worker (analysis/correlation-runner.ts) on either store, answering from
 * SQLite (analysis/correlation-desk.ts) or from ClickHouse's set-based correlation
 * (analysis/clickhouse-correlation-desk.ts).
 */
export type SessionCorrelations = Pick<
  CorrelationRunner,
  'summary' | 'page' | 'flowRecords' | 'record' | 'openExport' | 'forget' | 'stats' | 'workerMemory' | 'inWorker' | 'close'
>;

/** One upload of posted completions: records added as the body is read, stored all or nothing at commit. */
export interface CompletionUpload {
  add(row: CompletionRow): void;
  /** The store's queue is full: wait for room() before reading on (back-pressure on the body). */
  readonly busy: boolean;
  room(): Promise<void>;
  commit(): Promise<StoreResult>;
  /** Drops what was added (a no-op once committed). */
  discard(): void;
}

export interface StoreHealth {
  store: StoreKind;
  ok: boolean;
  /** The failure a /healthz reply carries (its code gives the status: 503 unreachable, 502 refused). */
  error?: { code: string; message: string };
  /** ClickHouse: per host, reachable and schema version (clickhouse/health.ts). */
  clickhouse?: ClickHouseHealth;
}

/** Session counts by state and kind, for /metrics. */
export interface SessionCount {
  state: string;
  kind: string;
  n: number;
}

/** A posted kernel witness, validated (core/kernel-witness.ts): the completion's flow and writeId, and its moments. */
export type KernelWitnessRow = ReturnType<typeof parseKernelWitness>;

/**
 * The web page's own reads (service/routes/web.ts): db/web.ts on SQLite, clickhouse/web.ts
 * on ClickHouse. Each answers in a query or two, whatever the session's size.
 */
export interface WebPageReads {
  /** Completions stored per session (the page's session list). */
  completionCounts(sessionIds: readonly number[]): Promise<Map<number, number>>;
  /** How many flows the session has, and the one with most frames (the live view follows it; null before any). */
  flowCounts(sessionId: number): Promise<{ flows: number; busiestFlowId: number | null }>;
  /**
   * Hands a flow's frames in capture order to `visit` (the time-sequence graph's columns,
   * time relative to baseNs). A callback, not an async iterator: SQLite's rows are read
   * without a pause in between (a statement left open across an await would block the
   * connection for every other request), ClickHouse's a page at a time.
   */
  eachSequenceFrame(sessionId: number, flowId: number, baseNs: bigint, visit: (frame: SequenceFrame) => void): Promise<void>;
  /** The frames that carried a write's bytes [start, end) in `dir`, and the first ACK of the other direction covering `end`. */
  writeFrames(sessionId: number, flowId: number, dir: 0 | 1, start: number, end: number): Promise<{ data: FrameRow[]; ack: FrameRow | null }>;
}

export interface Store {
  readonly kind: StoreKind;
  readonly correlations: SessionCorrelations;
  readonly webPage: WebPageReads;

  createSession(s: NewSession): Promise<SessionRow>;
  getSession(id: number): Promise<SessionRow | undefined>;
  /** Newest first; `beforeId` is the cursor (the last id of the previous page). */
  listSessions(limit: number, beforeId?: number): Promise<SessionRow[]>;
  /** Partial update by column name; bumps updated_ns. */
  updateSession(id: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void>;
  /** Removes the session's rows (its files are the route's). */
  deleteSession(id: number): Promise<void>;
  sessionCounts(): Promise<SessionCount[]>;

  /**
   * Sets the clock error a host claims in a session (replacing what it stated before)
   * and bumps the session's updated_ns, so a correlation cached with the old error is
   * made again. The caller checked the host name (core/host-name.ts) and the session.
   */
  stateHostClockError(sessionId: number, host: string, clockErrorNs: bigint): Promise<void>;
  /** The session's hosts by name: those that stated a clock error, captured frames or posted completions. */
  listSessionHosts(sessionId: number): Promise<SessionHost[]>;

  listFlows(sessionId: number, limit: number, afterId: number): Promise<FlowRow[]>;
  listFrames(sessionId: number, q: FrameQuery): Promise<FrameRow[]>;

  /**
   * Moves an import session to capturing; false when it cannot take this file now (two
   * imports must not interleave). SQLite: only a `created` session. ClickHouse also lets
   * another host add its own capture to a `stopped` session it holds no frames of (many
   * hosts, one session: docs/scale-out.md).
   */
  claimImport(sessionId: number): Promise<boolean>;
  /** Decodes, tracks and stores a capture file; all or nothing. */
  importCapture(sessionId: number, chunks: AsyncIterable<Uint8Array>, options: ImportOptions & { sessionDir: string }): Promise<ImportResult>;
  /** After importCapture: the session's state and the file's facts (with another host's capture already in it: merged). */
  finishImport(sessionId: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void>;
  /** After a failed import: the session as it was before claimImport. */
  abortImport(sessionId: number): Promise<void>;
  /** At start: imports cut short by the last stop, undone; their ids. */
  recoverInterruptedImports(sessionDir: (id: number) => string): Promise<number[]>;

  openUpload(sessionId: number): CompletionUpload;
  listCompletions(sessionId: number, filter: CompletionFilter, limit: number, afterId: number): Promise<StoredCompletion[]>;
  deleteCompletion(sessionId: number, completionId: number): Promise<boolean>;
  /** The times a session's completions must stay near (db/completions.ts sessionTimeSpan). */
  sessionTimeSpan(session: SessionRow): Promise<SessionTimeSpan | null>;

  /**
   * Kernel witnesses of completions already stored (same flow and writeId), each
   * replacing an earlier witness of its completion; all or nothing: a witness whose
   * completion is not stored refuses the request (ACKSCOPE_ERR_COMPLETION_INVALID).
   * The session's correlation is recomputed at the next question (updated_ns bumped).
   */
  storeKernelWitnesses(sessionId: number, rows: readonly KernelWitnessRow[]): Promise<number>;
  /** The kernel tracer's batch: its completions (`firstIndex`: the first one's number, for messages), then their witnesses. */
  storeTraced(sessionId: number, completions: readonly CompletionRow[], firstIndex: number, witnesses: readonly KernelWitnessRow[]): Promise<void>;
  /** What the tracer said about itself (replaces what it said before). */
  storeTraceStats(sessionId: number, stats: TraceStats): Promise<void>;
  getTraceStats(sessionId: number): Promise<TraceStats | null>;

  /** Never throws; answers within a bounded time even when the store does not. */
  /** What retention reads and deletes here (service/retention.ts). */
  retention(): RetentionStore;
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
