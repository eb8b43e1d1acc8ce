/**
 * The ingest worker: a thread of its own that stages posted completions as their
 * batches arrive and stores each upload at its end (db/completion-staging.ts), so the
 * service's thread only reads and validates the body (recording/completion-ingest.ts is
 * its other side). It has its own connection to the session database.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { openDatabase } from '../db/connection.js';
import { CompletionStaging } from '../db/completion-staging.js';
import { isAckscopeError } from '../core/errors.js';
import { threadMemory } from '../core/thread-memory.js';
import type { IngestFromWorker, IngestToWorker, IngestWorkerInit } from './completion-ingest.js';

const init = workerData as IngestWorkerInit;
const port: MessagePort = parentPort ?? failNotWorker();
const db = openDatabase(init.dbPath, { migrate: false });
// Staged rows of a large upload stay in memory up to this (KiB; the rest spills to a temp file).
db.pragma('temp_store = MEMORY');

/** Uploads being staged; a failed one keeps its error until commit reports it. */
const uploads = new Map<number, { staging: CompletionStaging; error: unknown }>();

port.on('message', (m: IngestToWorker) => {
  switch (m.type) {
    case 'begin':
      uploads.set(m.upload, { staging: new CompletionStaging(db, m.sessionId), error: null });
      return;
    case 'batch': {
      const u = uploads.get(m.upload);
      if (u && u.error === null) {
        try {
          u.staging.add(m.batch);
        } catch (err) {
          u.error = err;
        }
      }
      post({ type: 'staged', upload: m.upload });
      return;
    }
    case 'commit': {
      const u = uploads.get(m.upload);
      uploads.delete(m.upload);
      if (!u) return post({ type: 'done', upload: m.upload, ok: false, error: errorReply(new Error('unknown upload')) });
      try {
        if (u.error !== null) throw u.error;
        const result = u.staging.commit();
        // this thread's memory with every stored upload: /metrics shows it (bench/soak.ts reads it)
        post({ type: 'done', upload: m.upload, ok: true, result, memory: threadMemory() });
      } catch (err) {
        u.staging.discard();
        post({ type: 'done', upload: m.upload, ok: false, error: errorReply(err), memory: threadMemory() });
      }
      return;
    }
    case 'discard':
      uploads.get(m.upload)?.staging.discard();
      uploads.delete(m.upload);
      return;
  }
});

function post(m: IngestFromWorker): void {
  port.postMessage(m);
}

function errorReply(err: unknown): Extract<IngestFromWorker, { type: 'done'; ok: false }>['error'] {
  if (isAckscopeError(err)) return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) };
  const e = err as Error;
  return { code: 'ACKSCOPE_ERR_INTERNAL', message: `ingest worker: ${e.message}` };
}

function failNotWorker(): never {
  throw new Error('recording/completion-ingest-worker.ts runs as a worker thread (recording/completion-ingest.ts starts it)');
}
