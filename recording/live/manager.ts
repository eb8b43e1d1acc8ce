/**
 * The service's side of live capture: starts one worker thread per live session, keeps
 * the session's state (created → capturing → stopped, or failed with the reason), and
 * stops captures on request, on session delete and on service close. Frames already
 * captured by a capture that dies stay stored.
 *
 * Store-neutral: the session row through LiveSessions (the service's store), the frame
 * rows by the worker into the target it is given (protocol.ts LiveRowsTarget: SQLite's
 * file, or ClickHouse). A session's row is written by one chain of updates at a time
 * (its state, the counters a ClickHouse worker reports), in the order they came.
 *
 * On a store shared by hosts (LiveSessions.shared: ClickHouse) this manager runs this
 * host's capture of a session that other hosts' services may capture too, at the same
 * time, each with its own interface and filter: the updates go to this host's own capture
 * row (the session is what its hosts' captures sum to), a host captures a session once,
 * stops only its own capture, and after a crash fails only its own.
 */
import { Worker } from 'node:worker_threads';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SessionRow } from '../../core/session-row.js';
import { wallClockNs } from '../../core/time.js';
import { AckscopeError, isAckscopeError, sessionNotFound } from '../../core/errors.js';
import { CAPTURE_FILE_NAME, INTERRUPTED } from '../import.js';
import { trimTornPcapng } from '../capture-file-repair.js';
import { pcapVersion } from '../../capture/native/index.js';
import { OWNER_FILE_NAME } from './live-sessions.js';
import type { CaptureSample, FrameCounts, FromWorker, LiveRowsTarget, ToWorker, WorkerInit } from './protocol.js';

/** The session rows the manager reads and writes: the service's store (SQLite or ClickHouse). */
export interface LiveSessions {
  get(id: number): Promise<SessionRow | undefined>;
  update(id: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void>;
  /**
   * Live sessions left `capturing` that this host may have been capturing: on SQLite
   * every one in the file; on a store shared by hosts, those whose folder on this host
   * holds a capture owner file (another host's captures are not this host's to fail).
   */
  capturingLive(): Promise<number[]>;
  /**
   * A store shared by hosts (ClickHouse): several hosts may capture into one live session,
   * each its own interface and filter, at the same time (docs/scale-out.md, "Many hosts,
   * one session"). `update` then writes this host's capture of the session (the session's
   * state and counters are what its hosts' captures sum to); `joinRefusal` says why this
   * host may not capture a session that is not `created` (null: it joins the other hosts').
   * Absent on SQLite: a session is captured once, by this host.
   */
  readonly shared?: {
    host: string;
    joinRefusal(row: SessionRow): Promise<string | null>;
    /** Removes every row left of a session deleted while this host captured it (written after the delete). */
    purgeDeleted(id: number): Promise<void>;
  };
}

/** This host's own interface and filter for its capture of a session (POST /sessions/:id/start's body; a shared store only). */
export interface CaptureChoice {
  interface?: string;
  filter?: string;
}

/**
 * Flush interval of a ClickHouse target, ms: every flush is one insert (one part) per
 * table with rows; ten a second would make the server merge parts all the time.
 */
const CLICKHOUSE_FLUSH_MS = 1000;

export interface CaptureManagerOptions {
  sessions: LiveSessions;
  rows: LiveRowsTarget;
  /** Data folder; capture files are stored relative to it in the sessions row. */
  dataDir: string;
  sessionDir(sessionId: number): string;
  log: CaptureLog;
  flushIntervalMs?: number;
  statsIntervalMs?: number;
}

/** The two log levels the manager uses (a pino or Fastify logger fits). */
export interface CaptureLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** How a capture ended, as the worker reported it. */
export interface CaptureEnd {
  failure: string | null;
  counts: FrameCounts;
}

interface Running {
  worker: Worker;
  /** Settles when the worker ended and the session row holds its final state. */
  ended: Promise<CaptureEnd>;
}

export type { CaptureSample };

/**
 * Starts the capture worker beside this module: worker.js in dist/ (production), or
 * worker.ts when ackscope runs from its TypeScript sources under tsx (tests). Node 20
 * does not apply the `--import tsx` hooks to a worker's entry module (tsx issue #354),
 * so in that case a two-line bootstrap registers tsx inside the worker first.
 */
function spawnWorker(init: WorkerInit): Worker {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const file = join(dirname(here), `worker${ext}`);
  if (ext !== '.ts') return new Worker(file, { workerData: init });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(pathToFileURL(file).href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}

export class CaptureManager {
  private readonly running = new Map<number, Running>();
  /** The last `sample` of each running capture's worker. */
  private readonly lastSamples = new Map<number, CaptureSample>();
  private readonly starting = new Set<number>();
  /** Per session: the tail of its row's updates (see the header). */
  private readonly updates = new Map<number, Promise<void>>();
  private closing = false;
  /** Settles once the sessions a dead process left capturing are marked failed (never rejects). */
  readonly recovered: Promise<void>;

  constructor(private readonly o: CaptureManagerOptions) {
    this.recovered = this.failOrphans().catch((err: unknown) => {
      this.o.log.warn({ err: (err as Error).message }, 'captures interrupted by the last stop could not be checked now');
    });
  }

  /**
   * Starts the session's capture. Resolves once libpcap is capturing (the session is
   * `capturing`); throws the worker's open error (bad interface or filter: 400,
   * permission: 403) with the session left `created`.
   */
  async start(sessionId: number, choice: CaptureChoice = {}): Promise<SessionRow> {
    await this.recovered;
    const row = await this.requireSession(sessionId);
    if (row.kind !== 'live') {
      throw new AckscopeError('ACKSCOPE_ERR_SESSION_KIND', `session ${sessionId} is an import session; only live sessions capture`);
    }
    const shared = this.o.sessions.shared;
    const own = choice.interface !== undefined || choice.filter !== undefined;
    if (own && !shared) {
      throw new AckscopeError(
        'ACKSCOPE_ERR_VALIDATION',
        `body: a capture's own interface and filter are for several hosts capturing into one session (the ClickHouse store); this store captures the session's (${row.interface ?? 'none'})`,
      );
    }
    const refusal = !shared
      ? row.state !== 'created' || this.starting.has(sessionId) || this.running.has(sessionId)
        ? `session ${sessionId} is ${this.starting.has(sessionId) ? 'starting' : row.state}; a session captures once (create a new one to capture again)`
        : null
      : row.state === 'created' || this.starting.has(sessionId) || this.running.has(sessionId)
        ? null
        : await shared.joinRefusal(row);
    if (refusal !== null) throw new AckscopeError('ACKSCOPE_ERR_SESSION_STATE', refusal, { state: row.state });
    // after the store was asked (an await): two starts of one session on this host never both pass
    if (shared && (this.starting.has(sessionId) || this.running.has(sessionId))) {
      throw new AckscopeError(
        'ACKSCOPE_ERR_SESSION_STATE',
        `session ${sessionId} is ${this.starting.has(sessionId) ? 'starting' : 'capturing'} on this host (${shared.host}) already; a host captures a session once (other hosts may capture it beside this one)`,
        { state: row.state },
      );
    }
    const device = choice.interface ?? row.interface;
    const filter = choice.filter ?? row.filter;
    if (!device) {
      throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `session ${sessionId} has no interface to capture on`);
    }
    pcapVersion(); // throws ACKSCOPE_ERR_CAPTURE_UNAVAILABLE here, in the request, if the addon is missing

    this.starting.add(sessionId);
    try {
      const dir = this.o.sessionDir(sessionId);
      mkdirSync(dir, { recursive: true });
      const captureFile = join(dir, CAPTURE_FILE_NAME);
      const init: WorkerInit = {
        sessionId,
        rows: this.o.rows,
        captureFile,
        capture: {
          device,
          filter: filter ?? '',
          ...(row.snaplen !== null ? { snaplen: row.snaplen } : {}),
          ...(row.buffer_size !== null ? { bufferSize: row.buffer_size } : {}),
          immediate: row.immediate === 1,
        },
        flushIntervalMs: this.o.flushIntervalMs ?? (this.o.rows.kind === 'clickhouse' ? CLICKHOUSE_FLUSH_MS : undefined),
        statsIntervalMs: this.o.statsIntervalMs,
      };
      const worker = spawnWorker(init);
      // Followed from its first instant, so no message or exit can slip between the two waits.
      const run = { started: false };
      const ended = this.watch(sessionId, worker, run);
      const first = await this.firstMessage(worker);
      if (first.type === 'open-failed') {
        throw new AckscopeError(first.code, first.message, { interface: device, filter });
      }
      if (first.type === 'ended') {
        // Opened, then failed before it could run (e.g. the capture file could not be created).
        await this.recordEnd(sessionId, { failure: first.failure ?? 'capture ended at once', counts: first.counts });
        throw new AckscopeError('ACKSCOPE_ERR_CAPTURE_FAILED', `capture on ${device} failed: ${first.failure}`);
      }
      // the owner file first: a process killed right after the row says `capturing` has
      // left the file that lets the next start tell (failOrphans)
      writeFileSync(join(dir, OWNER_FILE_NAME), `${process.pid}\n`);
      try {
        await this.updateRow(sessionId, {
          state: 'capturing',
          started_ns: wallClockNs(),
          link_type: first.linkType,
          capture_file: relative(this.o.dataDir, captureFile),
          // a shared store keeps each host's own interface and filter with its capture
          ...(shared ? { interface: device, filter } : {}),
        });
      } catch (err) {
        // the store refused (ClickHouse unreachable): no capture without its session row
        worker.postMessage({ type: 'stop' } satisfies ToWorker);
        await ended;
        rmSync(join(dir, OWNER_FILE_NAME), { force: true });
        throw err;
      }
      run.started = true;
      this.running.set(sessionId, { worker, ended });
      if (this.closing) {
        // The service began closing while this capture opened: stop it like the others.
        await this.stop(sessionId);
        throw new AckscopeError('ACKSCOPE_ERR_SESSION_STATE', `the service is closing; session ${sessionId} was stopped`);
      }
      this.o.log.info({ sessionId, interface: device, filter, linkType: first.linkType }, 'capture started');
      return (await this.requireSession(sessionId));
    } finally {
      this.starting.delete(sessionId);
    }
  }

  /** Stops a running capture; resolves when every captured frame is stored and the session is final. */
  async stop(sessionId: number): Promise<SessionRow> {
    const running = this.running.get(sessionId);
    if (!running) {
      const row = await this.requireSession(sessionId);
      const shared = this.o.sessions.shared;
      if (shared && row.state === 'capturing') {
        throw new AckscopeError(
          'ACKSCOPE_ERR_SESSION_STATE',
          `session ${sessionId} is capturing on other hosts, not on this one (${shared.host}); each host stops its own capture`,
          { state: row.state },
        );
      }
      throw new AckscopeError('ACKSCOPE_ERR_SESSION_STATE', `session ${sessionId} is ${row.state}, not capturing`, {
        state: row.state,
      });
    }
    running.worker.postMessage({ type: 'stop' } satisfies ToWorker);
    await running.ended;
    return this.requireSession(sessionId);
  }

  /** The sessions whose capture runs now. */
  runningSessions(): number[] {
    return [...this.running.keys()];
  }

  /** The last sample (worker memory, queued batches) of every capture running now, by session. */
  samples(): Map<number, CaptureSample> {
    return new Map([...this.lastSamples].filter(([id]) => this.running.has(id)));
  }

  /** Stops the capture of a session if it runs (session delete). */
  async stopIfCapturing(sessionId: number): Promise<void> {
    if (this.running.has(sessionId)) await this.stop(sessionId);
  }

  /** Stops every capture (service close). */
  async stopAll(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.running.keys()].map((id) => this.stop(id).catch(() => undefined)));
  }

  private async requireSession(sessionId: number): Promise<SessionRow> {
    const row = await this.o.sessions.get(sessionId);
    if (!row) throw sessionNotFound(sessionId);
    return row;
  }

  /** Runs a write of the session's row after the ones before it; resolves (or rejects) with it. */
  private updateRow(sessionId: number, fields: Partial<Record<keyof SessionRow, unknown>>): Promise<void> {
    return this.chain(sessionId, () => this.o.sessions.update(sessionId, fields));
  }

  private chain(sessionId: number, task: () => Promise<void>): Promise<void> {
    const next = (this.updates.get(sessionId) ?? Promise.resolve()).then(task);
    const tail = next.catch(() => undefined);
    this.updates.set(sessionId, tail);
    void tail.then(() => {
      if (this.updates.get(sessionId) === tail) this.updates.delete(sessionId);
    });
    return next;
  }

  /** The worker's first word: started, open-failed, or an early end; a crash becomes open-failed. */
  private firstMessage(worker: Worker): Promise<Exclude<FromWorker, { type: 'sample' } | { type: 'session' }>> {
    return new Promise((resolve) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'sample' || m.type === 'session') return; // posted only once started; never first, but not an answer
        cleanup();
        resolve(m);
      };
      const onError = (err: Error) => {
        cleanup();
        resolve({ type: 'open-failed', code: 'ACKSCOPE_ERR_CAPTURE_FAILED', message: `capture worker failed: ${err.message}` });
      };
      const onExit = (code: number) => {
        cleanup();
        resolve({ type: 'open-failed', code: 'ACKSCOPE_ERR_CAPTURE_FAILED', message: `capture worker exited (code ${code}) before capturing` });
      };
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  /** Follows a worker to its end and, if its capture had started, records the session's final state. */
  private watch(sessionId: number, worker: Worker, run: { started: boolean }): Promise<CaptureEnd> {
    return new Promise((resolve) => {
      let end: CaptureEnd | undefined;
      let crash: string | undefined;
      let stopAsked = false; // the session was deleted on another host: this capture stops once
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ended') end = { failure: m.failure, counts: m.counts };
        if (m.type === 'sample') this.lastSamples.set(sessionId, { memory: m.memory, queuedBatches: m.queuedBatches });
        if (m.type === 'session') {
          this.updateRow(sessionId, m.fields).catch((err: unknown) => {
            if (this.o.sessions.shared && isAckscopeError(err) && err.code === 'ACKSCOPE_ERR_SESSION_NOT_FOUND') {
              // another host deleted the session while this host captured it: stop; the
              // capture's end removes what it wrote since (recordEnd)
              if (!stopAsked) {
                stopAsked = true;
                this.o.log.warn({ sessionId }, 'session deleted by another host while this host captured it: capture stopped');
                worker.postMessage({ type: 'stop' } satisfies ToWorker);
              }
              return;
            }
            // the next report (or the end) writes the counters again; the frames are stored
            this.o.log.warn({ sessionId, err: (err as Error).message }, 'the session row could not be updated');
          });
        }
      });
      worker.on('error', (err) => {
        crash = `capture worker failed: ${err.message}`;
      });
      worker.on('exit', (code) => {
        this.lastSamples.delete(sessionId);
        const final = end ?? { failure: crash ?? `capture worker exited (code ${code}) without finishing`, counts: { frames: 0, tcp: 0 } };
        if (!run.started) return resolve(final);
        this.running.delete(sessionId);
        this.recordEnd(sessionId, final).then(
          () => resolve(final),
          (err: unknown) => {
            this.o.log.warn({ sessionId, err: (err as Error).message }, 'the end of a capture could not be recorded in its session');
            resolve(final);
          },
        );
      });
    });
  }

  private async recordEnd(sessionId: number, end: CaptureEnd): Promise<void> {
    await this.chain(sessionId, async () => {
      // after the worker's last counters (queued before it exited)
      rmSync(join(this.o.sessionDir(sessionId), OWNER_FILE_NAME), { force: true });
      // gone (deleted, or the SQLite store closed under a closing service): nothing to record
      let unread = false;
      const row = await this.o.sessions.get(sessionId).catch(() => {
        unread = true;
        return undefined;
      });
      if (!row) {
        // deleted on another host of a shared store (read: not only unreachable): this
        // capture's rows written since, and its folder here, go too
        const shared = this.o.sessions.shared;
        if (shared && !unread) {
          rmSync(this.o.sessionDir(sessionId), { recursive: true, force: true });
          await shared.purgeDeleted(sessionId);
        }
        return;
      }
      await this.o.sessions.update(sessionId, {
        state: end.failure ? 'failed' : 'stopped',
        failure_reason: end.failure,
        stopped_ns: wallClockNs(),
      });
    });
    const log = { sessionId, frames: end.counts.frames, tcp: end.counts.tcp };
    if (end.failure) this.o.log.warn({ ...log, reason: end.failure }, 'capture failed');
    else this.o.log.info(log, 'capture stopped');
  }

  /**
   * A session whose capturing process is gone (killed, crashed) cannot be capturing:
   * mark it failed. Sessions another live process captures (a second service or an
   * experiment on the same database) are left alone: their owner file names a live pid.
   */
  private async failOrphans(): Promise<void> {
    // live only: an import left capturing is undone by recoverInterruptedImports (recording/import.ts)
    for (const id of await this.o.sessions.capturingLive()) {
      if (this.ownerAlive(id)) continue;
      rmSync(join(this.o.sessionDir(id), OWNER_FILE_NAME), { force: true });
      // a write torn by the kill would stop tshark at the last block: keep the whole ones
      const trimmed = trimTornPcapng(join(this.o.sessionDir(id), CAPTURE_FILE_NAME));
      this.o.log.warn({ sessionId: id, cutBytes: trimmed?.cutBytes ?? null }, 'capture interrupted: the service stopped while it ran');
      await this.updateRow(id, {
        state: 'failed',
        // docs/operations.md "Crash recovery": frames committed before the stop are kept
        failure_reason: INTERRUPTED,
        stopped_ns: wallClockNs(),
      });
    }
  }

  private ownerAlive(sessionId: number): boolean {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.o.sessionDir(sessionId), OWNER_FILE_NAME), 'utf8').trim());
    } catch {
      return false; // no owner file: the capture was never recorded as running here
    }
    if (!Number.isSafeInteger(pid) || pid <= 0) return false;
    try {
      process.kill(pid, 0); // signal 0: only asks whether the process exists
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by another user
    }
  }
}
