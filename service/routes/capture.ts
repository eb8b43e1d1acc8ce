import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listInterfaces } from '../../capture/native/index.js';
import { IdParams, errorResponses } from '../schemas/common.js';
import { sessionToApi } from '../schemas/session.js';

const NetworkInterface = Type.Object({
  name: Type.String(),
  description: Type.Optional(Type.String()),
  addresses: Type.Array(Type.String(), { description: 'IPv4 and IPv6 addresses' }),
  loopback: Type.Boolean(),
  up: Type.Boolean(),
});

const captureErrors = {
  ...errorResponses,
  403: Type.Ref('ErrorReply'),
  503: Type.Ref('ErrorReply'),
} as const;

/** Live capture: start and stop a live session's capture worker; list interfaces. */
export const captureRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const manager = app.captures;
  // sessions a killed service left capturing are failed before any route answers (never throws)
  await manager.recovered;
  app.sessionDeleteHooks.push((id) => manager.stopIfCapturing(id));
  app.addHook('onClose', async () => {
    await manager.stopAll();
  });

  app.post(
    '/sessions/:id/start',
    {
      schema: {
        tags: ['capture'],
        summary: 'Start capturing a live session (libpcap, kernel ns timestamps)',
        description:
          'Resolves once libpcap is capturing. An unknown interface or a filter that does not compile is a 400 with ' +
          "libpcap's message; no permission to capture is a 403. A session captures once.",
        params: IdParams,
        response: { 200: Type.Ref('Session'), ...captureErrors },
      },
    },
    async (req) => sessionToApi(await manager.start(req.params.id)),
  );

  app.post(
    '/sessions/:id/stop',
    {
      schema: {
        tags: ['capture'],
        summary: 'Stop a live capture; returns once every captured frame is stored',
        params: IdParams,
        response: { 200: Type.Ref('Session'), ...captureErrors },
      },
    },
    async (req) => sessionToApi(await manager.stop(req.params.id)),
  );

  app.get(
    '/interfaces',
    {
      schema: {
        tags: ['capture'],
        summary: 'Interfaces libpcap can capture on, with their addresses',
        response: { 200: Type.Object({ items: Type.Array(NetworkInterface) }), ...captureErrors },
      },
    },
    async () => ({ items: listInterfaces() }),
  );
};
