import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { COPIED_TABLES, copySessionFromSqlite, deleteSessionRows, type CopiedTable } from '../clickhouse/copy-session.js';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { migrateClickHouse } from '../clickhouse/migrate.js';
import { identifier, literal, sql } from '../clickhouse/sql.js';
import { parseClickHouseUrl } from '../clickhouse/store-url.js';
import { TABLES, TABLE_NAMES } from '../clickhouse/tables.js';
import { stateHostClockError } from '../db/session-hosts.js';
import { AckscopeError } from '../core/errors.js';
import { startClickHouse, type RunningClickHouse } from '../fixtures/clickhouse-server.js';
import { tempDir } from './helpers/app.js';
import { buildStoreCapture, type StoreCapture } from './helpers/store-capture.js';

/**
 * What each ClickHouse table holds of an SQLite session, written here from the two
 * schemas (migrations/00*.sql and migrations/clickhouse/001_init.sql), not from the copy's code:
 * the SQLite rows of the session, and the id columns ClickHouse names differently.
 */
const SQLITE_ROWS: Record<CopiedTable, { query: string; renamed: Record<string, string> }> = {
  sessions: { query: 'SELECT * FROM sessions WHERE id = ?', renamed: { session_id: 'id' } },
  session_hosts: { query: 'SELECT * FROM session_hosts WHERE session_id = ?', renamed: {} },
  flows: { query: 'SELECT * FROM flows WHERE session_id = ?', renamed: { flow_id: 'id' } },
  frames: { query: 'SELECT * FROM frames WHERE session_id = ?', renamed: {} },
  sent_advances: { query: 'SELECT * FROM sent_advances WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)', renamed: {} },
  ack_advances: { query: 'SELECT * FROM ack_advances WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)', renamed: {} },
  sacks: { query: 'SELECT *, frame_id % 4294967296 AS frame_no FROM sacks WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)', renamed: {} },
  tags: { query: 'SELECT *, frame_id % 4294967296 AS frame_no FROM tags WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)', renamed: {} },
  retransmissions: { query: 'SELECT *, frame_id % 4294967296 AS frame_no FROM retransmissions WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)', renamed: {} },
  completions: { query: 'SELECT * FROM completions WHERE session_id = ?', renamed: { completion_id: 'id' } },
  kernel_witness: { query: 'SELECT * FROM kernel_witness WHERE completion_id IN (SELECT id FROM completions WHERE session_id = ?)', renamed: {} },
  session_traces: { query: 'SELECT * FROM session_traces WHERE session_id = ?', renamed: {} },
};

const canonical = (v: unknown) => (v === null ? 'NULL' : typeof v === 'string' ? JSON.stringify(v) : String(v));

/** Row count and a checksum of a table's rows of the session, on the columns both stores have, order-free. */
function digest(rows: Record<string, unknown>[], columns: string[]): { rows: number; sha256: string } {
  const lines = rows.map((r) => columns.map((c) => canonical(r[c])).join('\t')).sort();
  return { rows: lines.length, sha256: createHash('sha256').update(lines.join('\n')).digest('hex') };
}

async function compareSession(client: ClickHouseClient, capture: StoreCapture, targetId: number) {
  for (const table of COPIED_TABLES) {
    const spec = SQLITE_ROWS[table];
    const sqliteRows = capture.db.prepare(spec.query).safeIntegers(true).all(capture.sessionId) as Record<string, unknown>[];
    const chText = await client.query(
      sql`SELECT * FROM ${identifier(table)} WHERE session_id = ${literal(targetId, 'UInt64')} FORMAT JSONEachRow`,
    );
    // ClickHouse quotes 64-bit integers in JSON: back to integers by the column's type
    const integer = new Set(TABLES[table].columns.filter((c) => /Int/.test(c.type)).map((c) => c.name));
    const chRows = chText
      .split('\n')
      .filter(Boolean)
      .map((l) => Object.fromEntries(Object.entries(JSON.parse(l) as Record<string, unknown>).map(([k, v]) => [k, integer.has(k) && v !== null ? BigInt(v as string | number) : v])));
    // ClickHouse's renamed ids, compared under SQLite's names
    for (const row of chRows) for (const [ch, lite] of Object.entries(spec.renamed)) row[lite] = row[ch];
    const shared = Object.keys(sqliteRows[0] ?? {}).filter((c) => chRows.length === 0 || c in chRows[0]);
    // what is not shared must be an id ClickHouse derives (frame ids) or a SQLite-only key
    const notCopied = Object.keys(sqliteRows[0] ?? {}).filter((c) => !shared.includes(c));
    assert.ok(notCopied.every((c) => ['id', 'frame_id', 'flow_key'].includes(c)), `${table}: ${notCopied.join(', ')} not in ClickHouse`);
    // the copy may give the session another id: SQLite's rows under the id ClickHouse holds
    const retargeted = sqliteRows.map((r) => ({ ...r, ...('session_id' in r ? { session_id: BigInt(targetId) } : {}), ...(table === 'sessions' ? { id: BigInt(targetId) } : {}) }));
    const fromSqlite = digest(retargeted, shared);
    const fromClickHouse = digest(chRows, shared);
    assert.ok(fromSqlite.rows > 0, `${table}: the capture has rows`);
    assert.deepEqual(fromClickHouse, fromSqlite, table);
  }
}

let one: RunningClickHouse;
let two: RunningClickHouse;
let capture: StoreCapture;
let dir: ReturnType<typeof tempDir>;
before(async () => {
  dir = tempDir();
  capture = await buildStoreCapture(join(dir.dir, 'store.db'));
  // two hosts' stated clock errors: copied under their own names, not the copying host's
  stateHostClockError(capture.db, capture.sessionId, 'sender-1', 250_000n);
  stateHostClockError(capture.db, capture.sessionId, 'capture-1', 1_000n);
  [one, two] = await Promise.all([startClickHouse(), startClickHouse({ shards: 2 })]);
});
after(async () => {
  capture?.db.close();
  dir?.cleanup();
  await Promise.all([one?.stop(), two?.stop()]);
});

for (const layout of ['one node', 'two shards'] as const) {
  test(`${layout}: a session imported into SQLite is copied whole; row counts and checksums agree per table`, async () => {
    const client = new ClickHouseClient(parseClickHouseUrl((layout === 'one node' ? one : two).url('copy_test')));
    try {
      await migrateClickHouse(client);
      const result = await copySessionFromSqlite(capture.db, client, capture.sessionId, { host: 'host-a' });
      assert.equal(result.sessionId, capture.sessionId);
      assert.equal(result.rows.completions, capture.completions);
      await compareSession(client, capture, capture.sessionId);
      // the same session again under another id: no collision, same contents
      await copySessionFromSqlite(capture.db, client, capture.sessionId, { host: 'host-b', targetSessionId: 77 });
      await compareSession(client, capture, 77);
      const hosts = await client.rows(sql`SELECT DISTINCT host FROM ${identifier('frames')} WHERE session_id = 77`);
      assert.deepEqual(hosts, [['host-b']]);
      await assert.rejects(copySessionFromSqlite(capture.db, client, capture.sessionId), (err: unknown) => err instanceof AckscopeError && err.code === 'ACKSCOPE_ERR_CONFLICT');
      // deleting one copy leaves the other whole (mutations run in the background: wait for them)
      await deleteSessionRows(client, 77);
      for (let host = 0; host < client.hostCount; host++) {
        while (Number((await client.rows(sql`SELECT count() FROM system.mutations WHERE database = 'copy_test' AND is_done = 0`, { host }))[0][0]) > 0) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      for (const table of TABLE_NAMES) {
        const left = await client.rows(sql`SELECT count() FROM ${identifier(table)} WHERE session_id = 77`);
        assert.equal(Number(left[0][0]), 0, table);
      }
      await compareSession(client, capture, capture.sessionId);
      if (layout === 'two shards') {
        // each flow's rows on one shard (the correlation's joins stay local), all of them somewhere
        for (const table of ['frames', 'sent_advances', 'ack_advances', 'sacks'] as const) {
          const perShard = await Promise.all(
            [0, 1].map(async (host) => (await client.rows(sql`SELECT DISTINCT session_id, flow_id FROM ${identifier(`${table}_local`)}`, { host })).map((r) => r.join('/'))),
          );
          const overlap = perShard[0].filter((k) => perShard[1].includes(k));
          assert.deepEqual(overlap, [], table);
          const all = (await client.rows(sql`SELECT DISTINCT session_id, flow_id FROM ${identifier(table)}`)).map((r) => r.join('/'));
          assert.deepEqual([...perShard[0], ...perShard[1]].sort(), all.sort(), table);
        }
      }
    } finally {
      client.close();
    }
  });
}
