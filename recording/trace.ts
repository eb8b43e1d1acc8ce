/**
 * The service's side of the kernel tracer: a live session that traces a PID (or a cgroup)
 * while it captures. Records and kernel witnesses are stored every second while the
 * program runs; the trace ends when the process ends, when the session is stopped or
 * deleted, and when the service closes. What the tracer said about itself (lost events,
 * uncovered sends, missing moments) is stored with the session.
 */
import { parseCompletion, type CompletionRecord } from '../core/completion.js';
import { AckscopeError } from '../core/errors.js';
import { parseKernelWitness } from '../core/kernel-witness.js';
import type { Db } from '../db/connection.js';
import { storeCompletions } from '../db/completions.js';
import { storeKernelWitnesses, storeTraceStats } from '../db/kernel-witness.js';
import { existsSync } from 'node:fs';
import { startTrace, TraceFeed, TracerError, traceStats, type TraceRun, type TraceTarget } from '../tracer/index.js';
import type { CaptureLog } from './live/manager.js';

const STORE_EVERY_MS = 1000;

interface RunningTrace {
  run: TraceRun;
  ended: Promise<void>;
}

export class TraceManager {
  private readonly running = new Map<number, RunningTrace>();

  constructor(private readonly o: { db: Db; log: CaptureLog }) {}

  isTracing(sessionId: number): boolean {
    return this.running.has(sessionId);
  }

  /** Starts tracing `target` into the session; throws a TracerError when the tracer cannot start. */
  start(sessionId: number, target: Exclude<TraceTarget, { command: readonly string[] }>): void {
    if (this.running.has(sessionId)) {
      throw new AckscopeError('ACKSCOPE_ERR_SESSION_STATE', `session ${sessionId} is already tracing`, { id: sessionId });
    }
    if ('pid' in target && !existsSync(`/proc/${target.pid}`)) {
      throw new TracerError('ACKSCOPE_ERR_TRACER_NO_PID', `no process with pid ${target.pid}`, { pid: target.pid });
    }
    const run = startTrace(target, { commandStdio: 'ignore' });
    const feed = new TraceFeed();
    const label = 'pid' in target ? `pid ${target.pid}` : `cgroup ${target.cgroup}`;
    let stored = 0;
    const store = () => {
      const taken = feed.take();
      const rows = taken.records.map((r, i) => parseCompletion(r as unknown as CompletionRecord, stored + i));
      this.o.db.transaction(() => {
        storeCompletions(this.o.db, sessionId, rows, stored);
        storeKernelWitnesses(this.o.db, sessionId, taken.witnesses.map((w, index) => parseKernelWitness(w, index)));
      })();
      stored += rows.length;
      return taken;
    };
    const timer = setInterval(() => {
      try {
        store();
      } catch (err) {
        this.o.log.warn({ sessionId, err }, 'storing traced sends failed');
      }
    }, STORE_EVERY_MS);
    const reading = (async () => {
      for await (const batch of run.batches) for (const e of batch) feed.add(e);
    })();
    const ended = (async () => {
      let exitCode: number | null = null;
      try {
        const result = await run.done;
        exitCode = result.exit?.exitCode ?? null;
      } catch (err) {
        this.o.log.warn({ sessionId, err }, 'the tracer ended with an error');
      } finally {
        await reading.catch(() => undefined);
        clearInterval(timer);
        try {
          const last = store();
          storeTraceStats(this.o.db, sessionId, traceStats(last, label, exitCode));
        } catch (err) {
          this.o.log.warn({ sessionId, err }, 'storing the last traced sends failed');
        }
        this.running.delete(sessionId);
        this.o.log.info({ sessionId, target: label }, 'trace ended');
      }
    })();
    this.running.set(sessionId, { run, ended });
    this.o.log.info({ sessionId, target: label }, 'trace started');
  }

  /** Stops a session's trace (detaches the tracer; the traced process goes on) and waits for its last records. */
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
