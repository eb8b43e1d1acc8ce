import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AckscopeError } from '../../core/errors.js';
import { IdParams, PageQuery, errorResponses } from '../schemas/common.js';
import { Correlation, StageSchema, Summary, correlationToApi, summaryToApi, type SummaryT } from '../schemas/correlation.js';
import { getCorrelation, invalidateCorrelations, relativeNs, type SessionCorrelation } from '../../analysis/correlation.js';
import { summariseSession } from '../../correlate/summary.js';
import { SORT_KEYS, decodeCursor, encodeCursor, filterRecords, page, sortRecords, type SortKey } from '../../correlate/listing.js';
import type { Db } from '../../db/connection.js';

/** Summaries are cached beside the correlation they were made from (same lifetime). */
const summaries = new WeakMap<SessionCorrelation, SummaryT>();

export function sessionSummary(db: Db, sessionId: number): SummaryT {
  const c = getCorrelation(db, sessionId);
  let s = summaries.get(c);
  if (!s) {
    s = summaryToApi(c, summariseSession(c.records, c.flows, c.ordering));
    summaries.set(c, s);
  }
  return s;
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
  app.sessionDeleteHooks.push((id) => invalidateCorrelations(app.db, id));

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
    async (req) => {
      const q = req.query;
      const c = getCorrelation(app.db, req.params.id);
      const key = (q.sort ?? 'completed') as SortKey;
      const order = q.order ?? 'asc';
      let after = null;
      if (q.cursor !== undefined) {
        after = decodeCursor(q.cursor);
        if (!after) {
          throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'querystring.cursor: not a cursor this API returned', {
            field: 'querystring.cursor',
          });
        }
      }
      const filtered = filterRecords(c.records, {
        flowId: q.flow,
        stage: q.stage,
        api: q.api,
        fromNs: q.from === undefined ? undefined : relativeNs(c, q.from),
        toNs: q.to === undefined ? undefined : relativeNs(c, q.to),
      });
      const { items, next } = page(sortRecords(filtered, key, order), key, order, q.limit ?? 100, after);
      return { items: items.map((r) => correlationToApi(c, r)), nextCursor: next ? encodeCursor(next) : null };
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
    async (req) => sessionSummary(app.db, req.params.id),
  );
};
