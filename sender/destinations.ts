import type { CompletionRecord, CompletionDestination } from '../core/completion.js';
import { ServiceClient, serviceUrl } from './service-client.js';

/** Keeps every record in memory (tests, in-process experiments). */
export class MemoryDestination implements CompletionDestination {
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
export class ServiceDestination implements CompletionDestination {
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

/** Where instrument() and runWorkload() send records. */
export type DestinationSpec =
  | CompletionDestination
  /** the service at `url` (default ACKSCOPE_URL, else DEFAULT_SERVICE_URL), session `session` */
  | { url?: string; session: number; batchRecords?: number }
  ;
// A local database is a destination too: db/completion-destination.ts (built by the caller,
// since the sender library does not depend on the store).

function isReporter(t: DestinationSpec): t is CompletionDestination {
  return typeof (t as CompletionDestination).add === 'function' && typeof (t as CompletionDestination).flush === 'function';
}

/** Builds the reporter for a target; `close` releases what it opened (a database file). */
export function destinationFor(target: DestinationSpec): { reporter: CompletionDestination; close: () => void } {
  if (isReporter(target)) return { reporter: target, close: () => {} };
  return {
    reporter: new ServiceDestination(new ServiceClient(serviceUrl(target.url)), target.session, target.batchRecords),
    close: () => {},
  };
}
