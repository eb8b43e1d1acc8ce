import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { rm } from 'node:fs/promises';
import { AckscopeError, sessionNotFound } from '../../core/errors.js';
import { IdParams, PageQuery, errorResponses, nsFromRequest } from '../schemas/common.js';
import { Session, SessionCreate, sessionToApi } from '../schemas/session.js';
import { sessionHostToApi } from '../schemas/hosts.js';
import { getSession, type SessionRow } from '../../db/sessions.js';
import type { Db } from '../../db/connection.js';
import type { Store } from '../store/store.js';
import { checkLiveSession } from '../live-session-checks.js';

/** A session of the SQLite database (the SQLite-only routes: trace, web page). */
export function requireSession(db: Db, id: number): SessionRow {
  const row = getSession(db, id);
  if (!row) throw sessionNotFound(id);
  return row;
}

/** A session of whichever store the service runs on. */
export async function requireStoredSession(store: Store, id: number): Promise<SessionRow> {
  const row = await store.getSession(id);
  if (!row) throw sessionNotFound(id);
  return row;
}

export const sessionRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Create a session: a live capture on an interface, or a capture file to import',
        body: SessionCreate,
        response: { 201: Type.Ref('Session'), ...errorResponses },
      },
    },
    async (req, reply) => {
      const body = req.body;
      if (body.kind === 'live' && !body.interface) {
        throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'body.interface: a live session needs an interface', {
          field: 'body.interface',
        });
      }
      if (body.kind === 'live') checkLiveSession(body.interface!, body.filter, body.snaplen);
      if (body.kind === 'import') {
        for (const field of ['interface', 'filter', 'bufferSize', 'immediate'] as const) {
          if (body[field] !== undefined) {
            throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `body.${field}: only a live session takes ${field}`, {
              field: `body.${field}`,
            });
          }
        }
      }
      const row = await app.store.createSession({
        name: body.name,
        kind: body.kind,
        interface: body.interface,
        filter: body.filter,
        snaplen: body.snaplen,
        bufferSize: body.bufferSize,
        immediate: body.immediate,
        clockUncertaintyNs:
          body.clockUncertaintyNs === undefined ? undefined : nsFromRequest(body.clockUncertaintyNs, 'body.clockUncertaintyNs'),
        nearMarginNs: body.nearMarginNs === undefined ? undefined : nsFromRequest(body.nearMarginNs, 'body.nearMarginNs'),
      });
      req.log.info({ sessionId: row.id, kind: row.kind }, 'session created');
      reply.code(201);
      return sessionToApi(row);
    },
  );

  app.get(
    '/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: 'List sessions, newest first',
        querystring: Type.Object(PageQuery),
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref('Session')), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 100;
      let before: number | undefined;
      if (req.query.cursor !== undefined) {
        before = Number(req.query.cursor);
        if (!Number.isSafeInteger(before) || before < 1) {
          throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'querystring.cursor: not a cursor this API returned', {
            field: 'querystring.cursor',
          });
        }
      }
      const rows = await app.store.listSessions(limit + 1, before);
      const page = rows.slice(0, limit);
      return {
        items: page.map(sessionToApi),
        nextCursor: rows.length > limit ? String(page[page.length - 1].id) : null,
      };
    },
  );

  app.get(
    '/sessions/:id',
    {
      schema: {
        tags: ['sessions'],
        summary: 'One session, with frame counts and libpcap drop counters',
        params: IdParams,
        response: { 200: Type.Ref('Session'), ...errorResponses },
      },
    },
    async (req) => {
      const session = sessionToApi(await requireStoredSession(app.store, req.params.id));
      return { ...session, hosts: (await app.store.listSessionHosts(req.params.id)).map(sessionHostToApi) };
    },
  );

  app.delete(
    '/sessions/:id',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Delete a session, its rows and its files (a running capture is stopped first)',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (req, reply) => {
      const id = req.params.id;
      await requireStoredSession(app.store, id);
      for (const hook of app.sessionDeleteHooks) await hook(id);
      await app.store.deleteSession(id);
      await rm(app.sessionDir(id), { recursive: true, force: true });
      req.log.info({ sessionId: id }, 'session deleted');
      reply.code(204);
      return null;
    },
  );
};
