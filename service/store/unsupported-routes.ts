import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AckscopeError } from '../../core/errors.js';

/**
 * Routes that only the SQLite store serves so far (docs/scale-out.md, "What runs on
 * ClickHouse"): on another store each answers ACKSCOPE_ERR_STORE_UNSUPPORTED (501)
 * naming itself, instead of a 404 that would read as a wrong URL, or a crash. Their
 * plugins are not registered there at all (they hold a SQLite connection).
 */
export const SQLITE_ONLY_ROUTES: readonly { method: 'GET' | 'POST'; url: string; what: string }[] = [
  { method: 'POST', url: '/sessions/:id/trace', what: 'the kernel tracer' },
  { method: 'POST', url: '/sessions/:id/trace/stop', what: 'the kernel tracer' },
  { method: 'GET', url: '/sessions/:id/trace', what: 'the kernel tracer' },
  { method: 'POST', url: '/sessions/:id/kernel-witness', what: 'kernel witnesses' },
  { method: 'GET', url: '/', what: 'the web page' },
  { method: 'GET', url: '/ui/:file', what: 'the web page' },
  { method: 'GET', url: '/ui/data/sessions', what: 'the web page' },
  { method: 'GET', url: '/ui/data/sessions/:id/timeline', what: 'the web page' },
  { method: 'GET', url: '/ui/data/sessions/:id/sequence', what: 'the web page' },
  { method: 'GET', url: '/ui/data/sessions/:id/live', what: 'the web page' },
  { method: 'GET', url: '/ui/data/sessions/:id/writes/:completionId', what: 'the web page' },
];

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
