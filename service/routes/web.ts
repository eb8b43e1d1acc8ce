import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { AckscopeError } from '../../core/errors.js';
import { IdParams } from '../schemas/common.js';
import { sessionToApi } from '../schemas/session.js';
import { absoluteNs } from '../../analysis/correlation.js';
import { timelineColumns, MAX_TIMELINE_WRITES } from '../web/timeline.js';
import { SequenceBuilder, MAX_SEQUENCE_POINTS } from '../web/sequence.js';
import type { LiveData, SessionListItem, WriteDetail } from '../web/src/shapes.js';
import { frameToApi } from '../schemas/frames.js';
import { correlationToApi } from '../schemas/correlation.js';
import { requireStoredSession } from './sessions.js';

/**
 * The web page: GET / (service/web/index.html) and its bundle under /ui/ (built by
 * scripts/build.sh with esbuild into dist/web/), plus the page's own compact data
 * routes under /ui/data/. All hidden from the OpenAPI document: they are the page's
 * internals, not API (the page also links the public exports). On either store: the
 * data routes read through app.store (its webPage reads and the correlations).
 */
const ROOT = new URL(import.meta.url.includes('/dist/') ? '../../../' : '../../', import.meta.url);
const INDEX_HTML = fileURLToPath(new URL('service/web/index.html', ROOT));
const BUNDLE_DIR = new URL('dist/web/', ROOT);

/** The bundle's files and their types; nothing else under /ui/ is served. */
const BUNDLE_FILES: Record<string, string> = {
  'main.js': 'text/javascript; charset=utf-8',
  'main.css': 'text/css; charset=utf-8',
  'main.js.map': 'application/json; charset=utf-8',
  'main.css.map': 'application/json; charset=utf-8',
};

const hidden = { hide: true } as const;

export const webRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/', { schema: hidden }, async (_req, reply) => {
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache');
    return readFile(INDEX_HTML, 'utf8');
  });

  app.get('/ui/:file', { schema: { ...hidden, params: Type.Object({ file: Type.String() }) } }, async (req, reply) => {
    const type = BUNDLE_FILES[req.params.file];
    if (!type) throw new AckscopeError('ACKSCOPE_ERR_NOT_FOUND', `no web page file ${req.params.file}`);
    let body: Buffer;
    try {
      body = await readFile(new URL(req.params.file, BUNDLE_DIR));
    } catch {
      throw new AckscopeError(
        'ACKSCOPE_ERR_NOT_FOUND',
        `the web page is not built (dist/web/${req.params.file} is missing): run \`npm run build\``,
      );
    }
    // rebuilt in place by scripts/build.sh: the browser must ask again each time
    reply.type(type).header('cache-control', 'no-cache');
    return body;
  });

  app.get('/ui/data/sessions', { schema: hidden }, async (): Promise<{ items: SessionListItem[] }> => {
    const rows = await app.store.listSessions(500);
    const counts = await app.store.webPage.completionCounts(rows.map((r) => r.id));
    return {
      items: rows.map((row) => {
        const s = sessionToApi(row);
        return {
          id: s.id,
          name: s.name,
          kind: s.kind,
          state: s.state,
          failureReason: s.failureReason,
          createdAt: s.createdAt,
          frames: s.counts.frames,
          tcp: s.counts.tcp,
          completions: counts.get(s.id) ?? 0,
          drops: s.drops,
        };
      }),
    };
  });

  app.get(
    '/ui/data/sessions/:id/timeline',
    {
      schema: {
        ...hidden,
        params: IdParams,
        querystring: Type.Object({
          flow: Type.Integer({ minimum: 0, description: 'flow id; 0: completions no flow matched' }),
          max: Type.Optional(Type.Integer({ minimum: 1, maximum: 200_000, default: MAX_TIMELINE_WRITES })),
        }),
      },
    },
    async (req, reply) => {
      const flowId = req.query.flow === 0 ? null : req.query.flow;
      // only this flow's records cross from the correlation worker
      const { head: c, records } = await app.correlations.flowRecords(req.params.id, flowId);
      let baseRelNs: number;
      if (flowId === null) {
        baseRelNs = records.reduce((lo, r) => Math.min(lo, r.submittedNs), records[0]?.submittedNs ?? 0);
      } else {
        const flow = c.flows.find((f) => f.id === flowId);
        if (!flow) throw new AckscopeError('ACKSCOPE_ERR_NOT_FOUND', `session ${c.session.id} has no flow ${flowId}`);
        baseRelNs = flow.firstNs;
      }
      reply.header('cache-control', 'no-cache');
      return timelineColumns(c.session.id, records, flowId, { baseNs: absoluteNs(c, baseRelNs), baseRelNs }, req.query.max);
    },
  );

  app.get(
    '/ui/data/sessions/:id/sequence',
    {
      schema: {
        ...hidden,
        params: IdParams,
        querystring: Type.Object({
          flow: Type.Integer({ minimum: 1 }),
          dir: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)], { description: 'default: the side that sent more' })),
          max: Type.Optional(Type.Integer({ minimum: 1, maximum: 200_000, default: MAX_SEQUENCE_POINTS })),
        }),
      },
    },
    async (req, reply) => {
      const sessionId = (await requireStoredSession(app.store, req.params.id)).id;
      const flowId = req.query.flow;
      const [flow] = await app.store.listFlows(sessionId, 1, flowId - 1);
      if (!flow || flow.id !== flowId) throw new AckscopeError('ACKSCOPE_ERR_NOT_FOUND', `session ${sessionId} has no flow ${flowId}`);
      const dir = req.query.dir ?? (flow.b_bytes > flow.a_bytes ? 1 : 0);
      const builder = new SequenceBuilder(dir, flow.first_ns);
      await app.store.webPage.eachSequenceFrame(sessionId, flowId, flow.first_ns, (frame) => builder.add(frame));
      reply.header('cache-control', 'no-cache');
      return builder.result(sessionId, flowId, req.query.max);
    },
  );

  app.get('/ui/data/sessions/:id/live', { schema: { ...hidden, params: IdParams } }, async (req, reply): Promise<LiveData> => {
    const s = sessionToApi(await requireStoredSession(app.store, req.params.id));
    const [counts, flows] = await Promise.all([app.store.webPage.completionCounts([s.id]), app.store.webPage.flowCounts(s.id)]);
    reply.header('cache-control', 'no-cache');
    return {
      sessionId: s.id,
      state: s.state,
      failureReason: s.failureReason,
      frames: s.counts.frames,
      tcp: s.counts.tcp,
      completions: counts.get(s.id) ?? 0,
      drops: s.drops,
      flows: flows.flows,
      busiestFlowId: flows.busiestFlowId,
    };
  });

  app.get(
    '/ui/data/sessions/:id/writes/:completionId',
    { schema: { ...hidden, params: Type.Object({ id: Type.Integer({ minimum: 1 }), completionId: Type.Integer({ minimum: 1 }) }) } },
    async (req, reply): Promise<WriteDetail> => {
      const { head: c, record } = await app.correlations.record(req.params.id, req.params.completionId);
      if (!record) {
        throw new AckscopeError('ACKSCOPE_ERR_NOT_FOUND', `session ${c.session.id} has no completion ${req.params.completionId}`);
      }
      // the capture's offsets: the completion's minus the flow side's shift (null: not alignable, nothing to show)
      const shift = record.flowId === null ? null : (c.offsetShifts.get(`${record.flowId}/${record.dataDir}`) ?? null);
      const found =
        record.flowId === null || record.dataDir === null || shift === null
          ? { data: [], ack: null }
          : await app.store.webPage.writeFrames(c.session.id, record.flowId, record.dataDir, record.offsetStart - shift, record.offsetEnd - shift);
      reply.header('cache-control', 'no-cache');
      return {
        sessionId: c.session.id,
        correlation: correlationToApi(c, record),
        frames: found.data.map(frameToApi),
        ack: found.ack ? frameToApi(found.ack) : null,
      };
    },
  );
};
