import { buildApp, type App } from './app.js';
import { configFromEnv } from './config.js';
import { exposureProblem } from './auth.js';
import { AckscopeError } from '../core/errors.js';
import { hostLabel } from '../clickhouse/store-url.js';

/**
 * Starts the service and shuts it down gracefully on SIGINT/SIGTERM: stop accepting,
 * let in-flight requests finish, stop captures, close the database.
 */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<App> {
  const config = configFromEnv(env);
  // Before anything opens: no database, no capture, no port on a refused configuration.
  const exposure = exposureProblem(config.host, config.token);
  if (exposure) throw new AckscopeError('ACKSCOPE_ERR_CONFIG_INVALID', exposure, { host: config.host });
  const app = await buildApp(config);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      app.log.error('shutdown took over 10 s, exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    app.close().then(
      () => {
        app.log.info('closed');
        process.exitCode = 0;
      },
      (err) => {
        app.log.error({ err }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  await app.listen({ host: config.host, port: config.port });
  // the store's address without its user or password (hostLabel), never the URL as given
  const store =
    config.store.kind === 'sqlite'
      ? { store: 'sqlite', db: config.dbPath }
      : { store: 'clickhouse', hosts: config.store.config.hosts.map(hostLabel), database: config.store.config.database };
  app.log.info({ ...store, docs: `http://${config.host}:${config.port}/docs` }, 'ackscope ready');
  return app;
}
