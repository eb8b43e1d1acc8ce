import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { startClickHouse } from '../fixtures/clickhouse-server.js';

/** One statement over plain HTTP as the default user (the fixture's own check, not the store's client). */
function query(port: number, sql: string, settings = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/?${settings}` }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(body))));
    });
    req.on('error', reject);
    req.end(sql);
  });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The real user id a process runs as, from /proc. */
function processUid(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

function clickhouseUid(): number {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('clickhouse:'));
  return Number(line?.split(':')[2]);
}

test('one node starts as the clickhouse user, answers, and stop() leaves no process or folder', async () => {
  const ch = await startClickHouse();
  const node = ch.nodes[0];
  const pid = node.pid!;
  try {
    assert.equal((await query(node.httpPort, 'SELECT version()')).trim(), '18.16.1');
    assert.equal(processUid(pid), clickhouseUid());
  } finally {
    await ch.stop();
  }
  assert.equal(processAlive(pid), false);
  assert.equal(existsSync(node.dir), false);
  await assert.rejects(query(node.httpPort, 'SELECT 1'));
  await ch.stop(); // a second stop is harmless
});

test('two shards on one machine form one cluster; a Distributed table spreads rows over both', async () => {
  const ch = await startClickHouse({ shards: 2 });
  try {
    assert.equal(ch.nodes.length, 2);
    assert.notEqual(ch.nodes[0].httpPort, ch.nodes[1].httpPort);
    for (const node of ch.nodes) {
      const shards = await query(node.httpPort, `SELECT count() FROM system.clusters WHERE cluster = '${ch.cluster}'`);
      assert.equal(shards.trim(), '2');
      await query(node.httpPort, 'CREATE TABLE default.t_local (k UInt64) ENGINE = MergeTree ORDER BY k');
    }
    await query(
      ch.nodes[0].httpPort,
      `CREATE TABLE default.t AS default.t_local ENGINE = Distributed(${ch.cluster}, default, t_local, k)`,
    );
    // synchronous: the rows are on their shards when the insert returns (a SETTINGS clause would apply to the SELECT)
    await query(ch.nodes[0].httpPort, 'INSERT INTO default.t SELECT number FROM system.numbers LIMIT 1000', 'insert_distributed_sync=1');
    const perShard = await Promise.all(ch.nodes.map((n) => query(n.httpPort, 'SELECT count() FROM default.t_local')));
    assert.deepEqual(perShard.map((c) => Number(c)), [500, 500]);
    assert.equal((await query(ch.nodes[0].httpPort, 'SELECT count() FROM default.t')).trim(), '1000');
  } finally {
    await ch.stop();
  }
  for (const node of ch.nodes) assert.equal(existsSync(node.dir), false);
});
