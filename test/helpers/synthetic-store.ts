import { join } from 'node:path';
import { openDatabase, type Db } from '../../db/connection.js';
import { getSession } from '../../db/sessions.js';
import { SyntheticSession } from '../../fixtures/flowbuilder.js';
import { copySessionFromSqlite } from '../../clickhouse/copy-session.js';
import { ClickHouseStore } from '../../service/store/clickhouse-store.js';
import type { App } from '../../service/app.js';
import { tempDir } from './app.js';

/**
 * A synthetic session (fixtures/flowbuilder.ts: every frame stated, the answer known) in
 * the store of the app under test, so the correlation API tests run in the store matrix.
 *
 * SQLite: built straight into the app's own file, as before. ClickHouse: the session is
 * created through the store (Store.createSession, with the same settings), the rows are
 * built into a scratch SQLite file and written into the store by its bulk copy
 * (copySessionFromSqlite: one RowBinary stream per table, ids kept), then the session's
 * counters and state set through Store.updateSession, as finish() sets them on SQLite.
 */
export class StoredSynthetic {
  readonly session: SyntheticSession;
  private readonly scratch: { db: Db; cleanup: () => void } | null;

  constructor(
    private readonly app: App,
    private readonly name: string,
    private readonly settings: { clockUncertaintyNs?: bigint; nearMarginNs?: bigint } = {},
  ) {
    if (app.store.kind === 'sqlite') {
      this.scratch = null;
      this.session = new SyntheticSession(app.db, name, settings);
    } else {
      const t = tempDir('ackscope-synthetic-');
      const db = openDatabase(join(t.dir, 'scratch.db'));
      this.scratch = {
        db,
        cleanup: () => {
          db.close();
          t.cleanup();
        },
      };
      this.session = new SyntheticSession(db, name, settings);
    }
  }

  /** After the session's finish(): its id in the app's store. */
  async publish(): Promise<number> {
    if (!this.scratch) return this.session.id;
    const store = this.app.store;
    if (!(store instanceof ClickHouseStore)) throw new Error(`no synthetic sessions for the ${store.kind} store`);
    try {
      const id = (await store.createSession({ name: this.name, kind: 'import', ...this.settings })).id;
      await copySessionFromSqlite(this.scratch.db, store.client, this.session.id, { rowsOnly: true, targetSessionId: id, host: store.host });
      const row = getSession(this.scratch.db, this.session.id)!;
      await store.updateSession(id, {
        state: row.state,
        frames_total: row.frames_total,
        frames_tcp: row.frames_tcp,
        pcap_dropped: row.pcap_dropped,
        started_ns: row.started_ns,
        stopped_ns: row.stopped_ns,
      });
      return id;
    } finally {
      this.scratch.cleanup();
    }
  }
}
