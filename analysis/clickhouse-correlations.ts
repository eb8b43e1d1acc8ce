/**
 * The correlation questions of the service (summaries, listing pages, a flow's records,
 * exports: the surface of analysis/correlation-runner.ts) answered from the ClickHouse
 * store: each session correlated by correlateSessionInClickHouse (set-based reads, the
 * same rules as SQLite's) and kept while its fingerprint holds, as the SQLite cache
 * does (analysis/correlation.ts: the four most recently asked sessions).
 *
 * On the service's own thread: the engine does the look-ups and the thread mostly
 * awaits HTTP answers; the rules' two runs (about 1-1.6 s per 100 k completions,
 * docs/scale-out.md) do hold the event loop. A worker thread for them, as SQLite has,
 * is not built yet.
 */
import { sessionNotFound } from '../core/errors.js';
import type { ThreadMemory } from '../core/thread-memory.js';
import { absoluteNs, relativeNs } from '../core/time.js';
import type { ClickHouseClient } from '../clickhouse/http-client.js';
import { readCompletionCount, readFrameBounds } from '../clickhouse/correlation-reads.js';
import { getStoredSession } from '../clickhouse/sessions.js';
import { correlationFingerprint } from '../correlate/inputs.js';
import { summariseSession, type SessionSummaryData } from '../correlate/summary.js';
import { filterRecords, inSubmissionOrder, page, sortRecords, type Cursor, type ListFilter, type SortKey } from '../correlate/listing.js';
import { traceEvents, type TraceEvent } from '../correlate/trace.js';
import type { CorrelationRecord } from '../correlate/types.js';
import { correlateSessionInClickHouse } from './clickhouse-correlation.js';
import type { CorrelationHead, SessionCorrelation } from './correlation.js';
import type { ExportKind, PageFilter, WorkerStats } from './correlation-protocol.js';

const CACHE_SESSIONS = 4;
const EXPORT_BATCH_ROWS = 1000;

function headOf(c: SessionCorrelation): CorrelationHead {
  const { records: _records, ...head } = c;
  delete (head as { store?: unknown }).store; // the ClickHouse run's own statistics: not part of a head
  return head;
}

export class ClickHouseCorrelations {
  /** Answered on this thread (the engine does the set-based work). */
  readonly inWorker = false;
  readonly workerMemory: ThreadMemory | null = null;
  private runs = 0;
  private openExports = 0;
  /** Least recently asked first. */
  private readonly cache = new Map<number, SessionCorrelation>();
  private readonly summaries = new WeakMap<SessionCorrelation, SessionSummaryData>();
  /** A session being correlated: a second asker shares the first's run. */
  private readonly running = new Map<number, Promise<SessionCorrelation>>();

  constructor(private readonly client: ClickHouseClient) {}

  /** The session's correlation, recomputed only when its fingerprint changed (3 small queries to tell). */
  private async correlation(sessionId: number): Promise<SessionCorrelation> {
    // a deleted session's last version is skipped here (readSession would return it)
    const session = await getStoredSession(this.client, sessionId);
    if (!session) throw sessionNotFound(sessionId);
    const [bounds, counts] = await Promise.all([readFrameBounds(this.client, sessionId), readCompletionCount(this.client, sessionId)]);
    const fingerprint = correlationFingerprint(session, bounds.maxFrameNo, counts.count, counts.maxId);
    const cached = this.cache.get(sessionId);
    this.cache.delete(sessionId);
    if (cached?.fingerprint === fingerprint) {
      this.cache.set(sessionId, cached);
      return cached;
    }
    let run = this.running.get(sessionId);
    if (!run) {
      run = correlateSessionInClickHouse(this.client, sessionId);
      this.running.set(sessionId, run);
      run.then(
        () => this.running.delete(sessionId),
        () => this.running.delete(sessionId),
      );
      this.runs++;
    }
    const fresh = await run;
    this.cache.set(sessionId, fresh);
    while (this.cache.size > CACHE_SESSIONS) this.cache.delete(this.cache.keys().next().value as number);
    return fresh;
  }

  async summary(sessionId: number): Promise<{ head: CorrelationHead; summary: SessionSummaryData }> {
    const c = await this.correlation(sessionId);
    let summary = this.summaries.get(c);
    if (!summary) this.summaries.set(c, (summary = summariseSession(c.records, c.flows, c.ordering)));
    return { head: headOf(c), summary };
  }

  async page(
    sessionId: number,
    query: { filter: PageFilter; key: SortKey; order: 'asc' | 'desc'; limit: number; after: Cursor | null },
  ): Promise<{ head: CorrelationHead; items: CorrelationRecord[]; next: Cursor | null }> {
    const c = await this.correlation(sessionId);
    const { fromEpochNs, toEpochNs, ...rest } = query.filter;
    const filter: ListFilter = {
      ...rest,
      fromNs: fromEpochNs === undefined ? undefined : relativeNs(c, fromEpochNs),
      toNs: toEpochNs === undefined ? undefined : relativeNs(c, toEpochNs),
    };
    const { items, next } = page(sortRecords(filterRecords(c.records, filter), query.key, query.order), query.key, query.order, query.limit, query.after);
    return { head: headOf(c), items, next };
  }

  async flowRecords(sessionId: number, flowId: number | null): Promise<{ head: CorrelationHead; records: CorrelationRecord[] }> {
    const c = await this.correlation(sessionId);
    return { head: headOf(c), records: c.records.filter((r) => r.flowId === flowId) };
  }

  async record(sessionId: number, completionId: number): Promise<{ head: CorrelationHead; record: CorrelationRecord | null }> {
    const c = await this.correlation(sessionId);
    return { head: headOf(c), record: c.records.find((r) => r.completionId === completionId) ?? null };
  }

  async openExport(
    sessionId: number,
    kind: ExportKind,
    batchSize = EXPORT_BATCH_ROWS,
  ): Promise<{ head: CorrelationHead; total: number; batches: AsyncGenerator<{ records: CorrelationRecord[]; events: TraceEvent[] }> }> {
    const c = await this.correlation(sessionId);
    const self = this;
    async function* batches(): AsyncGenerator<{ records: CorrelationRecord[]; events: TraceEvent[] }> {
      self.openExports++;
      try {
        if (kind === 'records') {
          const records = inSubmissionOrder(c.records);
          for (let i = 0; i < records.length; i += batchSize) yield { records: records.slice(i, i + batchSize), events: [] };
          if (records.length === 0) yield { records: [], events: [] };
          return;
        }
        const events = traceEvents(
          c.records,
          c.flows.map((f) => ({ id: f.id, label: `flow ${f.id}: ${f.aAddr}:${f.aPort} <-> ${f.bAddr}:${f.bPort}` })),
          (rel) => absoluteNs(c, rel),
        );
        let batch: TraceEvent[] = [];
        // trace events are about three per write: a batch of them is about a batch of writes
        for (const e of events) {
          batch.push(e);
          if (batch.length >= batchSize * 3) {
            yield { records: [], events: batch };
            batch = [];
          }
        }
        yield { records: [], events: batch };
      } finally {
        self.openExports--;
      }
    }
    return { head: headOf(c), total: c.records.length, batches: batches() };
  }

  async forget(sessionId: number | null): Promise<void> {
    if (sessionId === null) this.cache.clear();
    else this.cache.delete(sessionId);
  }

  async stats(): Promise<WorkerStats> {
    return { runs: this.runs, openExports: this.openExports };
  }

  async close(): Promise<void> {
    this.cache.clear();
  }
}
