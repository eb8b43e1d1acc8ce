/**
 * The SQLite store (the default): the Store interface over the db/ functions, the
 * correlation worker (analysis/correlation-runner.ts) and the completion ingest worker
 * (recording/completion-ingest.ts), exactly as the routes called them before the seam.
 * Everything answers synchronously; the promises only give the interface its shape.
 */
import type { Db } from '../../db/connection.js';
import { createSession, deleteSession, getSession, listSessions, updateSession, type NewSession } from '../../db/sessions.js';
import { listFlows, listFrames, type FrameQuery } from '../../db/frames.js';
import { deleteCompletion, listCompletions, sessionTimeSpan, type CompletionFilter, type StoreResult } from '../../db/completions.js';
import { busiestFlowId, completionCounts, sequenceFrames, writeFrames } from '../../db/web.js';
import { getTraceStats, storeKernelWitnesses, storeTraceStats, type TraceStats } from '../../db/kernel-witness.js';
import type { SessionHost, SessionRow } from '../../core/session-row.js';
import { listSessionHosts, stateHostClockError } from '../../db/session-hosts.js';
import { hostname } from 'node:os';
import type { CompletionRow } from '../../core/completion.js';
import { CompletionPacker } from '../../core/completion-columns.js';
import { importCapture, recoverInterruptedImports, type ImportOptions } from '../../recording/import.js';
import { sqliteTraceRows } from '../../recording/trace.js';
import { CompletionIngest, type IngestUpload } from '../../recording/completion-ingest.js';
import { CorrelationRunner } from '../../analysis/correlation-runner.js';
import type { CompletionUpload, KernelWitnessRow, SessionCount, Store, StoreHealth, WebPageReads } from './store.js';
import type { RetentionStore } from '../retention.js';
import { deleteSessionInChunks, retentionCandidates, usedDatabaseBytes } from '../../db/retention.js';

export interface SqliteStoreOptions {
  correlationInWorker?: boolean;
  correlationNice?: number;
  ingestInWorker?: boolean;
  /** The one host of every row on SQLite (ACKSCOPE_STORE_HOST, default the machine's name): how `hosts` lists it. */
  host?: string;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly correlations: CorrelationRunner;
  readonly completionIngest: CompletionIngest;
  readonly webPage: WebPageReads;
  readonly host: string;

  constructor(
    readonly db: Db,
    options: SqliteStoreOptions = {},
  ) {
    this.host = options.host ?? hostname();
    this.correlations = new CorrelationRunner(db, { inWorker: options.correlationInWorker, nice: options.correlationNice });
    this.completionIngest = new CompletionIngest(db, { inWorker: options.ingestInWorker });
    // db/web.ts as the page's routes called it before the seam
    this.webPage = {
      completionCounts: async (ids) => completionCounts(db, ids),
      flowCounts: async (sessionId) => ({
        flows: Number((db.prepare('SELECT count(*) FROM flows WHERE session_id = ?').pluck().get(sessionId) as number | bigint) ?? 0),
        busiestFlowId: busiestFlowId(db, sessionId),
      }),
      eachSequenceFrame: async (sessionId, flowId, baseNs, visit) => {
        for (const frame of sequenceFrames(db, sessionId, flowId, baseNs)) visit(frame);
      },
      writeFrames: async (sessionId, flowId, dir, start, end) => writeFrames(db, sessionId, flowId, dir, start, end),
    };
  }

  async createSession(s: NewSession): Promise<SessionRow> {
    return createSession(this.db, s);
  }
  async getSession(id: number): Promise<SessionRow | undefined> {
    return getSession(this.db, id);
  }
  async listSessions(limit: number, beforeId?: number): Promise<SessionRow[]> {
    return listSessions(this.db, limit, beforeId);
  }
  async updateSession(id: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void> {
    updateSession(this.db, id, fields);
  }
  async deleteSession(id: number): Promise<void> {
    deleteSession(this.db, id);
  }
  async sessionCounts(): Promise<SessionCount[]> {
    const rows = this.db.prepare('SELECT state, kind, count(*) AS n FROM sessions GROUP BY state, kind').all() as {
      state: string;
      kind: string;
      n: number | bigint;
    }[];
    return rows.map((r) => ({ state: r.state, kind: r.kind, n: Number(r.n) }));
  }

  async stateHostClockError(sessionId: number, host: string, clockErrorNs: bigint): Promise<void> {
    stateHostClockError(this.db, sessionId, host, clockErrorNs);
  }
  async listSessionHosts(sessionId: number): Promise<SessionHost[]> {
    return listSessionHosts(this.db, sessionId, this.host);
  }

  async listFlows(sessionId: number, limit: number, afterId: number) {
    return listFlows(this.db, sessionId, limit, afterId);
  }
  async listFrames(sessionId: number, q: FrameQuery) {
    return listFrames(this.db, sessionId, q);
  }

  async claimImport(sessionId: number): Promise<boolean> {
    return this.db.prepare("UPDATE sessions SET state = 'capturing' WHERE id = ? AND state = 'created'").run(sessionId).changes > 0;
  }
  importCapture(sessionId: number, chunks: AsyncIterable<Uint8Array>, options: ImportOptions) {
    return importCapture(this.db, sessionId, chunks, options);
  }
  async finishImport(sessionId: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void> {
    updateSession(this.db, sessionId, fields);
  }
  async abortImport(sessionId: number): Promise<void> {
    updateSession(this.db, sessionId, { state: 'created' });
  }
  async recoverInterruptedImports(sessionDir: (id: number) => string): Promise<number[]> {
    return recoverInterruptedImports(this.db, sessionDir);
  }
  retention(): RetentionStore {
    return {
      candidates: async () => retentionCandidates(this.db),
      // frames a chunk per transaction, each IMMEDIATE (db/retention.ts)
      deleteIdle: (id) => deleteSessionInChunks(this.db, id),
      usedBytes: async () => usedDatabaseBytes(this.db),
    };
  }

  /**
   * Records are packed in batches and handed to the ingest worker as the body arrives;
   * an upload smaller than one batch (4096 records) never goes to the worker: it is
   * stored on this thread at commit (a few milliseconds of SQLite).
   */
  openUpload(sessionId: number): CompletionUpload {
    const ingest = this.completionIngest;
    const packer = new CompletionPacker();
    // opened with the first full batch
    let upload: IngestUpload | null = null;
    return {
      add(row: CompletionRow) {
        const full = packer.add(row);
        if (full) (upload ??= ingest.open(sessionId)).add(full);
      },
      get busy() {
        return upload?.busy ?? false;
      },
      room: () => upload?.room() ?? Promise.resolve(),
      async commit(): Promise<StoreResult> {
        const last = packer.end();
        upload ??= ingest.open(sessionId, true);
        if (last) upload.add(last);
        return upload.commit();
      },
      discard: () => upload?.discard(),
    };
  }
  async listCompletions(sessionId: number, filter: CompletionFilter, limit: number, afterId: number) {
    return listCompletions(this.db, sessionId, filter, limit, afterId);
  }
  async deleteCompletion(sessionId: number, completionId: number): Promise<boolean> {
    return deleteCompletion(this.db, sessionId, completionId);
  }
  async sessionTimeSpan(session: SessionRow) {
    return sessionTimeSpan(this.db, session);
  }

  /** One transaction (db/kernel-witness.ts; it moves updated_ns, so a cached correlation is recomputed). */
  async storeKernelWitnesses(sessionId: number, rows: readonly KernelWitnessRow[]): Promise<number> {
    return storeKernelWitnesses(this.db, sessionId, rows);
  }
  async storeTraced(sessionId: number, completions: readonly CompletionRow[], firstIndex: number, witnesses: readonly KernelWitnessRow[]): Promise<void> {
    return sqliteTraceRows(this.db).storeTraced(sessionId, completions, firstIndex, witnesses);
  }
  async storeTraceStats(sessionId: number, stats: TraceStats): Promise<void> {
    storeTraceStats(this.db, sessionId, stats);
  }
  async getTraceStats(sessionId: number): Promise<TraceStats | null> {
    return getTraceStats(this.db, sessionId);
  }

  async health(): Promise<StoreHealth> {
    try {
      this.db.prepare('SELECT 1').get();
      return { store: 'sqlite', ok: true };
    } catch (err) {
      return { store: 'sqlite', ok: false, error: { code: 'ACKSCOPE_ERR_INTERNAL', message: (err as Error).message } };
    }
  }

  async close(): Promise<void> {
    await this.correlations.close();
    await this.completionIngest.close();
    this.db.close();
  }
}
