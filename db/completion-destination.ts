import { parseCompletion, type CompletionDestination, type CompletionRecord } from '../core/completion.js';
import { sessionNotFound } from '../core/errors.js';
import { storeCompletions } from './completions.js';
import { openDatabase, type Db } from './connection.js';
import { getSession } from './sessions.js';

/**
 * Stores records straight into a session of a local ackscope database (no service),
 * validated exactly as the API validates them. Batches are stored synchronously in one
 * transaction each.
 */
export class DatabaseDestination implements CompletionDestination {
  private pending: CompletionRecord[] = [];
  private firstError: unknown;
  private storedSoFar = 0;
  private readonly addressCache = new Map<string, string>();
  stored = 0;
  duplicates = 0;

  constructor(
    readonly db: Db,
    readonly sessionId: number,
    readonly batchRecords = 10_000,
  ) {
    if (!getSession(db, sessionId)) {
      throw sessionNotFound(sessionId);
    }
  }

  add(record: CompletionRecord): void {
    this.pending.push(record);
    if (this.pending.length >= this.batchRecords) this.store();
  }

  private store(): void {
    if (this.firstError || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      const first = this.storedSoFar;
      const rows = batch.map((r, i) => parseCompletion(r, first + i, this.addressCache));
      const result = storeCompletions(this.db, this.sessionId, rows, first);
      this.stored += result.stored;
      this.duplicates += result.duplicates;
      this.storedSoFar += batch.length;
    } catch (err) {
      this.firstError = err;
    }
  }

  async flush(): Promise<void> {
    this.store();
    if (this.firstError) throw this.firstError;
  }
}

/** A destination into a database file (opened here, closed by `close()`) or an open connection. */
export function databaseDestination(db: Db | string, sessionId: number, batchRecords?: number): { destination: DatabaseDestination; close: () => void } {
  const conn = typeof db === 'string' ? openDatabase(db) : db;
  try {
    return { destination: new DatabaseDestination(conn, sessionId, batchRecords), close: () => (typeof db === 'string' ? conn.close() : undefined) };
  } catch (err) {
    if (typeof db === 'string') conn.close();
    throw err;
  }
}
