import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { correlateSession } from '../analysis/correlation.js';
import { correlateSessionInClickHouse } from '../analysis/clickhouse-correlation.js';
import { copySessionFromSqlite } from '../clickhouse/copy-session.js';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { migrateClickHouse } from '../clickhouse/migrate.js';
import { parseClickHouseUrl } from '../clickhouse/store-url.js';
import { AckscopeError } from '../core/errors.js';
import { startClickHouse, type RunningClickHouse } from '../fixtures/clickhouse-server.js';
import { tempDir } from './helpers/app.js';
import { buildStoreCapture, type StoreCapture } from './helpers/store-capture.js';

/**
 * The differential test of the two stores: the same session correlated from SQLite
 * (per-completion index look-ups) and from ClickHouse (set-based queries) gives the
 * same record for every completion, the same ordering verdicts and offset shifts.
 */
let one: RunningClickHouse;
let two: RunningClickHouse;
let dir: ReturnType<typeof tempDir>;
const captures: StoreCapture[] = [];
before(async () => {
  dir = tempDir();
  for (const [seed, scale] of [[1, 1], [2, 1], [3, 4]] as const) captures.push(await buildStoreCapture(join(dir.dir, `s${seed}.db`), seed, scale));
  [one, two] = await Promise.all([startClickHouse(), startClickHouse({ shards: 2 })]);
});
after(async () => {
  for (const c of captures) c.db.close();
  dir?.cleanup();
  await Promise.all([one?.stop(), two?.stop()]);
});

function stageCounts(records: { stage: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) out[r.stage] = (out[r.stage] ?? 0) + 1;
  return out;
}

for (const layout of ['one node', 'two shards'] as const) {
  test(`${layout}: ClickHouse's set-based correlation equals SQLite's, completion by completion`, async () => {
    const client = new ClickHouseClient(parseClickHouseUrl((layout === 'one node' ? one : two).url('correlation_test')));
    try {
      await migrateClickHouse(client);
      for (const [i, capture] of captures.entries()) {
        const target = 100 + i;
        await copySessionFromSqlite(capture.db, client, capture.sessionId, { targetSessionId: target, host: 'h' });
        const lite = correlateSession(capture.db, capture.sessionId);
        const ch = await correlateSessionInClickHouse(client, target);
        assert.equal(ch.records.length, capture.completions);
        // the capture exercises every kind of answer, or the comparison proves little
        const stages = stageCounts(lite.records);
        for (const stage of ['acked', 'wire', 'unknown']) assert.ok((stages[stage] ?? 0) > 0, `capture ${i}: no ${stage} completion: ${JSON.stringify(stages)}`);
        assert.ok(lite.records.some((r) => r.sackedNs !== null), 'a completion decided with a SACK');
        assert.ok(lite.records.some((r) => r.retransmitted), 'a retransmitted completion');
        assert.ok(lite.records.some((r) => r.kernel !== null), 'a completion with a kernel witness');
        assert.ok(ch.store.lookups.secondPass > 0 || i < 2, `capture ${i}: the jumbo flow needs the second pass`);
        for (let k = 0; k < lite.records.length; k++) {
          assert.deepEqual(ch.records[k], lite.records[k], `capture ${i}, completion ${lite.records[k].completionId}`);
        }
        assert.equal(ch.baseNs, lite.baseNs);
        assert.deepEqual([ch.captureStartNs, ch.captureEndNs, ch.kernelDrops], [lite.captureStartNs, lite.captureEndNs, lite.kernelDrops]);
        assert.deepEqual(ch.flows, lite.flows);
        assert.deepEqual(ch.ordering, lite.ordering);
        assert.deepEqual([...ch.offsetShifts], [...lite.offsetShifts]);
        assert.equal(ch.session.id, target);
      }
      await assert.rejects(correlateSessionInClickHouse(client, 999), (err: unknown) => err instanceof AckscopeError && err.code === 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
    } finally {
      client.close();
    }
  });
}
