/**
 * The correlation worker: a thread of its own that correlates sessions, keeps the
 * results and answers the service's questions about them, so a cold correlation of a
 * million completions never stalls the service's event loop.
 *
 * On SQLite (analysis/correlation-desk.ts) it opens the service's database file
 * read-only: WAL lets it read a consistent snapshot while the service (live captures,
 * imports, ingest) writes. Its answers are synchronous, so messages are answered one at
 * a time: a second request for a session being correlated waits for the first and then
 * finds the result in the cache, one run serves both. On ClickHouse
 * (analysis/clickhouse-correlation-desk.ts) it has a client of its own to the store; its
 * answers await the engine, and a second asker shares the first's run. An export is a
 * cursor over the cached result, advanced one batch per `export-next`, so other requests
 * are answered between two batches of a long export.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setPriority } from 'node:os';
import type { MessagePort } from 'node:worker_threads';
import { openDatabase } from '../db/connection.js';
import { isAckscopeError } from '../core/errors.js';
import { threadMemory } from '../core/thread-memory.js';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { CorrelationDesk } from './correlation-desk.js';
import { ClickHouseCorrelationDesk } from './clickhouse-correlation-desk.js';
import type { CorrelationAnswers, FromWorker, ToWorker, WorkerInit } from './correlation-protocol.js';

const init = workerData as WorkerInit;
// Linux keeps a nice value per thread: this one yields the CPU to the service's thread,
// so requests are answered first on a busy machine (on others, a no-op or refused). It
// yields to every other process as well: docs/design-notes.md has what that costs.
try {
  if (init.nice !== 0) setPriority(0, init.nice);
} catch {
  // not permitted or not supported: run at the service's priority
}
const port: MessagePort = parentPort ?? failNotWorker();
const desk: CorrelationAnswers =
  init.store.kind === 'sqlite'
    ? new CorrelationDesk(openDatabase(init.store.dbPath, { readonly: true, migrate: false }))
    : new ClickHouseCorrelationDesk(new ClickHouseClient(init.store.config));

port.on('message', (m: ToWorker) => {
  const reply = (r: FromWorker) => port.postMessage({ ...r, memory: threadMemory() } satisfies FromWorker);
  try {
    const body = desk.answer(m);
    if (body instanceof Promise) {
      body.then(
        (b) => reply({ id: m.id, ok: true, body: b }),
        (err: unknown) => reply({ id: m.id, ok: false, error: errorReply(err) }),
      );
    } else reply({ id: m.id, ok: true, body });
  } catch (err) {
    reply({ id: m.id, ok: false, error: errorReply(err) });
  }
});

function errorReply(err: unknown): Extract<FromWorker, { ok: false }>['error'] {
  if (isAckscopeError(err)) return { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) };
  const e = err as Error;
  return { code: 'ACKSCOPE_ERR_INTERNAL', message: `correlation worker: ${e.message}\n${e.stack ?? ''}` };
}

function failNotWorker(): never {
  throw new Error('analysis/correlation-worker.ts runs as a worker thread (analysis/correlation-runner.ts starts it)');
}
