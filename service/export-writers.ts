/**
 * The correlation exports' bytes, two ways that must agree byte for byte (a test checks
 * it on a session of many batches):
 * - streamed (what the routes send): chunk by chunk from the correlation worker's
 *   batches, so the service's thread holds one batch at a time however large the
 *   session, and the first bytes leave as soon as the correlation is ready;
 * - in memory (what the routes built before; kept as the reference the stream is
 *   checked against).
 */
import type { CorrelationHead } from '../analysis/correlation-runner.js';
import { absoluteNs, type SessionCorrelation } from '../analysis/correlation.js';
import { csvLine } from '../correlate/csv.js';
import { inSubmissionOrder } from '../correlate/listing.js';
import { buildTrace, traceOtherData, type TraceEvent } from '../correlate/trace.js';
import type { CorrelationRecord } from '../correlate/types.js';
import { correlationToApi, endpointsLabel } from './schemas/correlation.js';

export const CSV_COLUMNS = [
  'completionId', 'flowId', 'writeId', 'api', 'status', 'srcAddr', 'srcPort', 'dstAddr', 'dstPort',
  'offsetStart', 'offsetEnd', 'bytesReported', 'submittedNs', 'completedNs', 'firstWireNs', 'lastWireNs',
  'ackedNs', 'sackedNs', 'stage', 'reason', 'submitToCompleteNs', 'lastWireMinusCompleteNs',
  'ackedMinusCompleteNs', 'retransmitted', 'decidingGapNs', 'decidingEvent',
  'decidingEarliestNs', 'decidingLatestNs', 'decidingDoubt', 'nearBoundary', 'uncertain',
  'tcpBytesSent', 'tcpBytesAcked', 'tcpInfoStage', 'tcpInfoAgrees',
  // issue 17 (many hosts): last, so the columns before keep their places
  'clockErrorNs', 'crossHost', 'completionHost', 'captureHost',
] as const;

function csvRow(c: { baseNs: bigint }, r: CorrelationRecord): string {
  const abs = (v: number | null) => (v === null ? null : absoluteNs(c, v));
  return csvLine([
    r.completionId, r.flowId, r.writeId, r.api, r.status, r.srcAddr, r.srcPort, r.dstAddr, r.dstPort,
    r.offsetStart, r.offsetEnd, r.bytesReported, abs(r.submittedNs), abs(r.completedNs), abs(r.firstWireNs),
    abs(r.lastWireNs), abs(r.ackedNs), abs(r.sackedNs), r.stage, r.reason, r.submitToCompleteNs,
    r.lastWireMinusCompleteNs, r.ackedMinusCompleteNs, r.retransmitted, r.decidingGapNs, r.decidingEvent,
    abs(r.decidingEarliestNs), abs(r.decidingLatestNs), r.decidingDoubt, r.nearBoundary, r.uncertain,
    r.tcpBytesSent, r.tcpBytesAcked, r.tcpInfoStage, r.tcpInfoAgrees,
    r.clockErrorNs, r.crossHost, r.completionHost, r.captureHost,
  ]);
}

const timelineHead = (sessionId: number) => `{"sessionId":${sessionId},"items":[`;
const TIMELINE_TAIL = ']}';
const TRACE_HEAD = '{"traceEvents":[';
const traceTail = (baseNs: bigint) => `],"displayTimeUnit":"ns","otherData":${JSON.stringify(traceOtherData(baseNs))}}`;

export const traceFlows = (c: Pick<SessionCorrelation, 'flows'>) =>
  c.flows.map((f) => ({ id: f.id, label: `flow ${f.id}: ${endpointsLabel(f)}` }));

// ── in memory (the reference) ────────────────────────────────────────────────

export function timelineCsvInMemory(c: SessionCorrelation): string {
  const lines = [csvLine(CSV_COLUMNS)];
  for (const r of inSubmissionOrder(c.records)) lines.push(csvRow(c, r));
  return lines.join('');
}

export function timelineJsonInMemory(c: SessionCorrelation): string {
  return JSON.stringify({ sessionId: c.session.id, items: inSubmissionOrder(c.records).map((r) => correlationToApi(c, r)) });
}

export function traceInMemory(c: SessionCorrelation): string {
  return JSON.stringify(buildTrace(c.records, traceFlows(c), c.baseNs, (rel) => absoluteNs(c, rel)));
}

// ── streamed ────────────────────────────────────────────────────────────────

type Batches = AsyncIterable<{ records: CorrelationRecord[]; events: TraceEvent[] }>;

export async function* timelineCsvChunks(head: CorrelationHead, batches: Batches): AsyncGenerator<string> {
  let chunk = csvLine(CSV_COLUMNS);
  for await (const { records } of batches) {
    for (const r of records) chunk += csvRow(head, r);
    yield chunk;
    chunk = '';
  }
  if (chunk) yield chunk;
}

export async function* timelineJsonChunks(head: CorrelationHead, batches: Batches): AsyncGenerator<string> {
  yield timelineHead(head.session.id);
  let first = true;
  for await (const { records } of batches) {
    if (records.length === 0) continue;
    const items = records.map((r) => JSON.stringify(correlationToApi(head, r))).join(',');
    yield first ? items : `,${items}`;
    first = false;
  }
  yield TIMELINE_TAIL;
}

export async function* traceChunks(head: CorrelationHead, batches: Batches): AsyncGenerator<string> {
  yield TRACE_HEAD;
  let first = true;
  for await (const { events } of batches) {
    if (events.length === 0) continue;
    const text = events.map((e) => JSON.stringify(e)).join(',');
    yield first ? text : `,${text}`;
    first = false;
  }
  yield traceTail(head.baseNs);
}
