import { after, before } from 'node:test';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { buildApp, type App, type BuildOptions } from '../../service/app.js';
import { chooseStore } from '../../clickhouse/store-url.js';
import { startClickHouse, type RunningClickHouse } from '../../fixtures/clickhouse-server.js';
import { tempDir } from './app.js';

/**
 * The store matrix: the API tests that go through HTTP only run once per store, one
 * test body each, parameterised by the leg:
 *
 *   for (const { store, testApp } of storeMatrix()) {
 *     test(`[${store}] …`, async () => { const { app, close } = await testApp(); … });
 *   }
 *
 * `sqlite`: the app on a real SQLite file in a temporary folder (helpers/app.ts).
 * `clickhouse`: the same app with ACKSCOPE_STORE pointing at a real ClickHouse server
 * (fixtures/clickhouse-server.ts), started once per test file by a `before` hook and
 * stopped by an `after` hook; each app gets its own database (named from its folder,
 * so an app reopened on the same folder finds its data again, as SQLite's file does).
 * No leg is skipped: a machine without clickhouse-server fails the ClickHouse leg
 * (scripts/setup.sh --test installs it).
 */
export type StoreName = 'sqlite' | 'clickhouse';

export interface StoreLeg {
  store: StoreName;
  /** A fresh app (or, given `dir`, the app of that folder again); close() stops it and removes a folder it made. */
  testApp(dir?: string, options?: BuildOptions): Promise<{ app: App; dir: string; close: () => Promise<void> }>;
}

let server: Promise<RunningClickHouse> | null = null;

function clickhouseServer(): Promise<RunningClickHouse> {
  server ??= startClickHouse();
  return server;
}

/** Call at the top level of a test file: its hooks start the server before the file's tests and stop it after them. */
export function storeMatrix(): StoreLeg[] {
  before(async () => {
    await clickhouseServer();
  });
  after(async () => {
    const running = server;
    server = null;
    if (running) await (await running).stop();
  });
  const open = async (store: StoreName, dir: string | undefined, options: BuildOptions = {}) => {
    const t = dir ? { dir, cleanup: () => {} } : tempDir();
    const dbPath = join(t.dir, 'ackscope.db');
    let extra: BuildOptions = {};
    if (store === 'clickhouse') {
      const database = `t_${createHash('sha256').update(t.dir).digest('hex').slice(0, 16)}`;
      extra = { store: chooseStore((await clickhouseServer()).url(database)), storeHost: 'test-host' };
    }
    const app = await buildApp({ dbPath, logger: false, ...extra, ...options });
    return {
      app,
      dir: t.dir,
      close: async () => {
        await app.close();
        t.cleanup();
      },
    };
  };
  return (['sqlite', 'clickhouse'] as const).map((store) => ({ store, testApp: (dir?: string, options?: BuildOptions) => open(store, dir, options) }));
}
