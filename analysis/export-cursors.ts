/**
 * The exports a correlation desk has open (analysis/correlation-desk.ts on SQLite,
 * analysis/clickhouse-correlation-desk.ts on ClickHouse): each a cursor over a held
 * correlation, read a batch per `export-next`, so other questions are answered between
 * two batches of a long export. An open export holds its correlation (not the cache)
 * until it is finished or closed.
 */
import { absoluteNs } from '../core/time.js';
import { traceEvents, type TraceEvent } from '../correlate/trace.js';
import type { CorrelationRecord } from '../correlate/types.js';
import type { SessionCorrelation } from './correlation.js';
import type { ExportKind } from './correlation-protocol.js';

interface OpenExport {
  batchSize: number;
  /** kind 'records': the records in submission order */
  records: CorrelationRecord[];
  position: number;
  /** kind 'trace': its events, made as they are read */
  events: Generator<TraceEvent> | null;
}

export interface ExportBatch {
  records: CorrelationRecord[];
  events: TraceEvent[];
  done: boolean;
}

export class ExportCursors {
  private nextId = 1;
  private readonly open = new Map<number, OpenExport>();

  /** Opens an export of `c`; `inSubmissionOrder` gives its records in that order (a desk may keep it). */
  add(c: SessionCorrelation, kind: ExportKind, batchSize: number, inSubmissionOrder: () => CorrelationRecord[]): number {
    const id = this.nextId++;
    const events =
      kind === 'trace'
        ? traceEvents(
            c.records,
            c.flows.map((f) => ({ id: f.id, label: `flow ${f.id}: ${f.aAddr}:${f.aPort} <-> ${f.bAddr}:${f.bPort}` })),
            (rel) => absoluteNs(c, rel),
          )
        : null;
    this.open.set(id, { batchSize, records: kind === 'records' ? inSubmissionOrder() : [], position: 0, events });
    return id;
  }

  /** The next batch; the export is let go with its last one (an unknown id: done). */
  next(id: number): ExportBatch {
    const e = this.open.get(id);
    if (!e) return { records: [], events: [], done: true };
    const batch = nextBatch(e);
    if (batch.done) this.open.delete(id);
    return batch;
  }

  /** Lets an export go before its end (a client that went away). */
  close(id: number): void {
    this.open.get(id)?.events?.return(undefined);
    this.open.delete(id);
  }

  get size(): number {
    return this.open.size;
  }
}

function nextBatch(e: OpenExport): ExportBatch {
  if (e.events) {
    const events: TraceEvent[] = [];
    let step = e.events.next();
    // trace events are about three per write: a batch of them is about a batch of writes
    while (!step.done) {
      events.push(step.value);
      if (events.length >= e.batchSize * 3) break;
      step = e.events.next();
    }
    return { records: [], events, done: step.done === true };
  }
  const records = e.records.slice(e.position, e.position + e.batchSize);
  e.position += records.length;
  return { records, events: [], done: e.position >= e.records.length };
}
