import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AckscopeError } from '../../core/errors.js';
import { IdParams, errorResponses } from '../schemas/common.js';
import { requireStoredSession } from './sessions.js';

import { CAPTURE_FILE_NAME } from '../../recording/import.js';

export const captureFileRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/sessions/:id/export/capture.pcapng',
    {
      schema: {
        tags: ['capture'],
        summary: "The session's captured packets as pcapng (opens in Wireshark)",
        params: IdParams,
        response: { ...errorResponses },
      },
    },
    async (req, reply) => {
      const session = await requireStoredSession(app.store, req.params.id);
      const path = join(app.sessionDir(session.id), CAPTURE_FILE_NAME);
      if (!existsSync(path)) {
        throw new AckscopeError(
          'ACKSCOPE_ERR_NOT_FOUND',
          `session ${session.id} has no capture file yet: import a file or start the capture first`,
          { id: session.id },
        );
      }
      // a live capture still appends to the file: no length to promise then
      if (session.state !== 'capturing') reply.header('content-length', statSync(path).size);
      reply
        .header('content-type', 'application/x-pcapng')
        .header('content-disposition', `attachment; filename="ackscope-session-${session.id}.pcapng"`);
      return reply.send(createReadStream(path));
    },
  );
};
