import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams, errorResponses } from '../schemas/common.js';
import { Readable } from 'node:stream';
import { Correlation } from '../schemas/correlation.js';
import { timelineCsvChunks, timelineJsonChunks, traceChunks } from '../export-writers.js';

/**
 * Exports of a session's correlation: the timeline (JSON, CSV) and a Chrome trace-event
 * file for Perfetto / chrome://tracing, streamed from the correlation worker one batch
 * at a time (service/export-writers.ts). A client that goes away destroys the stream,
 * which closes the worker's cursor. (capture.pcapng is the capture issue's route.)
 */
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
      const { head, batches } = await app.correlations.openExport(req.params.id, 'records');
      reply.header('content-disposition', attachment(head.session.id, 'timeline.json'));
      reply.type('application/json; charset=utf-8');
      return reply.send(Readable.from(timelineJsonChunks(head, batches)));
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
      const { head, batches } = await app.correlations.openExport(req.params.id, 'records');
      reply.header('content-disposition', attachment(head.session.id, 'timeline.csv'));
      reply.type('text/csv; charset=utf-8');
      return reply.send(Readable.from(timelineCsvChunks(head, batches)));
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
      const { head, batches } = await app.correlations.openExport(req.params.id, 'trace');
      reply.header('content-disposition', attachment(head.session.id, 'trace.json'));
      reply.type('application/json; charset=utf-8');
      return reply.send(Readable.from(traceChunks(head, batches)));
    },
  );
};
