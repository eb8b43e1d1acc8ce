import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AckscopeError } from '../../core/errors.js';
import { IdParams, errorResponses } from '../schemas/common.js';
import { Flow, Frame, flowToApi, frameToApi } from '../schemas/frames.js';
import { requireStoredSession } from './sessions.js';

function cursorNumber(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const n = Number(cursor);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'querystring.cursor: not a cursor this API returned', {
      field: 'querystring.cursor',
    });
  }
  return n;
}

const Page = { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 1000 })), cursor: Type.Optional(Type.String()) };

/** A session's TCP connections and captured segments, in capture order, paged by cursor. */
export const frameRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(Flow);
  app.addSchema(Frame);

  app.get(
    '/sessions/:id/flows',
    {
      schema: {
        tags: ['capture'],
        summary: "A session's TCP flows (4-tuple plus initial sequence numbers), in the order first seen",
        params: IdParams,
        querystring: Type.Object(Page),
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref('Flow')), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses,
        },
      },
    },
    async (req) => {
      await requireStoredSession(app.store, req.params.id);
      const limit = req.query.limit ?? 1000;
      const rows = await app.store.listFlows(req.params.id, limit + 1, cursorNumber(req.query.cursor));
      const page = rows.slice(0, limit);
      return { items: page.map(flowToApi), nextCursor: rows.length > limit ? String(page[page.length - 1].id) : null };
    },
  );

  app.get(
    '/sessions/:id/frames',
    {
      schema: {
        tags: ['capture'],
        summary: "A session's TCP frames in capture order; filter by flow and by time [fromNs, toNs)",
        params: IdParams,
        querystring: Type.Object({
          ...Page,
          flowId: Type.Optional(Type.Integer({ minimum: 1 })),
          fromNs: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'epoch ns, inclusive' })),
          toNs: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'epoch ns, exclusive' })),
        }),
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref('Frame')), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses,
        },
      },
    },
    async (req) => {
      await requireStoredSession(app.store, req.params.id);
      const q = req.query;
      const limit = q.limit ?? 1000;
      const rows = await app.store.listFrames(req.params.id, {
        flowId: q.flowId,
        fromNs: q.fromNs === undefined ? undefined : BigInt(q.fromNs),
        toNs: q.toNs === undefined ? undefined : BigInt(q.toNs),
        afterFrameNo: cursorNumber(q.cursor),
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      return {
        items: page.map(frameToApi),
        nextCursor: rows.length > limit ? String(page[page.length - 1].frame_no) : null,
      };
    },
  );
};
