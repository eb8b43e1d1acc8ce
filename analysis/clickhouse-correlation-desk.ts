/**
 * The correlation questions of the service (summaries, listing pages, a flow's records,
 * exports: the messages of analysis/correlation-protocol.ts) answered from the ClickHouse
 * store, as analysis/correlation-desk.ts answers them from SQLite: each session
 * correlated by correlateSessionInClickHouse (set-based reads, the same rules as
 * SQLite's) and kept while its fingerprint holds (the four most recently asked sessions).
 *
 * It runs in the correlation worker (analysis/correlation-runner.ts starts it with the
 * store's connection settings): the engine does the look-ups, but the rules' two runs
 * over the records and the summary take about 1-1.6 s of CPU per 100 k completions
 * (docs/scale-out.md), which on the service's thread held every other request.
 */
import { sessionNotFound } from '../core/errors.js';
import type { ClickHouseClient } from '../clickhouse/http-client.js';
import { readCompletionCount, readFrameBounds } from '../clickhouse/correlation-reads.js';
import { getStoredSession } from '../clickhouse/sessions.js';
import { correlationFingerprint } from '../correlate/inputs.js';
import type { SessionSummaryData } from '../correlate/summary.js';
import { summariseHeld } from '../correlate/summary-stream.js';
import { inSubmissionOrder } from '../correlate/listing.js';
import { correlateSessionInClickHouse } from './clickhouse-correlation.js';
import type { SessionCorrelation } from './correlation.js';
import { ExportCursors } from './export-cursors.js';
import { flowRecordsOf, headOf, pageOf, recordOf } from './held-correlation.js';
import type { CorrelationAnswers, ReplyBody, ToWorker } from './correlation-protocol.js';

const CACHE_SESSIONS = 4;

export class ClickHouseCorrelationDesk implements CorrelationAnswers {
  private runs = 0;
  private readonly exports = new ExportCursors();
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

  async answer(m: ToWorker): Promise<ReplyBody> {
    switch (m.type) {
      case 'summary': {
        const c = await this.correlation(m.sessionId);
        let summary = this.summaries.get(c);
        if (!summary) this.summaries.set(c, (summary = summariseHeld(c.records, c.flows, c.ordering)));
        return { type: 'summary', head: headOf(c), summary };
      }
      case 'page':
        return pageOf(await this.correlation(m.sessionId), m);
      case 'flow-records':
        return flowRecordsOf(await this.correlation(m.sessionId), m.flowId);
      case 'record':
        return recordOf(await this.correlation(m.sessionId), m.completionId);
      case 'export-open': {
        const c = await this.correlation(m.sessionId);
        const exportId = this.exports.add(c, m.kind, m.batchSize, () => inSubmissionOrder(c.records));
        return { type: 'export-open', head: headOf(c), exportId, total: c.records.length };
      }
      case 'export-next':
        return { type: 'export-next', ...this.exports.next(m.exportId) };
      case 'export-close':
        this.exports.close(m.exportId);
        return { type: 'done' };
      case 'forget':
        if (m.sessionId === null) this.cache.clear();
        else this.cache.delete(m.sessionId);
        return { type: 'done' };
      case 'stats':
        return { type: 'stats', stats: { runs: this.runs, openExports: this.exports.size } };
    }
  }
}
