import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AckscopeError, isErrorCode } from '../../core/errors.js';

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['service'],
        summary: 'Liveness: ok once the store answers with the schema this ackscope knows (else the store\'s error: 503 unreachable, 502 refused)',
        response: { 200: Type.Object({ status: Type.Literal('ok') }), 502: Type.Ref('ErrorReply'), 503: Type.Ref('ErrorReply') },
      },
    },
    async () => {
      const health = await app.store.health();
      if (!health.ok) {
        const code = health.error && isErrorCode(health.error.code) ? health.error.code : 'ACKSCOPE_ERR_INTERNAL';
        throw new AckscopeError(code, `${health.store} store: ${health.error?.message ?? 'not healthy'}`, {
          store: health.store,
          ...(health.clickhouse ? { hosts: health.clickhouse.hosts } : {}),
        });
      }
      return { status: 'ok' as const };
    },
  );
};
