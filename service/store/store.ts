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
import type { CompletionRow } from '../../core/completion.js';
import type { SessionTimeSpan } from '../../core/time.js';
import type { NewSession } from '../../db/sessions.js';
import type { FlowRow, FrameQuery, FrameRow } from '../../db/frames.js';
import type { CompletionFilter, StoredCompletion, StoreResult } from '../../db/completions.js';
import type { ImportOptions, ImportResult } from '../../recording/import.js';
import type { CorrelationRunner } from '../../analysis/correlation-runner.js';
import type { ClickHouseHealth } from '../../clickhouse/health.js';

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

export interface Store {
  readonly kind: StoreKind;
  readonly correlations: SessionCorrelations;

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

  /** Never throws; answers within a bounded time even when the store does not. */
  health(): Promise<StoreHealth>;
  close(): Promise<void>;
}
