import type { CorrelationRecord, Stage } from './types.js';

/** Filtering, sorting and cursor paging of correlation records. Pure. */
export const SORT_KEYS = {
  completed: (r: CorrelationRecord) => r.completedNs,
  submitted: (r: CorrelationRecord) => r.submittedNs,
  writeId: (r: CorrelationRecord) => r.writeId,
  submitToComplete: (r: CorrelationRecord) => r.submitToCompleteNs,
  lastWireMinusComplete: (r: CorrelationRecord) => r.lastWireMinusCompleteNs,
  ackedMinusComplete: (r: CorrelationRecord) => r.ackedMinusCompleteNs,
  decidingGap: (r: CorrelationRecord) => r.decidingGapNs,
} as const;
export type SortKey = keyof typeof SORT_KEYS;

export interface ListFilter {
  flowId?: number;
  stage?: Stage;
  api?: string;
  /** completedNs window, relative ns, inclusive */
  fromNs?: number;
  toNs?: number;
}

export function filterRecords(records: readonly CorrelationRecord[], f: ListFilter): CorrelationRecord[] {
  return records.filter(
    (r) =>
      (f.flowId === undefined || r.flowId === f.flowId) &&
      (f.stage === undefined || r.stage === f.stage) &&
      (f.api === undefined || r.api === f.api) &&
      (f.fromNs === undefined || r.completedNs >= f.fromNs) &&
      (f.toNs === undefined || r.completedNs <= f.toNs),
  );
}

/** Position of a record in a listing: its sort value and its id (ties broken by id). */
export interface Cursor {
  v: number | null;
  id: number;
}

/** Nulls last whatever the order; ties by completion id ascending. */
export function comparator(key: SortKey, order: 'asc' | 'desc'): (a: Cursor, b: Cursor) => number {
  const sign = order === 'asc' ? 1 : -1;
  return (a, b) => {
    if (a.v !== b.v) {
      if (a.v === null) return 1;
      if (b.v === null) return -1;
      return sign * (a.v - b.v);
    }
    return a.id - b.id;
  };
}

export function sortRecords(records: CorrelationRecord[], key: SortKey, order: 'asc' | 'desc'): CorrelationRecord[] {
  const value = SORT_KEYS[key];
  const cmp = comparator(key, order);
  return records
    .map((r) => ({ r, c: { v: value(r), id: r.completionId } }))
    .sort((a, b) => cmp(a.c, b.c))
    .map((x) => x.r);
}

/** One page after `after` (exclusive) in an already sorted list, and the cursor of the next. */
export function page(
  sorted: readonly CorrelationRecord[],
  key: SortKey,
  order: 'asc' | 'desc',
  limit: number,
  after: Cursor | null,
): { items: CorrelationRecord[]; next: Cursor | null } {
  const value = SORT_KEYS[key];
  const cmp = comparator(key, order);
  let lo = 0;
  if (after) {
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cmp({ v: value(sorted[mid]), id: sorted[mid].completionId }, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
  }
  const items = sorted.slice(lo, lo + limit);
  const last = items[items.length - 1];
  const next = lo + limit < sorted.length && last ? { v: value(last), id: last.completionId } : null;
  return { items, next };
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.v, c.id])).toString('base64url');
}

/** null when the text is not a cursor this API wrote. */
export function decodeCursor(text: string): Cursor | null {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(value) || value.length !== 2) return null;
    const [v, id] = value as unknown[];
    if (!(v === null || (typeof v === 'number' && Number.isFinite(v))) || !Number.isSafeInteger(id)) return null;
    return { v: v as number | null, id: id as number };
  } catch {
    return null;
  }
}

/** The exports' order: submission time, ties by completion id. A sorted copy. */
export function inSubmissionOrder(records: readonly CorrelationRecord[]): CorrelationRecord[] {
  return records.slice().sort((a, b) => a.submittedNs - b.submittedNs || a.completionId - b.completionId);
}
