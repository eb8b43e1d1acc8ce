import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { parseKernelWitness } from '../../core/kernel-witness.js';
import { AckscopeError } from '../../core/errors.js';
import { IdParams, errorResponses } from '../schemas/common.js';
import { requireStoredSession } from './sessions.js';
import { TraceManager } from '../../recording/trace.js';

const NsOrNull = Type.Union([Type.String({ pattern: '^[0-9]{1,19}$' }), Type.Null()]);

const Witness = Type.Object(
  {
    flow: Type.Object({ srcAddr: Type.String(), srcPort: Type.Integer(), dstAddr: Type.String(), dstPort: Type.Integer() }),
    writeId: Type.Integer({ minimum: 0 }),
    byte: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]),
    qdiscInNs: NsOrNull,
    qdiscOutNs: NsOrNull,
    driverNs: NsOrNull,
    ackArrivedNs: NsOrNull,
    ackProcessedNs: NsOrNull,
    retransmitted: Type.Boolean(),
  },
  { description: "the kernel tracer's moments of one completion's last byte (epoch ns); null: not seen" },
);

const TraceStatsSchema = Type.Object({
  target: Type.String({ description: 'what was traced: a command line, pid N or a cgroup' }),
  lostEvents: Type.Integer({ minimum: 0, description: 'events the ring buffer lost' }),
  calls: Type.Integer({ minimum: 0 }),
  uncovered: Type.Integer({ minimum: 0, description: 'sends the tracer saw but cannot follow (sendfile, splice, io_uring)' }),
  momentsWithoutCall: Type.Integer({ minimum: 0 }),
  missing: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), { description: 'calls with bytes whose moment was not seen, per moment' }),
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
});

/**
 * The kernel tracer's witness of completions already posted, and what the tracer said
 * about itself; the tracer driven by the service. On either store (app.store).
 */
export const traceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const traces = new TraceManager({ rows: app.store, log: app.log.child({ component: 'trace' }) });
  app.sessionDeleteHooks.push((id) => traces.stop(id));
  app.addHook('onClose', async () => {
    await traces.stopAll();
  });

  app.post(
    '/sessions/:id/trace',
    {
      schema: {
        tags: ['capture'],
        summary: 'Trace a running process (or a cgroup) with the kernel tracer into this live session: every send call becomes a completion with its kernel witness',
        params: IdParams,
        body: Type.Union([
          Type.Object({ pid: Type.Integer({ minimum: 1 }), followChildren: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
          Type.Object({ cgroup: Type.String({ minLength: 1, maxLength: 4096, pattern: '^/sys/fs/cgroup/' }) }, { additionalProperties: false }),
        ]),
        response: { 202: Type.Object({ tracing: Type.Boolean() }), ...errorResponses },
      },
    },
    async (req, reply) => {
      const session = await requireStoredSession(app.store, req.params.id);
      if (session.kind !== 'live') {
        throw new AckscopeError('ACKSCOPE_ERR_SESSION_KIND', `session ${session.id} is an import session: trace into a live session`, { id: session.id });
      }
      traces.start(session.id, req.body);
      reply.code(202);
      return { tracing: true };
    },
  );

  app.post(
    '/sessions/:id/trace/stop',
    {
      schema: {
        tags: ['capture'],
        summary: "Detach the kernel tracer from the session's process (the process goes on); its last records are stored first",
        params: IdParams,
        response: { 200: Type.Object({ tracing: Type.Boolean() }), ...errorResponses },
      },
    },
    async (req) => {
      await requireStoredSession(app.store, req.params.id);
      await traces.stop(req.params.id);
      return { tracing: false };
    },
  );

  app.post(
    '/sessions/:id/kernel-witness',
    {
      schema: {
        tags: ['completions'],
        summary: "Store the kernel tracer's witness of posted completions (replaces an earlier witness of the same completion)",
        params: IdParams,
        body: Type.Object({ witnesses: Type.Array(Witness, { maxItems: 100_000 }), trace: Type.Optional(TraceStatsSchema) }),
        response: { 200: Type.Object({ stored: Type.Integer() }), ...errorResponses },
      },
    },
    async (req) => {
      await requireStoredSession(app.store, req.params.id);
      const rows = req.body.witnesses.map((w, i) => parseKernelWitness(w, i));
      const stored = await app.store.storeKernelWitnesses(req.params.id, rows);
      if (req.body.trace) await app.store.storeTraceStats(req.params.id, req.body.trace);
      return { stored };
    },
  );

  app.get(
    '/sessions/:id/trace',
    {
      schema: {
        tags: ['completions'],
        summary: 'What the kernel tracer said about a traced session: lost events, uncovered sends, missing moments',
        params: IdParams,
        response: { 200: TraceStatsSchema, ...errorResponses },
      },
    },
    async (req) => {
      await requireStoredSession(app.store, req.params.id);
      const stats = await app.store.getTraceStats(req.params.id);
      if (!stats) throw new AckscopeError('ACKSCOPE_ERR_NOT_FOUND', `session ${req.params.id} was not traced`, { id: req.params.id });
      return stats;
    },
  );
};
