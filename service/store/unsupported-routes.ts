import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AckscopeError } from '../../core/errors.js';

/**
 * Routes that only the SQLite store serves (docs/scale-out.md, "The service on
 * ClickHouse"): on another store each answers ACKSCOPE_ERR_STORE_UNSUPPORTED (501)
 * naming itself, instead of a 404 that would read as a wrong URL, or a crash. None
 * today: every route runs on ClickHouse too. Kept for a route or a store that cannot.
 */
export const SQLITE_ONLY_ROUTES: readonly { method: 'GET' | 'POST'; url: string; what: string }[] = [];

export const unsupportedRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // any body: nothing is read
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));
  for (const route of SQLITE_ONLY_ROUTES) {
    app.route({
      method: route.method,
      url: route.url,
      schema: { hide: true },
      handler: async () => {
        throw new AckscopeError(
          'ACKSCOPE_ERR_STORE_UNSUPPORTED',
          `${route.method} ${route.url}: ${route.what} runs on the SQLite store only, not yet on the ${app.store.kind} store (ACKSCOPE_STORE; docs/scale-out.md)`,
          { store: app.store.kind, route: route.url },
        );
      },
    });
  }
};
