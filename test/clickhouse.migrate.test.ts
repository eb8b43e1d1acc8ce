import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { clickhouseHealth, healthGauges } from '../clickhouse/health.js';
import { loadClickHouseMigrations, migrateClickHouse, planStatements } from '../clickhouse/migrate.js';
import { literal, sql } from '../clickhouse/sql.js';
import { parseClickHouseUrl } from '../clickhouse/store-url.js';
import { TABLES, TABLE_NAMES } from '../clickhouse/tables.js';
import { AckscopeError } from '../core/errors.js';
import { loadMigrations } from '../db/migrate.js';
import { startClickHouse, TEST_USER, type RunningClickHouse } from '../fixtures/clickhouse-server.js';

let one: RunningClickHouse;
let two: RunningClickHouse;
before(async () => {
  one = await startClickHouse();
  two = await startClickHouse({ shards: 2 });
});
after(async () => {
  await Promise.all([one?.stop(), two?.stop()]);
});

const code = (expected: string) => (err: unknown) => {
  assert.ok(err instanceof AckscopeError, String(err));
  assert.equal(err.code, expected, err.message);
  return true;
};

test("SQLite's runner does not see the ClickHouse folder; ClickHouse's files are numbered from 1", () => {
  const sqlite = loadMigrations().map((m) => m.version);
  assert.deepEqual(sqlite, sqlite.map((_, i) => i + 1));
  assert.ok(!loadMigrations().some((m) => /ENGINE = MergeTree/.test(m.sql)));
  const clickhouse = loadClickHouseMigrations();
  assert.deepEqual(clickhouse.map((m) => m.version), clickhouse.map((_, i) => i + 1));
});

test('on a cluster each CREATE becomes a local MergeTree plus a Distributed table; other statements are refused', () => {
  const ddl = "-- comment; with a semicolon\nCREATE TABLE IF NOT EXISTS frames (\n  session_id UInt64\n) ENGINE = MergeTree ORDER BY session_id;\nALTER TABLE flows ADD COLUMN x UInt8;\n";
  assert.deepEqual(planStatements(ddl, { database: 'db' }).map((s) => s.text), [
    'CREATE TABLE IF NOT EXISTS frames (\n  session_id UInt64\n) ENGINE = MergeTree ORDER BY session_id',
    'ALTER TABLE flows ADD COLUMN x UInt8',
  ]);
  assert.deepEqual(planStatements(ddl, { database: 'db', cluster: 'c' }).map((s) => s.text), [
    'CREATE TABLE IF NOT EXISTS `frames_local` (\n  session_id UInt64\n) ENGINE = MergeTree ORDER BY session_id',
    `CREATE TABLE IF NOT EXISTS \`frames\` AS \`db\`.\`frames_local\` ENGINE = Distributed(\`c\`, \`db\`, \`frames_local\`, ${TABLES.frames.shardKey})`,
    'ALTER TABLE `flows_local` ADD COLUMN x UInt8',
    'ALTER TABLE `flows` ADD COLUMN x UInt8',
  ]);
  assert.throws(() => planStatements('CREATE TABLE IF NOT EXISTS users (x UInt8) ENGINE = Log;', { database: 'db', cluster: 'c' }), code('ACKSCOPE_ERR_INTERNAL'));
  assert.throws(() => planStatements('DROP TABLE frames;', { database: 'db', cluster: 'c' }), code('ACKSCOPE_ERR_INTERNAL'));
});

test('one node: applied in order and recorded; columns as clickhouse/tables.ts; again a no-op; health ok; a newer schema refused', async () => {
  const client = new ClickHouseClient(parseClickHouseUrl(one.url('migrate_one')));
  try {
    const latest = loadClickHouseMigrations().length;
    assert.deepEqual(await migrateClickHouse(client), { applied: loadClickHouseMigrations().map((m) => m.version), version: latest });
    const columns = await client.rows(
      sql`SELECT table, name, type FROM system.columns WHERE database = ${literal('migrate_one', 'String')}`, // 18.16 has no position column: rows come in definition order
    );
    for (const name of TABLE_NAMES) {
      const actual = columns.filter((c) => c[0] === name).map((c) => `${c[1]} ${c[2]}`);
      assert.deepEqual(actual, TABLES[name].columns.map((c) => `${c.name} ${c.type}`), name);
    }
    const recorded = await client.rows(sql`SELECT version, name FROM schema_migrations ORDER BY version`);
    assert.deepEqual(recorded, loadClickHouseMigrations().map((m) => [m.version, m.name]));
    assert.deepEqual(await migrateClickHouse(client), { applied: [], version: latest });

    const health = await clickhouseHealth(client);
    assert.equal(health.ok, true);
    assert.deepEqual(health.hosts.map((h) => [h.ok, h.schemaVersion]), [[true, latest]]);
    assert.deepEqual(healthGauges(health).map((g) => [g.name, g.value]), [['ackscope_store_up', 1], ['ackscope_store_schema_version', latest]]);

    await client.query(sql`INSERT INTO schema_migrations (version, name, applied_ns) VALUES (${literal(latest + 1, 'UInt32')}, 'from_the_future', 0)`);
    await assert.rejects(migrateClickHouse(client), (err: unknown) => {
      code('ACKSCOPE_ERR_DB_SCHEMA_TOO_NEW')(err);
      assert.match((err as Error).message, new RegExp(`version ${latest + 1}, this ackscope knows up to ${latest}`));
      return true;
    });
    const after = await clickhouseHealth(client);
    assert.equal(after.ok, false);
    assert.equal(after.hosts[0].error?.code, 'ACKSCOPE_ERR_DB_SCHEMA_TOO_NEW');
  } finally {
    client.close();
  }
});

test('health of a store that does not answer: not ok, with the error code, without throwing', async () => {
  const client = new ClickHouseClient(parseClickHouseUrl(`clickhouse://${TEST_USER.name}:wrong@127.0.0.1:${one.nodes[0].httpPort}/migrate_one`));
  try {
    const health = await clickhouseHealth(client);
    assert.equal(health.ok, false);
    assert.equal(health.hosts[0].error?.code, 'ACKSCOPE_ERR_STORE_REFUSED');
  } finally {
    client.close();
  }
});

test('two shards: every shard gets local MergeTree tables, Distributed tables over them, and its own record', async () => {
  const client = new ClickHouseClient(parseClickHouseUrl(two.url('migrate_two')));
  try {
    await migrateClickHouse(client);
    for (let host = 0; host < 2; host++) {
      const engines = new Map(
        (await client.rows(sql`SELECT name, engine FROM system.tables WHERE database = 'migrate_two'`, { host })).map((r) => [r[0], r[1]]),
      );
      for (const name of TABLE_NAMES) {
        assert.equal(engines.get(name), 'Distributed', `${name} on host ${host}`);
        assert.match(String(engines.get(`${name}_local`)), /MergeTree$/, `${name}_local on host ${host}`);
      }
      assert.deepEqual(await client.rows(sql`SELECT version FROM schema_migrations ORDER BY version`, { host }), loadClickHouseMigrations().map((m) => [m.version]));
    }
    assert.deepEqual((await migrateClickHouse(client)).applied, []);
    assert.equal((await clickhouseHealth(client)).ok, true);
  } finally {
    client.close();
  }
});

test('a cluster the server does not know, or a host list shorter than the cluster, is refused', async () => {
  const auth = `${encodeURIComponent(TEST_USER.name)}:${encodeURIComponent(TEST_USER.password)}`;
  const [a, b] = two.nodes.map((n) => n.httpPort);
  for (const url of [
    `clickhouse://${auth}@127.0.0.1:${a},127.0.0.1:${b}/migrate_x?cluster=no_such_cluster`,
    `clickhouse://${auth}@127.0.0.1:${a}/migrate_x?cluster=${two.cluster}`,
  ]) {
    const client = new ClickHouseClient(parseClickHouseUrl(url));
    try {
      await assert.rejects(migrateClickHouse(client), code('ACKSCOPE_ERR_CONFIG_INVALID'));
    } finally {
      client.close();
    }
  }
});
