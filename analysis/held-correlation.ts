/**
 * The answers a correlation desk gives from a correlation it holds, the same on either
 * store (analysis/correlation-desk.ts on SQLite, analysis/clickhouse-correlation-desk.ts
 * on ClickHouse): its head, a listing page, one flow's records, one completion's record.
 */
import { relativeNs } from '../core/time.js';
import { filterRecords, page, sortRecords, type ListFilter } from '../correlate/listing.js';
import type { CorrelationHead, SessionCorrelation } from './correlation.js';
import type { ReplyBody, ToWorker } from './correlation-protocol.js';

/** The correlation without its records (nor the ClickHouse run's own statistics): what a reply carries. */
export function headOf(c: SessionCorrelation): CorrelationHead {
  const { records: _records, ...head } = c;
  delete (head as { store?: unknown }).store;
  return head;
}

export function pageOf(c: SessionCorrelation, m: Extract<ToWorker, { type: 'page' }>): ReplyBody {
  const { fromEpochNs, toEpochNs, ...rest } = m.filter;
  const filter: ListFilter = {
    ...rest,
    fromNs: fromEpochNs === undefined ? undefined : relativeNs(c, fromEpochNs),
    toNs: toEpochNs === undefined ? undefined : relativeNs(c, toEpochNs),
  };
  const { items, next } = page(sortRecords(filterRecords(c.records, filter), m.key, m.order), m.key, m.order, m.limit, m.after);
  return { type: 'page', head: headOf(c), items, next };
}

/** The records of one flow (null: the completions no flow matched). */
export function flowRecordsOf(c: SessionCorrelation, flowId: number | null): ReplyBody {
  return { type: 'flow-records', head: headOf(c), records: c.records.filter((r) => r.flowId === flowId) };
}

export function recordOf(c: SessionCorrelation, completionId: number): ReplyBody {
  return { type: 'record', head: headOf(c), record: c.records.find((r) => r.completionId === completionId) ?? null };
}
