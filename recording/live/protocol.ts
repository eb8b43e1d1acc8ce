/**
 * Messages between the capture manager (service main thread) and a live capture worker
 * (one worker thread per live session). Plain objects: they cross postMessage.
 */
import type { ErrorCode } from '../../core/errors.js';
import type { CaptureStats, LiveOptions } from '../../capture/native/index.js';
import type { ThreadMemory } from '../../core/thread-memory.js';
import type { SessionRow } from '../../core/session-row.js';
import type { ClickHouseStoreConfig } from '../../clickhouse/store-url.js';

/**
 * Where a capture worker writes its rows. SQLite: a connection of its own to the file
 * (already migrated by the service), frames and the session's counters in one
 * transaction. ClickHouse: a client of its own for the frame tables; the session row is
 * written by the service's thread only (its store serialises a session's versions), from
 * the worker's `session` messages.
 */
export type LiveRowsTarget =
  | { kind: 'sqlite'; dbPath: string }
  | { kind: 'clickhouse'; config: ClickHouseStoreConfig; host: string };

/** workerData of a capture worker. */
export interface WorkerInit {
  sessionId: number;
  rows: LiveRowsTarget;
  /** Absolute path of the raw capture to write (pcapng). */
  captureFile: string;
  capture: LiveOptions;
  /** Commit pending rows this often, ms (default 100; the manager asks 1000 of a ClickHouse target). */
  flushIntervalMs?: number;
  /** Record libpcap's drop counters in the session row (and post a `sample`) this often, ms (default 1000). */
  statsIntervalMs?: number;
}

export type ToWorker = { type: 'stop' };

/** What the worker's FrameWriter counted so far (mirrors the sessions row). */
export interface FrameCounts {
  frames: number;
  tcp: number;
}

/** What a capture worker reports about itself every statsIntervalMs (metrics, bench/soak.ts). */
export interface CaptureSample {
  memory: ThreadMemory;
  /** Batches the addon read and the worker has not taken yet (null: the counters were gone). */
  queuedBatches: number | null;
}

export type FromWorker =
  /** The capture is open and running; frames will follow. */
  | { type: 'started'; linkType: number; snaplen: number }
  | ({ type: 'sample' } & CaptureSample)
  /** Columns of the session row to write (ClickHouse target: counters after a batch is stored, libpcap's counters). */
  | { type: 'session'; fields: Partial<Record<keyof SessionRow, unknown>> }
  /** Opening failed (bad interface, filter, permission...): nothing was captured. */
  | { type: 'open-failed'; code: ErrorCode; message: string }
  /** The capture ended: asked to stop, or died (then `failure` says why). Rows are final. */
  | { type: 'ended'; failure: string | null; counts: FrameCounts; stats: CaptureStats | null };
