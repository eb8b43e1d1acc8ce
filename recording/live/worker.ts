/**
 * Live capture worker: one worker thread per live session, so neither the store's writes
 * nor decoding ever run on the service's event loop (and the service's loop never paces
 * the capture). It opens the addon's capture, feeds every frame to the frame writer of
 * the session's store (protocol.ts LiveRowsTarget: SQLite's FrameWriter, committed every
 * flushIntervalMs in one transaction; or ClickHouseLiveRows, one insert per table per
 * flush) and to a pcapng file (the raw capture, in the session's folder on this host),
 * and records libpcap's drop counters every statsIntervalMs and at the end; with the
 * counters it posts a `sample` (its memory, the addon's queue) to the manager. On
 * ClickHouse the session row's columns go to the manager as `session` messages.
 *
 * Lifecycle (protocol.ts): workerData = WorkerInit → posts `started` or `open-failed`;
 * on `stop` closes the capture (every batch already captured is still written) → posts
 * `ended` once the rows and the file are final, then exits. If the capture dies (the
 * interface went away) it ends the same way with `failure` set.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { openDatabase, type Db } from '../../db/connection.js';
import { updateSession } from '../../db/sessions.js';
import { FrameWriter } from '../../db/frame-writer.js';
import { ClickHouseClient } from '../../clickhouse/http-client.js';
import type { SessionRow } from '../../core/session-row.js';
import { isAckscopeError } from '../../core/errors.js';
import { wallClockNs } from '../../core/time.js';
import { threadMemory } from '../../core/thread-memory.js';
import { openLive, type CaptureStats, type LiveCapture } from '../../capture/native/index.js';
import { CaptureRecorder, type LiveFrameRows } from './recorder.js';
import { ClickHouseLiveRows } from './clickhouse-rows.js';
import { counterColumns } from '../../capture/frame-packer.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

const init = workerData as WorkerInit;
const port: MessagePort = parentPort ?? failNotWorker();
const post = (message: FromWorker) => port.postMessage(message);

run();

/** The store's connection of this worker: the session row's columns written by it (SQLite) or posted to the manager (ClickHouse). */
interface StoreHandle {
  rows(): LiveFrameRows;
  updateSession(fields: Partial<Record<keyof SessionRow, unknown>>): void;
  /** Resolves once every row handed to the store is stored (ClickHouse's queue). */
  settled(rows: LiveFrameRows): Promise<void>;
  close(): void;
}

function openStore(): StoreHandle {
  const target = init.rows;
  if (target.kind === 'sqlite') {
    const db: Db = openDatabase(target.dbPath, { migrate: false });
    return {
      rows: () => new FrameWriter(db, init.sessionId),
      updateSession: (fields) => {
        if (db.open) updateSession(db, init.sessionId, fields);
      },
      settled: async () => {},
      close: () => db.close(),
    };
  }
  const client = new ClickHouseClient(target.config);
  const toManager = (fields: Partial<Record<keyof SessionRow, unknown>>) => post({ type: 'session', fields });
  return {
    rows: () => new ClickHouseLiveRows(client, { sessionId: init.sessionId, host: target.host }, (counters) => toManager(counterColumns(counters))),
    updateSession: toManager,
    settled: (rows) => (rows as ClickHouseLiveRows).settled(),
    close: () => client.close(),
  };
}

function run(): void {
  const store = openStore();
  let rows: LiveFrameRows | undefined;
  let sink: CaptureRecorder | undefined;
  let failure: string | null = null;
  let ended = false;
  let flushTimer: NodeJS.Timeout | undefined;
  let statsTimer: NodeJS.Timeout | undefined;

  let capture: LiveCapture;
  try {
    capture = openLive(init.capture, {
      onBatch(records) {
        if (!sink || failure) return;
        try {
          sink.addBatch(records);
        } catch (err) {
          // SQLite or the file failed (disk full...): stop capturing, keep what is stored.
          failure = `writing captured frames failed: ${(err as Error).message}`;
          void capture.close();
        }
      },
      onError(err) {
        failure ??= err.message;
      },
      onEnd() {
        void finish();
      },
    });
  } catch (err) {
    store.close();
    post({
      type: 'open-failed',
      code: isAckscopeError(err) ? err.code : 'ACKSCOPE_ERR_CAPTURE_FAILED',
      message: (err as Error).message,
    });
    port.close();
    return;
  }

  try {
    rows = store.rows();
    sink = new CaptureRecorder(rows, init.captureFile, capture.linkType, capture.snaplen, init.capture.device);
  } catch (err) {
    failure = `cannot write the capture: ${(err as Error).message}`;
    void capture.close();
    return; // finish() runs from onEnd and reports the failure
  }
  post({ type: 'started', linkType: capture.linkType, snaplen: capture.snaplen });

  flushTimer = setInterval(() => {
    if (!sink || failure) return;
    try {
      sink.flush(wallClockNs()); // the kernel stamps frames with the same clock (CLOCK_REALTIME)
    } catch (err) {
      failure = `writing captured frames failed: ${(err as Error).message}`;
      void capture.close();
    }
  }, init.flushIntervalMs ?? 100);
  statsTimer = setInterval(() => {
    const stats = readStats(capture);
    recordStats(store, stats);
    post({ type: 'sample', memory: threadMemory(), queuedBatches: stats?.queuedBatches ?? null });
  }, init.statsIntervalMs ?? 1000);

  port.on('message', (message: ToWorker) => {
    if (message.type === 'stop') void capture.close();
  });

  /** Runs once, after the capture thread stopped and delivered its last batch. */
  async function finish(): Promise<void> {
    if (ended) return;
    ended = true;
    clearInterval(flushTimer);
    clearInterval(statsTimer);
    let counts = { frames: 0, tcp: 0 };
    if (sink && rows) {
      try {
        counts = sink.finish();
        await store.settled(rows);
      } catch (err) {
        failure ??= `writing captured frames failed: ${(err as Error).message}`;
        counts = sink.counts();
      }
    }
    const stats = readStats(capture);
    recordStats(store, stats);
    store.close();
    post({ type: 'ended', failure, counts, stats });
    port.close();
  }
}

function readStats(capture: LiveCapture): CaptureStats | null {
  try {
    return capture.stats();
  } catch {
    return null; // the handle went away before its counters could be read
  }
}

/** The counters last written, so an idle capture does not rewrite its row every second. */
let recorded: CaptureStats | null = null;

function recordStats(store: StoreHandle, stats: CaptureStats | null): void {
  if (!stats) return;
  if (
    recorded !== null &&
    recorded.received === stats.received &&
    recorded.dropped === stats.dropped &&
    recorded.ifDropped === stats.ifDropped
  ) {
    return; // unchanged: rewriting would bump updated_ns and invalidate the correlation cache
  }
  try {
    store.updateSession({
      pcap_received: stats.received,
      pcap_dropped: stats.dropped,
      pcap_if_dropped: stats.ifDropped,
    });
    recorded = { ...stats };
  } catch {
    // A busy or failing database: the next tick (or the end) writes the counters again,
    // and a database that stays broken fails the frame writes, which end the capture.
  }
}

function failNotWorker(): never {
  throw new Error('recording/live/worker: run me as a worker thread (recording/live/manager.ts starts it)');
}
