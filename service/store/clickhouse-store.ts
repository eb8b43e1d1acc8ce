/**
 * The ClickHouse store (ACKSCOPE_STORE=clickhouse://…; docs/scale-out.md): the Store
 * interface over clickhouse/ (sessions, completions, flows and frames, health), the
 * import through recording/clickhouse-import.ts and the correlation in the correlation
 * worker (analysis/correlation-runner.ts with analysis/clickhouse-correlation-desk.ts).
 *
 * The schema is migrated on first use, not at start: a service whose store is down
 * starts, answers /healthz with 503 ACKSCOPE_ERR_STORE_UNREACHABLE, and migrates once
 * the store answers. Writes that allocate ids (a session, an upload's completions) claim
 * them first (clickhouse/id-claims.ts), so services on several hosts never take the same
 * id; within this service they are also serialised (no claim races its own sibling).
 */
import { AckscopeError, sessionNotFound } from '../../core/errors.js';
import type { SessionHost, SessionRow } from '../../core/session-row.js';
import { listStoredSessionHosts, writeHostClockError } from '../../clickhouse/session-hosts.js';
import { SESSION_IDS, claimIds } from '../../clickhouse/id-claims.js';
import { withUploadTurn } from '../../clickhouse/upload-turns.js';
import type { CompletionRow } from '../../core/completion.js';
import { wallClockNs, type SessionTimeSpan } from '../../core/time.js';
import { ClickHouseClient } from '../../clickhouse/http-client.js';
import type { ClickHouseStoreConfig } from '../../clickhouse/store-url.js';
import { migrateClickHouse } from '../../clickhouse/migrate.js';
import { clickhouseHealth, type ClickHouseHealth } from '../../clickhouse/health.js';
import { latestVersion, loadClickHouseMigrations } from '../../clickhouse/migrate.js';
import { hostLabel } from '../../clickhouse/store-url.js';
import { readFrameBounds } from '../../clickhouse/correlation-reads.js';
import {
  countStoredSessions,
  deleteRowsOfSession,
  deleteSessionNow,
  getStoredSession,
  listStoredSessions,
  newSessionRow,
  nextSessionId,
  updatedSessionRow,
  waitForMutations,
  writeSessionRow,
} from '../../clickhouse/sessions.js';
import {
  COMPLETION_FIELD_OF,
  completionTimes,
  deleteStoredCompletion,
  highestCompletionId,
  insertCompletions,
  listStoredCompletions,
  storedWithKeys,
} from '../../clickhouse/completions.js';
import { listStoredFlows, listStoredFrames, sessionCaptureHosts } from '../../clickhouse/frames.js';
import { checkSameRecord, type CompletionFilter, type StoredCompletion, type StoreResult } from '../../db/completions.js';
import type { NewSession } from '../../db/sessions.js';
import type { FlowRow, FrameQuery, FrameRow } from '../../db/frames.js';
import type { ImportOptions, ImportResult } from '../../recording/import.js';
import { dirname } from 'node:path';
import { importCaptureIntoClickHouse, recordImportJoin, recoverInterruptedClickHouseImports, releaseImportJoin } from '../../recording/clickhouse-import.js';
import { CorrelationRunner } from '../../analysis/correlation-runner.js';
import * as webReads from '../../clickhouse/web.js';
import { getTraceStats, storeKernelWitnesses, storeTraceStats } from '../../clickhouse/kernel-witness.js';
import type { TraceStats } from '../../core/kernel-witness.js';
import type { CompletionUpload, KernelWitnessRow, SessionCount, Store, StoreHealth, WebPageReads } from './store.js';
import type { RetentionStore } from '../retention.js';
import { isRunning, type RetentionCandidate } from '../../db/retention.js';
import type { SessionState } from '../../db/sessions.js';
import { literal, sql } from '../../clickhouse/sql.js';
import {
  CAPTURE_FIELDS,
  newLiveCapture,
  readLiveCaptures,
  updatedLiveCapture,
  writeLiveCapture,
  type LiveCaptureRow,
} from '../../clickhouse/live-captures.js';
import type { SharedLiveStore } from '../../recording/live/live-sessions.js';

/** Runs tasks of one key one after another (a service's own writes to one counter or session do not race each other). */
class Serial {
  private readonly tails = new Map<string, Promise<unknown>>();
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const next = before.then(task, task);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

const flowText = (r: { srcAddr: string; srcPort: number; dstAddr: string; dstPort: number }) => `${r.srcAddr} ${r.srcPort} ${r.dstAddr} ${r.dstPort}`;

/** A stored completion under SQLite's column names, as checkSameRecord (db/completions.ts) compares them. */
function byColumn(row: CompletionRow): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [column, field] of Object.entries(COMPLETION_FIELD_OF)) out[column] = row[field];
  return out;
}

/** A joining host's import counters added to what the session held (skip reasons summed per reason). */
function addedCounters(before: SessionRow, added: Partial<SessionRow>): Partial<SessionRow> {
  const out: Record<string, unknown> = { ...added };
  for (const [key, value] of Object.entries(added)) {
    const had = (before as unknown as Record<string, unknown>)[key];
    if (key === 'skip_reasons') {
      const reasons: Record<string, number> = had ? (JSON.parse(had as string) as Record<string, number>) : {};
      for (const [why, n] of Object.entries(value ? (JSON.parse(value as string) as Record<string, number>) : {})) reasons[why] = (reasons[why] ?? 0) + n;
      out[key] = JSON.stringify(reasons);
    } else if (key === 'link_type') {
      out[key] = had ?? value; // the first host's; each host's frames were decoded by their own
    } else if (typeof value === 'number' || typeof had === 'number') {
      out[key] = Number(had ?? 0) + Number(value ?? 0);
    }
  }
  return out as Partial<SessionRow>;
}

export class ClickHouseStore implements Store, SharedLiveStore {
  readonly kind = 'clickhouse' as const;
  readonly correlations: CorrelationRunner;
  readonly webPage: WebPageReads;
  private readonly serial = new Serial();
  private migrated: Promise<void> | null = null;
  /** Imports that join a session another host captured into: its row before, and where this host's ids start. */
  private readonly joining = new Map<number, { before: SessionRow; flowBase: number; frameBase: number; sessionDir?: string }>();
  /** This host's live captures running now: each one's last row (the next version starts from it). */
  private readonly liveCaptures = new Map<number, LiveCaptureRow>();

  constructor(
    readonly client: ClickHouseClient,
    /** Written with every row this service stores (ACKSCOPE_STORE_HOST). */
    readonly host: string,
    options: { correlationInWorker?: boolean; correlationNice?: number } = {},
  ) {
    this.correlations = new CorrelationRunner(client, { inWorker: options.correlationInWorker, nice: options.correlationNice });
    // clickhouse/web.ts, each after the schema is migrated (as every other read here)
    const ready = () => this.ready();
    this.webPage = {
      async completionCounts(ids) {
        await ready();
        return webReads.completionCounts(client, ids);
      },
      async flowCounts(sessionId) {
        await ready();
        return webReads.flowCounts(client, sessionId);
      },
      async eachSequenceFrame(sessionId, flowId, baseNs, visit) {
        await ready();
        await webReads.eachSequenceFrame(client, sessionId, flowId, baseNs, visit);
      },
      async writeFrames(sessionId, flowId, dir, start, end) {
        await ready();
        const found = await webReads.writeFrames(client, sessionId, flowId, dir, start, end);
        return { data: found.data as unknown as FrameRow[], ack: found.ack as unknown as FrameRow | null };
      },
    };
  }

  /** Migrates once the store answers; a failure is retried at the next call. */
  private ready(): Promise<void> {
    if (!this.migrated) {
      this.migrated = migrateClickHouse(this.client).then(
        () => undefined,
        (err: unknown) => {
          this.migrated = null;
          throw err;
        },
      );
    }
    return this.migrated;
  }

  private async session(id: number): Promise<SessionRow> {
    const row = await this.getSession(id);
    if (!row) throw sessionNotFound(id);
    return row;
  }

  async createSession(s: NewSession): Promise<SessionRow> {
    await this.ready();
    return this.serial.run('sessions', async () => {
      const id = await claimIds(this.client, SESSION_IDS, 1, this.host, async () => (await nextSessionId(this.client)) - 1);
      const row = newSessionRow(id, s);
      await writeSessionRow(this.client, row, this.host);
      return row;
    });
  }
  async getSession(id: number): Promise<SessionRow | undefined> {
    await this.ready();
    return getStoredSession(this.client, id);
  }
  async listSessions(limit: number, beforeId?: number): Promise<SessionRow[]> {
    await this.ready();
    return listStoredSessions(this.client, limit, beforeId);
  }
  async updateSession(id: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void> {
    await this.ready();
    await this.serial.run(`session ${id}`, async () => {
      await writeSessionRow(this.client, updatedSessionRow(await this.session(id), fields), this.host);
    });
  }
  async deleteSession(id: number): Promise<void> {
    await this.ready();
    await this.correlations.forget(id);
    await this.serial.run(`session ${id}`, async () => deleteSessionNow(this.client, await this.session(id), this.host));
  }
  /**
   * Retention on ClickHouse: the sessions' newest rows; a deletion is the session delete's
   * (its row marked deleted, the other tables' rows by mutations), waited for, so the bytes
   * counted next no longer hold it. The check that the session is idle and the delete run
   * in the session's turn across services (upload-turns.ts), which a capture's start takes
   * too.
   */
  retention(): RetentionStore {
    return {
      candidates: async () => {
        await this.ready();
        const all: RetentionCandidate[] = [];
        let beforeId: number | undefined;
        for (;;) {
          const page = await listStoredSessions(this.client, 1000, beforeId);
          for (const r of page) all.push({ id: r.id, name: r.name, state: r.state as SessionState, updatedNs: r.updated_ns });
          if (page.length < 1000) break;
          beforeId = page[page.length - 1].id;
        }
        return all.sort((a, b) => (a.updatedNs < b.updatedNs ? -1 : a.updatedNs > b.updatedNs ? 1 : a.id - b.id));
      },
      deleteIdle: async (id) => {
        await this.ready();
        // the check and the delete in the session's turn across services, as a capture's
        // start is (updateLiveCapture): a capture another host starts meanwhile is never lost
        const deleted = await this.serial.run(`session ${id}`, () =>
          withUploadTurn(this.client, id, this.host, async () => {
            const row = await this.getSession(id);
            if (!row || isRunning({ state: row.state as SessionState })) return false;
            await deleteSessionNow(this.client, row, this.host);
            return true;
          }),
        );
        if (!deleted) return false;
        await this.correlations.forget(id);
        await waitForMutations(this.client, `the rows of session ${id}`);
        return true;
      },
      usedBytes: async () => {
        await this.ready();
        let bytes = 0;
        for (let host = 0; host < this.client.hostCount; host++) {
          const [[b]] = await this.client.rows(
            sql`SELECT sum(bytes_on_disk) FROM system.parts WHERE database = ${literal(this.client.config.database, 'String')} AND active`,
            { host },
          );
          bytes += Number(b);
        }
        return bytes;
      },
    };
  }
  async sessionCounts(): Promise<SessionCount[]> {
    await this.ready();
    return countStoredSessions(this.client);
  }

  /** The host's row first, then the session's new version: a reader seeing the new fingerprint sees the new error. */
  async stateHostClockError(sessionId: number, host: string, clockErrorNs: bigint): Promise<void> {
    await this.ready();
    await this.serial.run(`session ${sessionId}`, async () => {
      const row = await this.session(sessionId);
      const next = updatedSessionRow(row, {});
      await writeHostClockError(this.client, sessionId, host, clockErrorNs, next.updated_ns);
      await writeSessionRow(this.client, next, this.host);
    });
  }
  async listSessionHosts(sessionId: number): Promise<SessionHost[]> {
    await this.ready();
    return listStoredSessionHosts(this.client, sessionId);
  }

  /** This host's capture of a session, as its newest row holds it (undefined: it never captured it). */
  private async ownLiveCapture(sessionId: number): Promise<LiveCaptureRow | undefined> {
    return (await readLiveCaptures(this.client, [sessionId])).get(sessionId)?.find((c) => c.host === this.host);
  }

  /**
   * A live session's capture on this host (many hosts, one session): its state, counters,
   * interface and filter in this host's own row (clickhouse/live-captures.ts), which no
   * other host writes, so hosts capturing at once never overwrite each other's figures;
   * readers sum the hosts' rows. The session's row gets the other columns (its capture
   * file), and a new version when this capture's state changes.
   */
  async updateLiveCapture(sessionId: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void> {
    await this.ready();
    // a capture's start (its row becoming `capturing`) in the session's turn across
    // services, as retention's idle check and delete are: one sees the other's outcome
    const write = async (): Promise<void> => {
      const row = await this.session(sessionId);
      const before =
        this.liveCaptures.get(sessionId) ??
        (await this.ownLiveCapture(sessionId)) ??
        newLiveCapture(sessionId, this.host, (fields.interface as string | undefined) ?? row.interface ?? '', (fields.filter as string | null | undefined) ?? row.filter);
      const next = updatedLiveCapture(before, fields, wallClockNs());
      await writeLiveCapture(this.client, next);
      if (next.state === 'capturing') this.liveCaptures.set(sessionId, next);
      else this.liveCaptures.delete(sessionId);
      const rest = Object.fromEntries(
        Object.entries(fields).filter(([k]) => !(CAPTURE_FIELDS as readonly string[]).includes(k) && k !== 'interface' && k !== 'filter'),
      );
      if (fields.state !== undefined || Object.keys(rest).length > 0) {
        // read after this host's row was written: the sum of every host's captures as they stand
        await writeSessionRow(this.client, updatedSessionRow(await this.session(sessionId), rest), this.host);
      }
    };
    await this.serial.run(`session ${sessionId}`, () =>
      fields.state === 'capturing' ? withUploadTurn(this.client, sessionId, this.host, write) : write(),
    );
  }
  async liveCaptureState(sessionId: number): Promise<string | null> {
    await this.ready();
    return (await this.ownLiveCapture(sessionId))?.state ?? null;
  }
  /**
   * A session another host deleted while this host captured it: the delete's mutations
   * ran then, so the rows this capture wrote after them are deleted now. Refused for a
   * session that exists.
   */
  async purgeDeletedSession(sessionId: number): Promise<void> {
    await this.ready();
    await this.serial.run(`session ${sessionId}`, async () => {
      if (await getStoredSession(this.client, sessionId)) {
        throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', `session ${sessionId} exists: its rows are not a deleted session's`);
      }
      this.liveCaptures.delete(sessionId);
      await deleteRowsOfSession(this.client, sessionId);
      await waitForMutations(this.client, `the rows of deleted session ${sessionId}`);
    });
  }
  async liveJoinRefusal(row: SessionRow): Promise<string | null> {
    await this.ready();
    const captures = (await readLiveCaptures(this.client, [row.id])).get(row.id) ?? [];
    const mine = captures.find((c) => c.host === this.host);
    if (mine) {
      return `session ${row.id} was captured by this host (${this.host}) already (its capture is ${mine.state}); a host captures a session once (create a new one to capture again)`;
    }
    if (captures.length === 0 || (row.state !== 'capturing' && row.state !== 'stopped')) {
      return `session ${row.id} is ${row.state}; a session captures once (create a new one to capture again)`;
    }
    return null; // other hosts capture it, or did: this host's capture joins theirs
  }

  async listFlows(sessionId: number, limit: number, afterId: number): Promise<FlowRow[]> {
    await this.ready();
    return (await listStoredFlows(this.client, sessionId, limit, afterId)) as unknown as FlowRow[];
  }
  async listFrames(sessionId: number, q: FrameQuery): Promise<FrameRow[]> {
    await this.ready();
    return (await listStoredFrames(this.client, sessionId, q)) as unknown as FrameRow[];
  }

  /**
   * A `created` session, as on SQLite; or a `stopped` import session holding frames of
   * other hosts and none of this one: this host's capture joins it (many hosts, one
   * session). The session row before the claim is kept to merge into, or go back to.
   */
  async claimImport(sessionId: number): Promise<boolean> {
    await this.ready();
    // the session's turn across services: two hosts claiming one session at the same
    // instant would both read it `created` (upload-turns.ts)
    return this.serial.run(`session ${sessionId}`, () => withUploadTurn(this.client, sessionId, this.host, async () => {
      const row = await this.session(sessionId);
      if (row.state === 'stopped' && row.kind === 'import') {
        const hosts = await sessionCaptureHosts(this.client, sessionId);
        if (hosts.framesByHost.size === 0 || hosts.framesByHost.has(this.host)) return false;
        this.joining.set(sessionId, { before: row, flowBase: hosts.maxFlowId, frameBase: hosts.maxFrameNo });
      } else if (row.state !== 'created') {
        return false;
      }
      await writeSessionRow(this.client, updatedSessionRow(row, { state: 'capturing' }), this.host);
      return true;
    }));
  }
  async importCapture(sessionId: number, chunks: AsyncIterable<Uint8Array>, options: ImportOptions & { sessionDir: string }): Promise<ImportResult> {
    await this.ready();
    const join = this.joining.get(sessionId);
    if (join) {
      // before the first row: an interrupted joining import must undo this host's rows only
      recordImportJoin(options.sessionDir, { flowBase: join.flowBase, frameBase: join.frameBase, stateBefore: join.before.state });
      join.sessionDir = options.sessionDir;
    }
    const { result, counters } = await importCaptureIntoClickHouse(this.client, sessionId, chunks, {
      ...options,
      host: this.host,
      flowBase: join?.flowBase ?? 0,
      frameBase: join?.frameBase ?? 0,
    });
    await this.updateSession(sessionId, join ? addedCounters(join.before, counters) : counters);
    return result;
  }
  async finishImport(sessionId: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void> {
    const join = this.joining.get(sessionId);
    this.joining.delete(sessionId);
    if (!join) return this.updateSession(sessionId, fields);
    if (join.sessionDir) releaseImportJoin(join.sessionDir);
    // the session spans every host's capture; the file facts stay the first host's
    const b = join.before;
    const min = (x: bigint | null, y: unknown) => (x === null ? (y as bigint | null) : y === null || y === undefined ? x : x < (y as bigint) ? x : (y as bigint));
    const max = (x: bigint | null, y: unknown) => (x === null ? (y as bigint | null) : y === null || y === undefined ? x : x > (y as bigint) ? x : (y as bigint));
    const sum = (x: number | null, y: unknown) => (x === null && (y === null || y === undefined) ? null : (x ?? 0) + Number(y ?? 0));
    await this.updateSession(sessionId, {
      state: fields.state,
      started_ns: min(b.started_ns, fields.started_ns),
      stopped_ns: max(b.stopped_ns, fields.stopped_ns),
      pcap_dropped: sum(b.pcap_dropped, fields.pcap_dropped),
      pcap_if_dropped: sum(b.pcap_if_dropped, fields.pcap_if_dropped),
    });
  }
  async abortImport(sessionId: number): Promise<void> {
    const join = this.joining.get(sessionId);
    this.joining.delete(sessionId);
    await this.updateSession(sessionId, join ? { state: join.before.state } : { state: 'created' });
    if (join?.sessionDir) releaseImportJoin(join.sessionDir);
  }
  /** Imports this host was running when its process died: undone (recording/clickhouse-import.ts). */
  async recoverInterruptedImports(sessionDir: (id: number) => string): Promise<number[]> {
    // the store is asked only when this host's folders show an import whose process is gone
    const sessions = { get: (id: number) => this.getSession(id), update: (id: number, fields: Partial<Record<keyof SessionRow, unknown>>) => this.updateSession(id, fields) };
    // every session's folder has the same parent: the one this host lists
    return recoverInterruptedClickHouseImports(this.client, sessions, dirname(sessionDir(1)), this.host);
  }

  /**
   * Records are kept until the body ended (ClickHouse has no transaction to stage them
   * in), then checked against the stored ones and inserted in one streamed insert.
   */
  openUpload(sessionId: number): CompletionUpload {
    let rows: CompletionRow[] = [];
    return {
      add: (row) => {
        rows.push(row);
      },
      busy: false,
      room: () => Promise.resolve(),
      commit: async () => {
        await this.ready();
        const upload = rows;
        rows = [];
        return this.serial.run(`completions ${sessionId}`, () => this.storeUpload(sessionId, upload));
      },
      discard: () => {
        rows = [];
      },
    };
  }

  /**
   * All or nothing, idempotent by (flow, writeId), a differing duplicate refused with 409:
   * storeCompletions' contract. Holds the session's upload turn across services
   * (upload-turns.ts) from the check to the insert.
   */
  private storeUpload(sessionId: number, rows: CompletionRow[]): Promise<StoreResult> {
    return withUploadTurn(this.client, sessionId, this.host, () => this.checkAndInsert(sessionId, rows));
  }

  private async checkAndInsert(sessionId: number, rows: CompletionRow[]): Promise<StoreResult> {
    const flows = new Map<string, CompletionRow>();
    let minWrite = Infinity;
    let maxWrite = -Infinity;
    for (const r of rows) {
      if (!flows.has(flowText(r))) flows.set(flowText(r), r);
      if (r.writeId < minWrite) minWrite = r.writeId;
      if (r.writeId > maxWrite) maxWrite = r.writeId;
    }
    const known = new Map<string, CompletionRow>();
    if (rows.length > 0) {
      for (const s of await storedWithKeys(this.client, sessionId, [...flows.values()], minWrite, maxWrite)) known.set(`${flowText(s)} ${s.writeId}`, s);
    }
    const fresh: CompletionRow[] = [];
    rows.forEach((row, index) => {
      const key = `${flowText(row)} ${row.writeId}`;
      const before = known.get(key);
      if (before) checkSameRecord(byColumn(before), row, index);
      else {
        known.set(key, row);
        fresh.push(row);
      }
    });
    if (fresh.length > 0) {
      const first = await claimIds(this.client, sessionId, fresh.length, this.host, () => highestCompletionId(this.client, sessionId));
      await insertCompletions(this.client, sessionId, this.host, first, fresh);
    }
    return { stored: fresh.length, duplicates: rows.length - fresh.length };
  }

  async listCompletions(sessionId: number, filter: CompletionFilter, limit: number, afterId: number): Promise<StoredCompletion[]> {
    await this.ready();
    return listStoredCompletions(this.client, sessionId, filter, limit, afterId);
  }
  async deleteCompletion(sessionId: number, completionId: number): Promise<boolean> {
    await this.ready();
    if (!(await deleteStoredCompletion(this.client, sessionId, completionId))) return false;
    await waitForMutations(this.client, `completion ${completionId} of session ${sessionId}`);
    // a new fingerprint, as SQLite's deleteCompletion bumps updated_ns
    await this.updateSession(sessionId, {});
    return true;
  }
  async sessionTimeSpan(session: SessionRow): Promise<SessionTimeSpan | null> {
    await this.ready();
    const bounds = await readFrameBounds(this.client, session.id);
    if (bounds.firstTs !== undefined && bounds.lastTs !== undefined) {
      const [a, b] = [bounds.firstTs, bounds.lastTs];
      return { startNs: a < b ? a : b, endNs: a < b ? b : a, from: 'capture' };
    }
    if (session.kind === 'live') {
      return { startNs: session.started_ns ?? session.created_ns, endNs: session.stopped_ns ?? wallClockNs(), from: 'live session' };
    }
    const times = await completionTimes(this.client, session.id);
    return times === null ? null : { startNs: times.lo, endNs: times.hi, from: 'completions' };
  }

  /**
   * Serialised with the session's uploads: a witness posted right after its completion
   * finds it. updated_ns bumped, so a cached correlation is recomputed with the witnesses.
   */
  async storeKernelWitnesses(sessionId: number, rows: readonly KernelWitnessRow[]): Promise<number> {
    await this.ready();
    const stored = await this.serial.run(`completions ${sessionId}`, () => storeKernelWitnesses(this.client, sessionId, this.host, rows));
    await this.updateSession(sessionId, {});
    return stored;
  }
  /** Not one transaction as on SQLite: the completions are stored first, then their witnesses (refused if a completion is missing). */
  async storeTraced(sessionId: number, completions: readonly CompletionRow[], _firstIndex: number, witnesses: readonly KernelWitnessRow[]): Promise<void> {
    await this.ready();
    await this.serial.run(`completions ${sessionId}`, async () => {
      if (completions.length > 0) await this.storeUpload(sessionId, [...completions]);
      await storeKernelWitnesses(this.client, sessionId, this.host, witnesses);
    });
    if (witnesses.length > 0) await this.updateSession(sessionId, {});
  }
  async storeTraceStats(sessionId: number, stats: TraceStats): Promise<void> {
    await this.ready();
    await storeTraceStats(this.client, sessionId, this.host, stats);
  }
  async getTraceStats(sessionId: number): Promise<TraceStats | null> {
    await this.ready();
    return getTraceStats(this.client, sessionId);
  }

  /**
   * Per host: reachable, ackscope's user accepted, schema current. Answers within the
   * connect timeout whatever the servers do: past it every host still unanswered is
   * reported unreachable.
   */
  async health(): Promise<StoreHealth> {
    const deadlineMs = this.client.config.connectTimeoutMs;
    const error = { code: 'ACKSCOPE_ERR_STORE_UNREACHABLE', message: `no answer within ${deadlineMs} ms` };
    const unanswered: ClickHouseHealth = {
      store: 'clickhouse',
      ok: false,
      database: this.client.config.database,
      cluster: this.client.config.cluster ?? null,
      latestVersion: latestVersion(loadClickHouseMigrations()),
      hosts: this.client.config.hosts.map((h) => ({ host: hostLabel(h), ok: false, schemaVersion: null, error })),
    };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<StoreHealth>((resolve) => {
      timer = setTimeout(() => resolve({ store: 'clickhouse', ok: false, error, clickhouse: unanswered }), deadlineMs);
    });
    const checked = (async (): Promise<StoreHealth> => {
      // not migrated yet (the store was down at start): migrate now, report its failure first
      const migrated = await this.ready().then(
        () => null,
        (err: unknown) => ({ code: err instanceof AckscopeError ? err.code : 'ACKSCOPE_ERR_INTERNAL', message: (err as Error).message }),
      );
      const health = await clickhouseHealth(this.client);
      const failed = migrated ?? health.hosts.find((h) => !h.ok)?.error;
      return { store: 'clickhouse', ok: health.ok && migrated === null, clickhouse: health, ...(failed ? { error: failed } : {}) };
    })();
    try {
      return await Promise.race([checked, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.correlations.close();
    this.client.close();
  }
}

export async function openClickHouseStore(
  config: ClickHouseStoreConfig,
  options: { host: string; correlationInWorker?: boolean; correlationNice?: number },
): Promise<ClickHouseStore> {
  return new ClickHouseStore(new ClickHouseClient(config), options.host, options);
}
