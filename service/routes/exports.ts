import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams, errorResponses } from '../schemas/common.js';
import { Correlation, correlationToApi, endpointsLabel } from '../schemas/correlation.js';
import { absoluteNs, getCorrelation, type SessionCorrelation } from '../../analysis/correlation.js';
import { buildTrace } from '../../correlate/trace.js';
import { csvLine } from '../../correlate/csv.js';
import type { CorrelationRecord } from '../../correlate/types.js';

/**
 * Exports of a session's correlation: the timeline (JSON, CSV) and a Chrome trace-event
 * file for Perfetto / chrome://tracing. (capture.pcapng is the capture issue's route.)
 */
const CSV_COLUMNS = [
  'completionId', 'flowId', 'writeId', 'api', 'status', 'srcAddr', 'srcPort', 'dstAddr', 'dstPort',
  'offsetStart', 'offsetEnd', 'bytesReported', 'submittedNs', 'completedNs', 'firstWireNs', 'lastWireNs',
  'ackedNs', 'sackedNs', 'stage', 'reason', 'submitToCompleteNs', 'lastWireMinusCompleteNs',
  'ackedMinusCompleteNs', 'retransmitted', 'decidingGapNs', 'decidingEvent',
  'decidingEarliestNs', 'decidingLatestNs', 'decidingDoubt', 'nearBoundary', 'uncertain',
  'tcpBytesSent', 'tcpBytesAcked', 'tcpInfoStage', 'tcpInfoAgrees',
] as const;

function csvRow(c: SessionCorrelation, r: CorrelationRecord): string {
  const abs = (v: number | null) => (v === null ? null : absoluteNs(c, v));
  return csvLine([
    r.completionId, r.flowId, r.writeId, r.api, r.status, r.srcAddr, r.srcPort, r.dstAddr, r.dstPort,
    r.offsetStart, r.offsetEnd, r.bytesReported, abs(r.submittedNs), abs(r.completedNs), abs(r.firstWireNs),
    abs(r.lastWireNs), abs(r.ackedNs), abs(r.sackedNs), r.stage, r.reason, r.submitToCompleteNs,
    r.lastWireMinusCompleteNs, r.ackedMinusCompleteNs, r.retransmitted, r.decidingGapNs, r.decidingEvent,
    abs(r.decidingEarliestNs), abs(r.decidingLatestNs), r.decidingDoubt, r.nearBoundary, r.uncertain, r.tcpBytesSent, r.tcpBytesAcked, r.tcpInfoStage, r.tcpInfoAgrees,
  ]);
}

const inOrder = (c: SessionCorrelation) =>
  c.records.slice().sort((a, b) => a.submittedNs - b.submittedNs || a.completionId - b.completionId);

const attachment = (sessionId: number, name: string) => `attachment; filename="ackscope-session-${sessionId}-${name}"`;

export const exportRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(Correlation); // plugins are encapsulated: each scope registers what it refers to
  app.get(
    '/sessions/:id/export/timeline.json',
    {
      schema: {
        tags: ['exports'],
        summary: 'Every correlation in submission order, as JSON',
        params: IdParams,
        response: {
          200: Type.Object({ sessionId: Type.Integer(), items: Type.Array(Type.Ref('Correlation')) }),
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const c = getCorrelation(app.db, req.params.id);
      reply.header('content-disposition', attachment(c.session.id, 'timeline.json'));
      return { sessionId: c.session.id, items: inOrder(c).map((r) => correlationToApi(c, r)) };
    },
  );

  app.get(
    '/sessions/:id/export/timeline.csv',
    {
      schema: {
        tags: ['exports'],
        summary: 'Every correlation in submission order, as CSV (epoch ns as integers)',
        params: IdParams,
        produces: ['text/csv'],
        response: { 200: Type.String(), ...errorResponses },
      },
    },
    async (req, reply) => {
      const c = getCorrelation(app.db, req.params.id);
      const lines = [csvLine(CSV_COLUMNS)];
      for (const r of inOrder(c)) lines.push(csvRow(c, r));
      reply.header('content-disposition', attachment(c.session.id, 'timeline.csv'));
      reply.type('text/csv; charset=utf-8');
      return lines.join('');
    },
  );

  app.get(
    '/sessions/:id/export/trace.json',
    {
      schema: {
        tags: ['exports'],
        summary: 'Chrome trace-event JSON (Perfetto, chrome://tracing): a process per flow, a slice per write',
        params: IdParams,
        response: { 200: Type.Unknown({ description: 'trace-event JSON object format' }), ...errorResponses },
      },
    },
    async (req, reply) => {
      const c = getCorrelation(app.db, req.params.id);
      const trace = buildTrace(
        c.records,
        c.flows.map((f) => ({ id: f.id, label: `flow ${f.id}: ${endpointsLabel(f)}` })),
        c.baseNs,
        (rel) => absoluteNs(c, rel),
      );
      reply.header('content-disposition', attachment(c.session.id, 'trace.json'));
      reply.type('application/json; charset=utf-8');
      return JSON.stringify(trace);
    },
  );
};
