import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { join, relative } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { AckscopeError } from '../../core/errors.js';
import { IdParams, errorResponses } from '../schemas/common.js';
import { sessionToApi } from '../schemas/session.js';
import { CAPTURE_FILE_NAME, claimImportOwner, importOwnerAlive, releaseImportOwner } from '../../recording/import.js';
import { requireStoredSession } from './sessions.js';

/** After a refusal, read on (discarding) up to this much so the client gets the reply, not a reset. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

export const importRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Any content type: the body is the capture file, read as it arrives (never buffered
  // whole). Scoped to this plugin, so other routes keep their JSON parsing.
  // JSON and text too: a client that labels the file application/json gets it imported,
  // not parsed.
  try {
    const undone = await app.store.recoverInterruptedImports((id) => app.sessionDir(id));
    if (undone.length > 0) app.log.warn({ sessions: undone }, 'imports interrupted by the last stop were undone; import those files again');
  } catch (err) {
    // a store that does not answer now must not keep the service from starting: the next start checks again
    app.log.warn({ err: (err as Error).message }, 'imports interrupted by the last stop could not be checked now');
  }
  // Deleting a session while its file is being imported would leave the import writing
  // rows for a session that is gone: refused until the import ends (or the upload is
  // aborted). The owner file (recording/import.ts) also covers an import another process runs
  // on this database.
  app.sessionDeleteHooks.push(async (id) => {
    const session = await app.store.getSession(id);
    if (session?.kind === 'import' && session.state === 'capturing' && importOwnerAlive(app.sessionDir(id))) {
      throw new AckscopeError(
        'ACKSCOPE_ERR_SESSION_STATE',
        `session ${id} is importing a capture file: delete it once the import has ended (or abort the upload)`,
        { state: session.state },
      );
    }
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  app.post(
    '/sessions/:id/import',
    {
      schema: {
        tags: ['capture'],
        summary: 'Import a pcap or pcapng file (raw request body) into a session of kind import',
        description:
          'The body is streamed; files over ACKSCOPE_MAX_IMPORT_BYTES get 413. A malformed file gets 400 ' +
          'ACKSCOPE_ERR_CAPTURE_FILE with the byte offset, and nothing of it is kept.',
        params: IdParams,
        querystring: Type.Object({ filename: Type.Optional(Type.String({ maxLength: 1024 })) }),
        response: {
          200: Type.Object({
            session: Type.Ref('Session'),
            import: Type.Object({
              format: Type.String(),
              bytes: Type.Integer(),
              frames: Type.Integer(),
              tcp: Type.Integer(),
              flows: Type.Integer(),
              duplicateCopies: Type.Integer({ description: 'pcapng copies of one packet dropped (epb_packetid)' }),
            }),
          }),
          413: Type.Ref('ErrorReply'),
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const id = req.params.id;
      const session = await requireStoredSession(app.store, id);
      const max = app.config.maxImportBytes;
      try {
        if (session.kind !== 'import') {
          throw new AckscopeError('ACKSCOPE_ERR_SESSION_KIND', `session ${id} is a live session: import needs a session of kind import`);
        }
        const declared = Number(req.headers['content-length'] ?? NaN);
        if (declared > max) {
          throw new AckscopeError(
            'ACKSCOPE_ERR_PAYLOAD_TOO_LARGE',
            `capture file of ${declared} bytes is larger than the limit of ${max} bytes (ACKSCOPE_MAX_IMPORT_BYTES)`,
            { limit: max },
          );
        }
        // owner first, then the claim: a restart between the two finds no live owner and undoes it
        claimImportOwner(app.sessionDir(id));
        // claim the session: two imports into one session must not interleave
        if (!(await app.store.claimImport(id))) {
          releaseImportOwner(app.sessionDir(id));
          throw new AckscopeError(
            'ACKSCOPE_ERR_SESSION_STATE',
            `session ${id} is ${session.state}: a file can be imported once, into a new session`,
          );
        }
      } catch (err) {
        await drain(req.raw);
        throw err;
      }

      const dir = app.sessionDir(id);
      const captureFile = join(dir, CAPTURE_FILE_NAME);
      const log = req.log.child({ sessionId: id });
      try {
        const result = await app.store.importCapture(id, req.raw, { captureFile, maxBytes: max, sessionDir: dir });
        await app.store.finishImport(id, {
          state: 'stopped',
          started_ns: result.firstNs,
          stopped_ns: result.lastNs,
          capture_file: relative(app.config.dataDir, captureFile),
          source_file: req.query.filename ?? null,
          // the file's own drop counts, as libpcap's counters of a live capture
          pcap_dropped: result.drops?.osDropped ?? null,
          pcap_if_dropped: result.drops?.ifDropped ?? null,
        });
        const c = result.counters;
        log.info({ format: result.format, bytes: result.bytes, frames: c.frames, tcp: c.tcp, flows: c.flows }, 'capture imported');
        return {
          session: sessionToApi((await app.store.getSession(id))!),
          import: {
            format: result.format,
            bytes: result.bytes,
            frames: c.frames,
            tcp: c.tcp,
            flows: c.flows,
            duplicateCopies: result.duplicateCopies,
          },
        };
      } catch (err) {
        await app.store.abortImport(id);
        await drain(req.raw);
        throw err;
      } finally {
        releaseImportOwner(dir);
      }
    },
  );
};

/** Reads and discards what is left of the body (bounded), so the error reply reaches the client. */
async function drain(body: IncomingMessage): Promise<void> {
  if (body.readableEnded || body.destroyed) return;
  let seen = 0;
  await new Promise<void>((resolve) => {
    const done = () => {
      body.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DRAIN_LIMIT_BYTES) done();
    };
    body.on('data', onData);
    body.once('end', done);
    body.once('error', done);
    body.once('close', done);
    body.resume();
  });
}
