/**
 * Answers the correlation questions of the service (protocol: correlation-protocol.ts)
 * from one database connection: in the correlation worker on its own read-only
 * connection, or on the service's thread when there is no file a worker could open
 * (an in-memory database) or the worker is switched off.
 */
import type { Db } from '../db/connection.js';
import { correlateEach, currentCorrelation, getCorrelation, invalidateCorrelations, type SessionCorrelation } from './correlation.js';
import type { SessionSummaryData } from '../correlate/summary.js';
import { SessionSummaryFold, summariseHeld } from '../correlate/summary-stream.js';
import { inSubmissionOrder } from '../correlate/listing.js';
import type { CorrelationRecord } from '../correlate/types.js';
import type { CorrelationAnswers, CorrelationHead, ReplyBody, ToWorker } from './correlation-protocol.js';
import { ExportCursors } from './export-cursors.js';
import { flowRecordsOf, headOf, pageOf, recordOf } from './held-correlation.js';

/**
 * Records the cached correlations may hold together: a record takes ~540 bytes of heap
 * at a million (docs/design-notes.md, "Correlation speed"), so about 1 GiB. The cache of analysis/correlation.ts
 * keeps four sessions whatever their size; past this budget the least recently asked
 * are dropped first (the one just asked for always stays).
 */
export const CACHED_RECORDS_BUDGET = 2_000_000;

/** Streamed summaries kept (no records in them: a few kB each). */
const STREAMED_SUMMARIES = 4;

export class CorrelationDesk implements CorrelationAnswers {
  private runs = 0;
  /** Sessions this desk correlated, least recently asked first, with their record counts. */
  private readonly held = new Map<number, number>();
  private readonly seen = new WeakSet<SessionCorrelation>();
  /** Summaries live as long as the correlation they were made from. */
  private readonly summaries = new WeakMap<SessionCorrelation, SessionSummaryData>();
  private readonly submissionOrder = new WeakMap<SessionCorrelation, CorrelationRecord[]>();
  private readonly exports = new ExportCursors();
  /** The last streamed summary of each capturing session, served again while its fingerprint holds. */
  private readonly streamedSummaries = new Map<number, { head: CorrelationHead; summary: SessionSummaryData }>();

  constructor(
    private readonly db: Db,
    private readonly recordsBudget = CACHED_RECORDS_BUDGET,
  ) {}

  /** The session's correlation, counting a fresh result as a run. */
  private correlation(sessionId: number): SessionCorrelation {
    const c = getCorrelation(this.db, sessionId);
    if (!this.seen.has(c)) {
      this.seen.add(c);
      this.runs++;
    }
    this.held.delete(sessionId);
    this.held.set(sessionId, c.records.length);
    let total = 0;
    for (const n of this.held.values()) total += n;
    for (const [id, n] of this.held) {
      if (total <= this.recordsBudget || id === sessionId) break;
      invalidateCorrelations(this.db, id);
      this.held.delete(id);
      total -= n;
    }
    return c;
  }

  /**
   * The summary of a session still capturing, folded as its records are made and never
   * holding them (correlate/summary-stream.ts: counts exact, percentiles from fixed-size
   * sketches within 0.5 %, so what a run holds does not grow with the session), unless a
   * current full correlation is cached; undefined for any other session. Why only while capturing: a live session
   * changes between two summaries, so its full correlation would be thrown away at the
   * next read (the soak reads one every 250 ms of a session growing by ~5 000
   * completions/s, docs/operations.md) and held only to be summarised; a finished one no
   * longer changes, and its correlation serves the listing, the exports and the page too.
   */
  private summaryOfCapturing(sessionId: number): { head: CorrelationHead; summary: SessionSummaryData } | undefined {
    const now = currentCorrelation(this.db, sessionId);
    if (now.session.state !== 'capturing' || now.cached) return undefined;
    const last = this.streamedSummaries.get(sessionId);
    this.streamedSummaries.delete(sessionId); // re-inserted below: most recently used last
    if (last?.head.fingerprint === now.fingerprint) {
      this.streamedSummaries.set(sessionId, last);
      return last;
    }
    // the stale full correlation, if any, would only be recomputed: let it go first
    invalidateCorrelations(this.db, sessionId);
    this.held.delete(sessionId);
    const fold = new SessionSummaryFold();
    const head = correlateEach(this.db, sessionId, (r) => fold.add(r));
    this.runs++;
    const fresh = { head, summary: fold.summary(head.flows, head.ordering) };
    this.streamedSummaries.set(sessionId, fresh);
    while (this.streamedSummaries.size > STREAMED_SUMMARIES) this.streamedSummaries.delete(this.streamedSummaries.keys().next().value as number);
    return fresh;
  }

  private inOrder(c: SessionCorrelation): CorrelationRecord[] {
    let sorted = this.submissionOrder.get(c);
    if (!sorted) this.submissionOrder.set(c, (sorted = inSubmissionOrder(c.records)));
    return sorted;
  }

  answer(m: ToWorker): ReplyBody {
    switch (m.type) {
      case 'summary': {
        const streamed = this.summaryOfCapturing(m.sessionId);
        if (streamed) return { type: 'summary', ...streamed };
        const c = this.correlation(m.sessionId);
        let summary = this.summaries.get(c);
        if (!summary) this.summaries.set(c, (summary = summariseHeld(c.records, c.flows, c.ordering)));
        return { type: 'summary', head: headOf(c), summary };
      }
      case 'page':
        return pageOf(this.correlation(m.sessionId), m);
      case 'flow-records':
        return flowRecordsOf(this.correlation(m.sessionId), m.flowId);
      case 'record':
        return recordOf(this.correlation(m.sessionId), m.completionId);
      case 'export-open': {
        const c = this.correlation(m.sessionId);
        const exportId = this.exports.add(c, m.kind, m.batchSize, () => this.inOrder(c));
        return { type: 'export-open', head: headOf(c), exportId, total: c.records.length };
      }
      case 'export-next':
        return { type: 'export-next', ...this.exports.next(m.exportId) };
      case 'export-close':
        this.exports.close(m.exportId);
        return { type: 'done' };
      case 'forget':
        invalidateCorrelations(this.db, m.sessionId ?? undefined);
        if (m.sessionId === null) {
          this.held.clear();
          this.streamedSummaries.clear();
        } else {
          this.held.delete(m.sessionId);
          this.streamedSummaries.delete(m.sessionId);
        }
        return { type: 'done' };
      case 'stats':
        return { type: 'stats', stats: { runs: this.runs, openExports: this.exports.size } };
    }
  }
}
