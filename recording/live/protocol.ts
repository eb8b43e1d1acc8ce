/**
 * Messages between the capture manager (service main thread) and a live capture worker
 * (one worker thread per live session). Plain objects: they cross postMessage.
 */
import type { ErrorCode } from '../../core/errors.js';
import type { CaptureStats, LiveOptions } from '../../capture/native/index.js';
import type { ThreadMemory } from '../../core/thread-memory.js';

/** workerData of a capture worker. */
export interface WorkerInit {
  sessionId: number;
  /** SQLite file; the worker opens a connection of its own (already migrated by the service). */
  dbPath: string;
  /** Absolute path of the raw capture to write (pcapng). */
  captureFile: string;
  capture: LiveOptions;
  /** Commit pending rows this often, ms (default 100). */
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
  /** Opening failed (bad interface, filter, permission...): nothing was captured. */
  | { type: 'open-failed'; code: ErrorCode; message: string }
  /** The capture ended: asked to stop, or died (then `failure` says why). Rows are final. */
  | { type: 'ended'; failure: string | null; counts: FrameCounts; stats: CaptureStats | null };
