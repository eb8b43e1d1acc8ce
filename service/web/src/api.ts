/** The page's HTTP calls: the public API where it fits, the page's compact /ui/data routes for charts. */
import type { SessionT } from '../../schemas/session.js';
import type { SummaryT } from '../../schemas/correlation.js';
import type { FlowT } from '../../schemas/frames.js';
import type { SequenceData, SessionListItem, TimelineData } from './shapes.js';

export type { SessionT, SummaryT, FlowT };

/** An error reply of the API ({error: {code, message}}), kept whole for display. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'ACKSCOPE_ERR_INTERNAL', `${path}: not JSON (${res.status})`);
  }
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } }).error;
    throw new ApiError(res.status, e?.code ?? 'ACKSCOPE_ERR_INTERNAL', e?.message ?? `${path}: HTTP ${res.status}`);
  }
  return body as T;
}

export const api = {
  sessions: () => getJson<{ items: SessionListItem[] }>('/ui/data/sessions'),
  session: (id: number) => getJson<SessionT>(`/sessions/${id}`),
  summary: (id: number) => getJson<SummaryT>(`/sessions/${id}/summary`),
  flows: (id: number) => getJson<{ items: FlowT[]; nextCursor: string | null }>(`/sessions/${id}/flows?limit=10000`),
  /** flowId null: the completions no captured flow matched. */
  timeline: (id: number, flowId: number | null) =>
    getJson<TimelineData>(`/ui/data/sessions/${id}/timeline?flow=${flowId ?? 0}`),
  sequence: (id: number, flowId: number) => getJson<SequenceData>(`/ui/data/sessions/${id}/sequence?flow=${flowId}`),
};

/** Every export of a session, with what opens it. */
export function exportLinks(id: number): { href: string; label: string; note: string }[] {
  const base = `/sessions/${id}/export`;
  return [
    { href: `${base}/capture.pcapng`, label: 'capture.pcapng', note: 'the captured packets: open in Wireshark' },
    { href: `${base}/timeline.json`, label: 'timeline.json', note: 'every correlation in submission order' },
    { href: `${base}/timeline.csv`, label: 'timeline.csv', note: 'the same as CSV, epoch ns as integers' },
    { href: `${base}/trace.json`, label: 'trace.json', note: 'open in ui.perfetto.dev (Open trace file) or chrome://tracing' },
  ];
}
