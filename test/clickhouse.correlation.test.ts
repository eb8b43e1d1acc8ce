import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { correlateSession } from '../analysis/correlation.js';
import { correlateSessionInClickHouse } from '../analysis/clickhouse-correlation.js';
import { copySessionFromSqlite } from '../clickhouse/copy-session.js';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { readFrameBounds } from '../clickhouse/correlation-reads.js';
import { sql } from '../clickhouse/sql.js';
import { migrateClickHouse } from '../clickhouse/migrate.js';
import { parseClickHouseUrl } from '../clickhouse/store-url.js';
import { AckscopeError } from '../core/errors.js';
import { startClickHouse, type RunningClickHouse } from '../fixtures/clickhouse-server.js';
import { openDatabase, type Db } from '../db/connection.js';
import { SyntheticSession } from '../fixtures/flowbuilder.js';
import { tempDir } from './helpers/app.js';
import { buildStoreCapture, type StoreCapture } from './helpers/store-capture.js';
import { storeKernelWitnesses } from '../db/kernel-witness.js';
import { storeKernelWitnesses as storeKernelWitnessesInClickHouse, type KernelWitnessInputRow } from '../clickhouse/kernel-witness.js';

/**
 * The differential test of the two stores: the same session correlated from SQLite
 * (per-completion index look-ups) and from ClickHouse (set-based queries) gives the
 * same record for every completion, the same ordering verdicts and offset shifts.
 */
let one: RunningClickHouse;
let two: RunningClickHouse;
let dir: ReturnType<typeof tempDir>;
const captures: StoreCapture[] = [];
let synthetic: Db;
const syntheticSessions: number[] = [];

/**
 * Sessions the correlation tests build with fixtures/flowbuilder: a capture started
 * mid-stream (offsets aligned by write tags), with SACKs, a retransmission, kernel drops
 * and a claimed clock error; a port reused by a second connection; completions without
 * any frame (times counted from the median submission).
 */
function buildSyntheticSessions(db: Db): number[] {
  const C: [string, number] = ['10.1.0.1', 5000];
  const S: [string, number] = ['10.1.0.2', 80];
  const mid = new SyntheticSession(db, 'mid-stream', { clockUncertaintyNs: 3000n, nearMarginNs: 2000n });
  const f = mid.flow({ a: C, b: S, firstUs: 0, synSeen: false });
  // the sender's offsets are 1 000 000 ahead of the capture's (it started before the capture)
  f.segment(10, 0, 1000).tag(10, 0, 7, 1_000_000, 1000);
  f.segment(20, 1000, 1000).tag(20, 1000, 8, 1_001_000, 3000);
  f.segment(30, 2000, 1000).segment(40, 3000, 1000);
  f.ack(50, 1000, [[2000, 3000]]);
  f.segment(60, 1000, 1000); // retransmitted
  f.ack(70, 4000);
  f.segment(80, 4000, 500);
  for (const [w, start, end, sub, done] of [[7, 0, 1000, 5, 12], [8, 1000, 4000, 15, 45], [9, 4000, 4500, 75, 79], [10, 4500, 5000, 90, 95]] as const) {
    mid.completion({ src: C, dst: S, writeId: w, start: 1_000_000 + start, end: 1_000_000 + end, submittedUs: sub, completedUs: done, tcpInfo: w === 8 ? { bytesSent: 1_004_000, bytesAcked: 1_001_000 } : undefined });
  }
  mid.finish({ startedUs: 0, stoppedUs: 200, dropped: 0 });

  const reuse = new SyntheticSession(db, 'port reuse');
  const first = reuse.flow({ a: C, b: S, firstUs: 0 });
  first.segment(10, 0, 100).ack(20, 100);
  const second = reuse.flow({ a: C, b: S, firstUs: 1000 });
  second.segment(1010, 0, 100).segment(1020, 100, 100).ack(1030, 200);
  reuse.completion({ src: C, dst: S, writeId: 0, start: 0, end: 100, submittedUs: 5, completedUs: 15 });
  reuse.completion({ src: C, dst: S, writeId: 1, start: 0, end: 200, submittedUs: 1005, completedUs: 1040 });
  reuse.finish({ startedUs: 0, stoppedUs: 2000, dropped: 2 });

  const none = new SyntheticSession(db, 'no frames');
  for (let w = 0; w < 5; w++) none.completion({ src: C, dst: S, writeId: w, start: w * 10, end: w * 10 + 10, submittedUs: w * 100, completedUs: w * 100 + 3 });
  none.finish({});
  return [mid.id, reuse.id, none.id];
}

before(async () => {
  dir = tempDir();
  for (const [seed, scale] of [[1, 1], [2, 1], [3, 4]] as const) captures.push(await buildStoreCapture(join(dir.dir, `s${seed}.db`), seed, scale));
  synthetic = openDatabase(join(dir.dir, 'synthetic.db'));
  syntheticSessions.push(...buildSyntheticSessions(synthetic));
  [one, two] = await Promise.all([startClickHouse(), startClickHouse({ shards: 2 })]);
});
after(async () => {
  for (const c of captures) c.db.close();
  synthetic?.close();
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
      for (const [i, sessionId] of syntheticSessions.entries()) {
        const target = 200 + i;
        await copySessionFromSqlite(synthetic, client, sessionId, { targetSessionId: target, host: 'h' });
        const lite = correlateSession(synthetic, sessionId);
        const ch = await correlateSessionInClickHouse(client, target);
        assert.ok(lite.records.length > 0);
        if (i === 0) assert.ok([...lite.offsetShifts.values()].includes(1_000_000), 'the mid-stream session is aligned by its tags');
        if (i === 1) assert.equal(new Set(lite.records.map((r) => r.flowId)).size, 2, 'each completion of the reused port finds its own connection');
        assert.deepEqual(ch.records, lite.records, `synthetic session ${i}`);
        assert.deepEqual([ch.baseNs, ch.captureStartNs, ch.captureEndNs, ch.kernelDrops], [lite.baseNs, lite.captureStartNs, lite.captureEndNs, lite.kernelDrops]);
        assert.deepEqual(ch.ordering, lite.ordering);
        assert.deepEqual([...ch.offsetShifts], [...lite.offsetShifts]);
      }
      await assert.rejects(correlateSessionInClickHouse(client, 999), (err: unknown) => err instanceof AckscopeError && err.code === 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
    } finally {
      client.close();
    }
  });
}

test('kernel witnesses written through each store, replacing earlier ones, leave the correlations equal', async () => {
  const capture = await buildStoreCapture(join(dir.dir, 'witnessed.db'), 4);
  const clients = [one, two].map((server) => new ClickHouseClient(parseClickHouseUrl(server.url('witness_test'))));
  try {
    const target = 300;
    for (const client of clients) {
      await migrateClickHouse(client);
      await copySessionFromSqlite(capture.db, client, capture.sessionId, { targetSessionId: target, host: 'h' });
    }
    const before = correlateSession(capture.db, capture.sessionId);
    // every third completion of the two captured flows with data: new moments (some of them
    // over a witness copied from SQLite), write 3 twice in one batch (the later wins)
    const witnesses: KernelWitnessInputRow[] = [];
    capture.rows.forEach((r, i) => {
      if (r.srcPort > 40002 || i % 3 !== 0) return;
      const flow = { srcAddr: r.srcAddr, srcPort: r.srcPort, dstAddr: r.dstAddr, dstPort: r.dstPort };
      const at = (deltaNs: number) => r.completedNs + BigInt(deltaNs);
      const moments = {
        byte: r.offsetEnd - 1, qdiscInNs: at(-5000), qdiscOutNs: i % 2 ? null : at(-4000), driverNs: at(i % 2 ? -1000 : 3000),
        ackArrivedNs: i % 4 ? at(50_000) : null, ackProcessedNs: i % 4 ? at(51_000) : null, retransmitted: i % 2 === 1,
      };
      if (r.writeId === 3) witnesses.push({ flow, writeId: r.writeId, witness: { ...moments, driverNs: at(999_999) } });
      witnesses.push({ flow, writeId: r.writeId, witness: moments });
    });
    assert.ok(witnesses.length >= 5);
    storeKernelWitnesses(capture.db, capture.sessionId, witnesses);
    const lite = correlateSession(capture.db, capture.sessionId);
    const changed = lite.records.filter((r, k) => JSON.stringify(r.kernel) !== JSON.stringify(before.records[k].kernel));
    assert.equal(changed.length, new Set(witnesses.map((w) => `${w.flow.srcPort} ${w.writeId}`)).size, 'each witnessed completion has its new moments');
    const unknown = { flow: witnesses[0].flow, writeId: 9999, witness: witnesses[0].witness };
    for (const [layout, client] of clients.entries()) {
      assert.equal(await storeKernelWitnessesInClickHouse(client, target, 'h', witnesses), witnesses.length);
      const ch = await correlateSessionInClickHouse(client, target);
      assert.deepEqual(ch.records, lite.records, `layout ${layout}`);
      // refused whole, with SQLite's message, nothing written
      let liteError: unknown;
      try {
        storeKernelWitnesses(capture.db, capture.sessionId, [witnesses[1], unknown]);
      } catch (err) {
        liteError = err;
      }
      await assert.rejects(storeKernelWitnessesInClickHouse(client, target, 'h', [witnesses[1], unknown]), (err: unknown) => {
        assert.ok(err instanceof AckscopeError && liteError instanceof AckscopeError);
        assert.deepEqual([err.code, err.message.replace(` session ${target}:`, '')], [liteError.code, liteError.message.replace(` session ${capture.sessionId}:`, '')]);
        return true;
      });
      assert.deepEqual((await correlateSessionInClickHouse(client, target)).records, lite.records);
    }
  } finally {
    for (const client of clients) client.close();
    capture.db.close();
  }
});

test('a session captured by two hosts spans from the earliest first frame to the latest last one, whatever their frame numbers', async () => {
  const client = new ClickHouseClient(parseClickHouseUrl(one.url('bounds_test')));
  try {
    await migrateClickHouse(client);
    // host b's frames took the higher numbers (a later claimed block) but began earlier;
    // host a's capture ended later
    await client.query(
      sql`INSERT INTO frames (session_id, frame_no, host, ts_ns) VALUES
            (7, 1, 'a', 2000), (7, 2, 'a', 3000), (7, 1048577, 'b', 1000), (7, 1048578, 'b', 2500)`,
    );
    assert.deepEqual(await readFrameBounds(client, 7), { firstTs: 1000n, lastTs: 3000n, maxFrameNo: '1048578' });
    // one host alone: its first and last frame in capture order, as SQLite reads them
    await client.query(sql`INSERT INTO frames (session_id, frame_no, host, ts_ns) VALUES (8, 1, 'a', 5000), (8, 2, 'a', 4000)`);
    assert.deepEqual(await readFrameBounds(client, 8), { firstTs: 5000n, lastTs: 4000n, maxFrameNo: '2' });
    assert.deepEqual(await readFrameBounds(client, 9), { firstTs: undefined, lastTs: undefined, maxFrameNo: '0' });
  } finally {
    client.close();
  }
});
