/**
 * The import's writer thread: writes each batch of frame rows the importing thread packed
 * (capture/frame-packer.ts) into SQLite on a connection of its own (db/frame-rows.ts),
 * in the order they come. recording/import-writer.ts is its other side.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { openDatabase } from '../db/connection.js';
import { FrameRowWriter } from '../db/frame-rows.js';
import { isAckscopeError } from '../core/errors.js';
import { threadCpuMs, IMPORT_CHECKPOINT_PAGES, type WriterFromThread, type WriterToThread, type WriterThreadInit } from './import-writer.js';

const init = workerData as WriterThreadInit;
const port: MessagePort = parentPort ?? failNotWorker();
/** Set by the importing thread when the import failed: batches still queued are not written. */
const aborted = new Int32Array(init.abort);
let failed = false;
let rows: FrameRowWriter | null = null;
const db = open();

port.on('message', (m: WriterToThread) => {
  if (m.type === 'close') {
    db?.close();
    port.close();
    return;
  }
  if (!failed && Atomics.load(aborted, 0) === 0) {
    try {
      rows!.write(m.batch);
    } catch (err) {
      failed = true;
      post({ type: 'failed', error: errorReply(err) });
    }
  }
  post({ type: 'written', final: m.final, cpuMs: m.final ? threadCpuMs() : 0 });
});

function open(): ReturnType<typeof openDatabase> | null {
  try {
    const conn = openDatabase(init.dbPath, { migrate: false });
    // this connection's own checkpoint threshold: recording/import.ts says why
    conn.pragma(`wal_autocheckpoint = ${IMPORT_CHECKPOINT_PAGES}`);
    rows = new FrameRowWriter(conn, init.sessionId, init.framesInSessionRow);
    return conn;
  } catch (err) {
    failed = true;
    post({ type: 'failed', error: errorReply(err) });
    return null;
  }
}

function post(m: WriterFromThread): void {
  port.postMessage(m);
}

function errorReply(err: unknown): Extract<WriterFromThread, { type: 'failed' }>['error'] {
  if (isAckscopeError(err)) return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) };
  const e = err as Error;
  return { code: 'ACKSCOPE_ERR_INTERNAL', message: `import writer thread: ${e.message}` };
}

function failNotWorker(): never {
  throw new Error('recording/import-writer-worker.ts runs as a worker thread (recording/import-writer.ts starts it)');
}
