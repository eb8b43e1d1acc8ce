import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AckscopeError } from '../../core/errors.js';
import { IdParams, PageQuery, errorResponses, nsFromRequest } from '../schemas/common.js';
import { Correlation, StageSchema, Summary, correlationToApi, summaryToApi, type SummaryT } from '../schemas/correlation.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { SORT_KEYS, decodeCursor, encodeCursor, type SortKey } from '../../correlate/listing.js';

/** The API summary of a session; the correlation and its summary are computed (and cached) by the correlation worker. */
export async function sessionSummary(app: FastifyInstance, sessionId: number): Promise<SummaryT> {
  const { head, summary } = await app.correlations.summary(sessionId);
  return summaryToApi(head, summary);
}

/**
 * Sends a reply the schema describes as JSON text, bypassing the route's compiled
 * serializer: its first use compiles a validator for every nullable field (anyOf),
 * which held the event loop for 0.5–0.8 s on the first summary a process served
 * (bench/correlate.ts, cold summary with /healthz probes, load 15).
 */
function sendJson(reply: FastifyReply, body: unknown): string {
  reply.type('application/json; charset=utf-8');
  return JSON.stringify(body);
}

const ListQuery = Type.Object({
  ...PageQuery,
  flow: Type.Optional(Type.Integer({ minimum: 1, description: 'flow id' })),
  stage: Type.Optional(StageSchema),
  api: Type.Optional(Type.String({ maxLength: 100 })),
  from: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'completedNs ≥ this (epoch ns)' })),
  to: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'completedNs ≤ this (epoch ns)' })),
  sort: Type.Optional(
    Type.Union(
      Object.keys(SORT_KEYS).map((k) => Type.Literal(k)),
      { default: 'completed' },
    ),
  ),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'asc' })),
});

export const correlationRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(Correlation);
  app.addSchema(Summary);
  // a deleted session's cached correlation would only hold memory
  app.sessionDeleteHooks.push((id) => app.correlations.forget(id));

  app.get(
    '/sessions/:id/correlations',
    {
      schema: {
        tags: ['correlations'],
        summary: 'The stage of every completion at its completion instant, with the evidence and gaps',
        params: IdParams,
        querystring: ListQuery,
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref('Correlation')), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      let after = null;
      if (q.cursor !== undefined) {
        after = decodeCursor(q.cursor);
        if (!after) {
          throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'querystring.cursor: not a cursor this API returned', {
            field: 'querystring.cursor',
          });
        }
      }
      const { head: c, items, next } = await app.correlations.page(req.params.id, {
        filter: {
          flowId: q.flow,
          stage: q.stage,
          api: q.api,
          fromEpochNs: q.from === undefined ? undefined : String(nsFromRequest(q.from, 'querystring.from')),
          toEpochNs: q.to === undefined ? undefined : String(nsFromRequest(q.to, 'querystring.to')),
        },
        key: (q.sort ?? 'completed') as SortKey,
        order: q.order ?? 'asc',
        limit: q.limit ?? 100,
        after,
      });
      return sendJson(reply, { items: items.map((r) => correlationToApi(c, r)), nextCursor: next ? encodeCursor(next) : null });
    },
  );

  app.get(
    '/sessions/:id/summary',
    {
      schema: {
        tags: ['correlations'],
        summary:
          'Per flow and per api: stage counts and shares, gap percentiles, retransmissions, partial-completion and ordering verdicts, drops, clock uncertainty',
        params: IdParams,
        response: { 200: Type.Ref('Summary'), ...errorResponses },
      },
    },
    async (req, reply) => sendJson(reply, await sessionSummary(app, req.params.id)),
  );
};
