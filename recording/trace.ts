/**
 * The service's side of the kernel tracer: a live session that traces a PID (or a cgroup,
 * or a command it starts: an experiment's command sender) while it captures. Records and
 * kernel witnesses are stored every second while the program runs; the trace ends when
 * the process ends (after the tracer's linger), when it is stopped, when the session is
 * deleted, and when the service closes. What the tracer said about itself (lost events,
 * uncovered sends, missing moments, the exit code) is stored with the session.
 */
import { parseCompletion, type CompletionRecord, type CompletionRow } from '../core/completion.js';
import { AckscopeError } from '../core/errors.js';
import { parseKernelWitness, type TraceStats } from '../core/kernel-witness.js';
import type { Db } from '../db/connection.js';
import { storeCompletions } from '../db/completions.js';
import { storeKernelWitnesses, storeTraceStats } from '../db/kernel-witness.js';
import { existsSync } from 'node:fs';
import { startTrace, TraceFeed, TracerError, traceStats, type ExitEvent, type TraceRun, type TraceTarget } from '../tracer/index.js';
import type { CaptureLog } from './live/manager.js';

const STORE_EVERY_MS = 1000;

interface RunningTrace {
  run: TraceRun;
  ended: Promise<TraceEnd>;
}

/** How a trace ended. */
export interface TraceEnd {
  /** The traced program's exit (its code, or the signal that killed it); null when it was still running or never started. */
  exit: ExitEvent | null;
  /** Completions stored. */
  calls: number;
  /** The tracer's own failure (it could not load, the command could not start…), or null. */
  error: TracerError | null;
  /** The tracer's stderr, where a command's own stderr goes too (the last 64 KiB at most). */
  stderr: string;
}

/** A trace under way: `exited` resolves when the traced program ends (or the trace does), `ended` once everything is stored. */
export interface TraceHandle {
  exited: Promise<ExitEvent | null>;
  ended: Promise<TraceEnd>;
}

export interface TraceStartOptions {
  /** How long the tracer keeps collecting late moments (ACKs) after the program ends; the tracer's default otherwise. */
  lingerMs?: number;
}

/**
 * Where a trace's rows go: the service's store (service/store/: SQLite or ClickHouse,
 * which implements this), or a SQLite file (sqliteTraceRows).
 */
export interface TraceRows {
  /** A batch of the tracer's completions (`firstIndex`: the first one's number, for messages), then their witnesses. */
  storeTraced(sessionId: number, completions: readonly CompletionRow[], firstIndex: number, witnesses: readonly ReturnType<typeof parseKernelWitness>[]): Promise<void>;
  storeTraceStats(sessionId: number, stats: TraceStats): Promise<void>;
}

/** A SQLite file's: each batch in one transaction. */
export function sqliteTraceRows(db: Db): TraceRows {
  return {
    async storeTraced(sessionId, completions, firstIndex, witnesses) {
      db.transaction(() => {
        storeCompletions(db, sessionId, completions, firstIndex);
        storeKernelWitnesses(db, sessionId, witnesses);
      }).immediate();
    },
    async storeTraceStats(sessionId, stats) {
      storeTraceStats(db, sessionId, stats);
    },
  };
}

export class TraceManager {
  private readonly running = new Map<number, RunningTrace>();
  private readonly rows: TraceRows;

  /** `rows`: where the rows go; without it, into `db`. */
  constructor(private readonly o: { db?: Db; rows?: TraceRows; log: CaptureLog }) {
    if (o.rows) this.rows = o.rows;
    else if (o.db) this.rows = sqliteTraceRows(o.db);
    else throw new Error('TraceManager needs rows or a db');
  }

  isTracing(sessionId: number): boolean {
    return this.running.has(sessionId);
  }

  /**
   * Starts tracing `target` into the session; throws a TracerError when the tracer cannot
   * start. A command's stdin and stdout are /dev/null; its stderr joins the tracer's.
   */
  start(sessionId: number, target: TraceTarget, options: TraceStartOptions = {}): TraceHandle {
    if (this.running.has(sessionId)) {
      throw new AckscopeError('ACKSCOPE_ERR_SESSION_STATE', `session ${sessionId} is already tracing`, { id: sessionId });
    }
    if ('pid' in target && !existsSync(`/proc/${target.pid}`)) {
      throw new TracerError('ACKSCOPE_ERR_TRACER_NO_PID', `no process with pid ${target.pid}`, { pid: target.pid });
    }
    const run = startTrace(target, { commandStdio: 'ignore', lingerMs: options.lingerMs });
    const feed = new TraceFeed();
    const label = 'pid' in target ? `pid ${target.pid}` : 'cgroup' in target ? `cgroup ${target.cgroup}` : target.command.join(' ').slice(0, 500);
    let exit: ExitEvent | null = null;
    let markExited: (e: ExitEvent | null) => void = () => {};
    const exited = new Promise<ExitEvent | null>((resolve) => (markExited = resolve));
    let stored = 0;
    // one batch at a time: a store that answers over HTTP may still be writing the last one
    let storing: Promise<unknown> = Promise.resolve();
    const store = () => {
      const next = storing.then(async () => {
        const taken = feed.take();
        const rows = taken.records.map((r, i) => parseCompletion(r as unknown as CompletionRecord, stored + i));
        await this.rows.storeTraced(sessionId, rows, stored, taken.witnesses.map((w, index) => parseKernelWitness(w, index)));
        stored += rows.length;
        return taken;
      });
      storing = next.catch(() => undefined);
      return next;
    };
    const timer = setInterval(() => {
      store().catch((err: unknown) => this.o.log.warn({ sessionId, err }, 'storing traced sends failed'));
    }, STORE_EVERY_MS);
    const reading = (async () => {
      for await (const batch of run.batches) {
        for (const e of batch) {
          feed.add(e);
          if (e.type === 'exit') {
            exit = e;
            markExited(e);
          }
        }
      }
    })();
    const ended = (async (): Promise<TraceEnd> => {
      let exitCode: number | null = null;
      let error: TracerError | null = null;
      let stderr = '';
      try {
        const result = await run.done;
        exitCode = result.exit?.exitCode ?? null;
        stderr = result.stderr;
      } catch (err) {
        this.o.log.warn({ sessionId, err }, 'the tracer ended with an error');
        error = err instanceof TracerError ? err : new TracerError('ACKSCOPE_ERR_TRACER_LOAD', String((err as Error).message ?? err));
        stderr = String((error.details as { stderr?: unknown } | undefined)?.stderr ?? '');
      } finally {
        await reading.catch(() => undefined);
        clearInterval(timer);
        try {
          const last = await store();
          await this.rows.storeTraceStats(sessionId, traceStats(last, label, exitCode));
        } catch (err) {
          this.o.log.warn({ sessionId, err }, 'storing the last traced sends failed');
        }
        this.running.delete(sessionId);
        markExited(exit);
        this.o.log.info({ sessionId, target: label }, 'trace ended');
      }
      return { exit, calls: stored, error, stderr };
    })();
    this.running.set(sessionId, { run, ended });
    this.o.log.info({ sessionId, target: label }, 'trace started');
    return { exited, ended };
  }

  /**
   * Stops a session's trace and waits for its last records. The tracer detaches; a PID
   * goes on, a command the tracer started gets the signal too.
   */
  async stop(sessionId: number): Promise<void> {
    const r = this.running.get(sessionId);
    if (!r) return;
    r.run.stop('SIGTERM');
    await r.ended;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running.keys()].map((id) => this.stop(id)));
  }
}
