import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { listInterfaces } from '../../capture/native/index.js';
import { IdParams, errorResponses } from '../schemas/common.js';
import { sessionToApi } from '../schemas/session.js';
import { checkLiveSession } from '../live-session-checks.js';
import { AckscopeError } from '../../core/errors.js';
import type { CaptureChoice } from '../../recording/live/manager.js';

/**
 * This host's own interface and filter for its capture (several hosts, one session: the
 * ClickHouse store): an optional JSON body, checked here (a body schema would refuse the
 * usual start without a body).
 */
function captureChoice(body: unknown): CaptureChoice {
  if (body === undefined || body === null || body === '') return {};
  const refuse = (message: string, field = 'body') => new AckscopeError('ACKSCOPE_ERR_VALIDATION', `${field}: ${message}`, { field });
  if (typeof body !== 'object' || Array.isArray(body)) throw refuse('an object with interface and/or filter, or no body');
  const choice: CaptureChoice = {};
  for (const [key, value] of Object.entries(body)) {
    if (key !== 'interface' && key !== 'filter') throw refuse(`unknown property "${key}" (interface, filter)`);
    if (typeof value !== 'string') throw refuse('must be a string', `body.${key}`);
    if (key === 'interface' && value.length === 0) throw refuse('must not be empty', 'body.interface');
    choice[key] = value;
  }
  return choice;
}

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
          "libpcap's message; no permission to capture is a 403. A session captures once on SQLite. On the ClickHouse " +
          'store several hosts (one service each) may capture one live session, at the same time or one after another, ' +
          'each with its own interface and filter (this body; default: the session\'s); each host captures it once (409) ' +
          'and stops its own capture; the session is capturing while any host captures.',
        params: IdParams,
        response: { 200: Type.Ref('Session'), ...captureErrors },
      },
    },
    async (req) => {
      const choice = captureChoice(req.body);
      if (choice.interface !== undefined || choice.filter !== undefined) {
        const row = await app.store.getSession(req.params.id);
        // refused here with libpcap's own message, as POST /sessions refuses the session's
        if (row) checkLiveSession(choice.interface ?? row.interface ?? '', choice.filter ?? row.filter ?? undefined, row.snaplen ?? undefined);
      }
      return sessionToApi(await manager.start(req.params.id, choice));
    },
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
