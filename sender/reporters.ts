import type { Db } from '../db/connection.js';
import { openDatabase } from '../db/connection.js';
import { storeCompletions } from '../db/completions.js';
import { getSession } from '../db/sessions.js';
import { AckscopeError } from '../service/errors.js';
import { parseCompletion } from '../service/schemas/completion.js';
import type { CompletionRecord, Reporter } from './record.js';
import { ServiceClient, serviceUrl } from './service-client.js';

/** Keeps every record in memory (tests, in-process experiments). */
export class MemoryReporter implements Reporter {
  readonly records: CompletionRecord[] = [];
  add(record: CompletionRecord): void {
    this.records.push(record);
  }
  async flush(): Promise<void> {}
}

/**
 * Posts records to the service in batches of NDJSON, one request at a time (so they
 * arrive in completion order). A batch goes out when `batchRecords` are waiting; the
 * rest on flush(). Posting runs on the sender's event loop, so batches are large: a
 * post every few thousand writes disturbs the measured writes least.
 */
export class ServiceReporter implements Reporter {
  private pending: CompletionRecord[] = [];
  private chain: Promise<void> = Promise.resolve();
  private firstError: unknown;
  posted = 0;
  stored = 0;
  duplicates = 0;

  constructor(
    readonly client: ServiceClient,
    readonly sessionId: number,
    readonly batchRecords = 10_000,
  ) {}

  add(record: CompletionRecord): void {
    this.pending.push(record);
    if (this.pending.length >= this.batchRecords) this.send();
  }

  private send(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.chain = this.chain.then(async () => {
      if (this.firstError) return;
      try {
        const result = await this.client.postCompletions(this.sessionId, batch);
        this.posted += result.received;
        this.stored += result.stored;
        this.duplicates += result.duplicates;
      } catch (err) {
        this.firstError = err;
      }
    });
  }

  async flush(): Promise<void> {
    this.send();
    await this.chain;
    if (this.firstError) throw this.firstError;
  }
}

/**
 * Stores records straight into a session of a local ackscope database (no service),
 * validated exactly as the API validates them. Batches are stored synchronously in one
 * transaction each.
 */
export class DatabaseReporter implements Reporter {
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
      throw new AckscopeError('ACKSCOPE_ERR_SESSION_NOT_FOUND', `session ${sessionId} does not exist in this database`, {
        id: sessionId,
      });
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

/** Where instrument() and runWorkload() send records. */
export type ReportTarget =
  | Reporter
  /** the service at `url` (default ACKSCOPE_URL, else http://127.0.0.1:7878), session `session` */
  | { url?: string; session: number; batchRecords?: number }
  /** a local database (an open connection or a file path), session `session` */
  | { db: Db | string; session: number; batchRecords?: number };

function isReporter(t: ReportTarget): t is Reporter {
  return typeof (t as Reporter).add === 'function' && typeof (t as Reporter).flush === 'function';
}

/** Builds the reporter for a target; `close` releases what it opened (a database file). */
export function reporterFor(target: ReportTarget): { reporter: Reporter; close: () => void } {
  if (isReporter(target)) return { reporter: target, close: () => {} };
  if ('db' in target) {
    const db = typeof target.db === 'string' ? openDatabase(target.db) : target.db;
    const opened = typeof target.db === 'string';
    return {
      reporter: new DatabaseReporter(db, target.session, target.batchRecords),
      close: () => {
        if (opened) db.close();
      },
    };
  }
  return {
    reporter: new ServiceReporter(new ServiceClient(serviceUrl(target.url)), target.session, target.batchRecords),
    close: () => {},
  };
}
