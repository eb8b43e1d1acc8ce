/**
 * A session's hosts and the clock error each claims (issue 17: many hosts, one view;
 * docs/scale-out.md): `PUT /sessions/:id/hosts/:host` states it, `GET` lists them (also
 * in `GET /sessions/:id` as `hosts`). The correlation adds both hosts' errors to the
 * session's clockUncertaintyNs for a stage decided across two hosts (correlate/host-clocks.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IdParams, errorResponses, nsFromRequest } from '../schemas/common.js';
import { HostClockErrorBody, HostParams, SessionHostApi, sessionHostToApi } from '../schemas/hosts.js';
import { checkHostName } from '../../core/host-name.js';
import { AckscopeError } from '../../core/errors.js';
import { requireStoredSession } from './sessions.js';

export const hostRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.put(
    '/sessions/:id/hosts/:host',
    {
      schema: {
        tags: ['sessions'],
        summary: "State the clock error a host of the session claims (replaces what it stated before)",
        params: HostParams,
        body: HostClockErrorBody,
        response: { 200: SessionHostApi, ...errorResponses },
      },
    },
    async (req) => {
      const host = checkHostName(req.params.host, 'params.host');
      const clockErrorNs = nsFromRequest(req.body.clockErrorNs, 'body.clockErrorNs');
      if (clockErrorNs < 0n) {
        throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'body.clockErrorNs: a clock error is not negative', { field: 'body.clockErrorNs' });
      }
      await requireStoredSession(app.store, req.params.id);
      await app.store.stateHostClockError(req.params.id, host, clockErrorNs);
      req.log.info({ sessionId: req.params.id, host, clockErrorNs: clockErrorNs.toString() }, 'host clock error stated');
      const listed = (await app.store.listSessionHosts(req.params.id)).find((h) => h.host === host);
      return sessionHostToApi(listed ?? { host, clockErrorNs, frames: 0, completions: 0 });
    },
  );

  app.get(
    '/sessions/:id/hosts',
    {
      schema: {
        tags: ['sessions'],
        summary: 'The hosts of a session: what each claims of its clock, and the rows it wrote',
        params: IdParams,
        response: { 200: Type.Object({ items: Type.Array(SessionHostApi) }), ...errorResponses },
      },
    },
    async (req) => {
      await requireStoredSession(app.store, req.params.id);
      return { items: (await app.store.listSessionHosts(req.params.id)).map(sessionHostToApi) };
    },
  );
};
