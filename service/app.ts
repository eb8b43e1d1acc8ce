import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { openDatabase, type Db } from '../db/connection.js';
import { AckscopeError, isAckscopeError } from '../core/errors.js';
import { HTTP_STATUS } from './http-errors.js';
import { ErrorReply } from './schemas/common.js';
import { Session } from './schemas/session.js';
import { healthRoutes } from './routes/health.js';
import { sessionRoutes } from './routes/sessions.js';
import { traceRoutes } from './routes/trace.js';
import { completionRoutes } from './routes/completions.js';
import { captureRoutes } from './routes/capture.js';
import { correlationRoutes } from './routes/correlations.js';
import { exportRoutes } from './routes/exports.js';
import { frameRoutes } from './routes/frames.js';
import { importRoutes } from './routes/import.js';
import { captureFileRoutes } from './routes/capture-file.js';
import { webRoutes } from './routes/web.js';
import { metricsRoutes } from './routes/metrics.js';
import { hostRoutes } from './routes/hosts.js';
import { checkHostName } from '../core/host-name.js';
import { CaptureManager } from '../recording/live/manager.js';
import { sharedStoreLiveSessions, sqliteLiveSessions } from '../recording/live/live-sessions.js';
import { configFromEnv, type Config } from './config.js';
import { fieldProblems, validationMessage, type SchemaError } from './validation-message.js';
import { startRetention } from './retention.js';
import { PUBLIC_ROUTES, authRefusal } from './auth.js';
import type { SessionCorrelations, Store } from './store/store.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { CompletionIngest } from '../recording/completion-ingest.js';
import { ClickHouseStore, openClickHouseStore } from './store/clickhouse-store.js';
import { unsupportedRoutes } from './store/unsupported-routes.js';

export type SessionDeleteHook = (sessionId: number) => Promise<void> | void;
export type CloseHook = () => Promise<void> | void;

declare module 'fastify' {
  interface FastifyInstance {
    /** Where sessions live: SQLite or ClickHouse (service/store/store.ts). Routes ask it, not a database handle. */
    store: Store;
    /** The SQLite store's connection; on another store reading it throws ACKSCOPE_ERR_STORE_UNSUPPORTED (only SQLite-only routes use it). */
    db: Db;
    config: Config;
    /** Folder of a session's files (raw capture, exports). */
    sessionDir(sessionId: number): string;
    /** Run before a session's rows are deleted (e.g. stop its capture). */
    sessionDeleteHooks: SessionDeleteHook[];
    /** Correlations, summaries and exports: the store's (a worker thread on SQLite, analysis/correlation-runner.ts). */
    correlations: SessionCorrelations;
    /** SQLite: stores posted completions with a worker thread (recording/completion-ingest.ts); routes go through app.store. */
    completionIngest: CompletionIngest;
    /** Live captures, one worker thread each (routes/capture.ts drives them, routes/metrics.ts reads their samples). */
    captures: CaptureManager;
  }
}

export interface BuildOptions extends Partial<Config> {
  /** false for silent, a pino logger, or pino options. Default: pino at config.logLevel. */
  logger?: false | Logger;
}

export type App = FastifyInstance;

/** Each API area is one plugin with its schemas beside it; add an area with one line here. */
const routePlugins = [metricsRoutes, healthRoutes, sessionRoutes, hostRoutes, completionRoutes, traceRoutes, captureRoutes, correlationRoutes, exportRoutes, frameRoutes, importRoutes, captureFileRoutes, webRoutes];
/**
 * The areas a store other than SQLite serves (through app.store); the rest answer
 * ACKSCOPE_ERR_STORE_UNSUPPORTED there (store/unsupported-routes.ts).
 */
const storeRoutePlugins = [metricsRoutes, healthRoutes, sessionRoutes, hostRoutes, completionRoutes, captureRoutes, traceRoutes, correlationRoutes, exportRoutes, frameRoutes, importRoutes, captureFileRoutes, webRoutes, unsupportedRoutes];

/**
 * Builds the Fastify app: database opened and migrated, schemas registered, routes
 * mounted. Tests call it in-process with a temporary dbPath; `ackscope serve` listens.
 */
export async function buildApp(options: BuildOptions = {}): Promise<App> {
  // The token is never taken from the environment here, only from `options` (serve()
  // passes the environment's): an in-process app (tests, benches, the experiment driver)
  // answers its own inject() calls and listens on 127.0.0.1 at most.
  const base = configFromEnv({ ...process.env, ACKSCOPE_TOKEN: '', ACKSCOPE_TOKEN_FILE: '' });
  const config: Config = { ...base, token: null, ...stripUndefined(options) } as Config;
  if (options.dbPath && !options.dataDir) config.dataDir = join(options.dbPath, '..');
  // written in every row and listed as a session's host: the same rule as the hosts route's
  checkHostName(config.storeHost, 'ACKSCOPE_STORE_HOST', 'ACKSCOPE_ERR_CONFIG_INVALID');

  const loggerInstance =
    options.logger === false ? pino({ level: 'silent' }) : (options.logger ?? pino({ level: config.logLevel }));

  const app = Fastify({
    loggerInstance,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    bodyLimit: 16 * 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  const choice = config.store;
  const sqlite = choice.kind === 'sqlite';
  const store: Store = choice.kind === 'sqlite'
    ? new SqliteStore(openDatabase(config.dbPath), {
        correlationInWorker: config.correlationInWorker,
        correlationNice: config.correlationNice,
        ingestInWorker: config.ingestInWorker,
        host: config.storeHost,
      })
    : await openClickHouseStore(choice.config, {
        host: config.storeHost,
        correlationInWorker: config.correlationInWorker,
        correlationNice: config.correlationNice,
      });
  app.decorate('store', store);
  app.decorate('config', config);
  app.decorate('sessionDir', (id: number) => join(config.dataDir, 'sessions', String(id)));
  app.decorate('sessionDeleteHooks', [] as SessionDeleteHook[]);
  app.decorate('correlations', store.correlations);
  app.addHook('onClose', async () => {
    await store.close();
  });
  let db: Db | null = null;
  const captureLog = app.log.child({ component: 'capture' });
  if (store instanceof SqliteStore) {
    db = store.db;
    app.decorate('db', db);
    app.decorate('completionIngest', store.completionIngest);
    app.decorate(
      'captures',
      new CaptureManager({
        sessions: sqliteLiveSessions(db),
        rows: { kind: 'sqlite', dbPath: config.dbPath },
        dataDir: config.dataDir,
        sessionDir: (id) => app.sessionDir(id),
        log: captureLog,
      }),
    );
  } else {
    // live capture on ClickHouse: the frames from the worker, the session row through the store
    if (choice.kind === 'clickhouse' && store instanceof ClickHouseStore) {
      app.decorate(
        'captures',
        new CaptureManager({
          sessions: sharedStoreLiveSessions(store, join(config.dataDir, 'sessions')),
          rows: { kind: 'clickhouse', config: choice.config, host: config.storeHost },
          dataDir: config.dataDir,
          sessionDir: (id) => app.sessionDir(id),
          log: captureLog,
        }),
      );
    }
    const unsupported = (what: string) => () => {
      throw new AckscopeError('ACKSCOPE_ERR_STORE_UNSUPPORTED', `${what} is served by the SQLite store only, not by the ${store.kind} store (ACKSCOPE_STORE)`);
    };
    app.decorate('db', { getter: unsupported('the SQLite database') });
    app.decorate('completionIngest', { getter: unsupported('the SQLite ingest worker') });
  }
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  const token = config.token;
  if (token !== null) {
    // Root hook: runs for every route of every plugin and for unknown URLs (a caller
    // without the token learns nothing, not even which routes exist).
    app.addHook('onRequest', async (req, reply) => {
      if (req.routeOptions.url !== undefined && PUBLIC_ROUTES.has(req.routeOptions.url)) return;
      const refusal = authRefusal(token, req.headers.authorization);
      if (refusal) {
        reply.header('www-authenticate', 'Bearer realm="ackscope"');
        throw refusal;
      }
    });
  }

  app.addSchema(ErrorReply);
  app.addSchema(Session);

  app.setErrorHandler((err: FastifyError | AckscopeError, req, reply) => {
    const { status, body } = errorToReply(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: body.error.code, msg: body.error.message }, 'request refused');
    reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({
      error: { code: 'ACKSCOPE_ERR_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` },
    });
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'ackscope',
        version: '0.1.0',
        description:
          'What did a send completion mean: queued, on the wire, or acked? Captures, completions, correlations.',
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  for (const plugin of sqlite ? routePlugins : storeRoutePlugins) await app.register(plugin);

  const retention = startRetention(
    { store: store.retention(), sessionDir: (id) => join(config.dataDir, 'sessions', String(id)), log: loggerInstance.child({ component: 'retention' }) },
    config,
    config.retentionIntervalMs,
  );
  // preClose: before the onClose hook that closes the store
  app.addHook('preClose', async () => {
    await retention.stop();
  });
  return app as unknown as App;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'logger')) as Partial<T>;
}

/** Every error becomes `{ error: { code, message } }` with a status a client can act on. */
export function errorToReply(err: FastifyError | AckscopeError | Error): {
  status: number;
  body: { error: { code: string; message: string; details?: Record<string, unknown> } };
} {
  if (isAckscopeError(err)) {
    return {
      status: HTTP_STATUS[err.code],
      body: { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } },
    };
  }
  const fe = err as FastifyError;
  if (fe.validation && fe.validation.length > 0) {
    // every bad field at once (ajv allErrors), each named with what it accepts
    const problems = fieldProblems(fe.validationContext ?? 'request', fe.validation as SchemaError[]);
    return {
      status: 400,
      body: {
        error: {
          code: 'ACKSCOPE_ERR_VALIDATION',
          message: validationMessage(problems),
          details: { field: problems[0].field, fields: problems },
        },
      },
    };
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { error: { code: 'ACKSCOPE_ERR_PAYLOAD_TOO_LARGE', message: fe.message } } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { error: { code: 'ACKSCOPE_ERR_UNSUPPORTED_MEDIA', message: fe.message } } };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { status: 400, body: { error: { code: 'ACKSCOPE_ERR_VALIDATION', message: `body: ${fe.message}` } } };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, body: { error: { code: 'ACKSCOPE_ERR_VALIDATION', message: fe.message } } };
  }
  return {
    status: HTTP_STATUS.ACKSCOPE_ERR_INTERNAL,
    body: { error: { code: 'ACKSCOPE_ERR_INTERNAL', message: err.message || 'internal error' } },
  };
}
