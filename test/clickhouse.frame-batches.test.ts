// The frame writer's ClickHouse half (clickhouse/frame-batches.ts, frame-batch-encoding.ts):
// packed batches written straight into ClickHouse hold the rows SQLite's frame writer
// stores for the same capture (the witness: SQLite's tables, read back here, and the
// checked RowBinary encoder for the bytes), in both ways of writing (each batch / one
// stream per table), one node and two shards; a flow's newest version is its final state;
// deleting one writer's rows leaves another host's, and so does an import refused after
// several batches (recording/clickhouse-import.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { migrateClickHouse } from '../clickhouse/migrate.js';
import { identifier, literal, sql } from '../clickhouse/sql.js';
import { parseClickHouseUrl } from '../clickhouse/store-url.js';
import { TABLES } from '../clickhouse/tables.js';
import { RowBinaryEncoder } from '../clickhouse/row-binary.js';
import { FrameBatchEncoder } from '../clickhouse/frame-batch-encoding.js';
import { IdBlocks } from '../clickhouse/id-blocks.js';
import { ClickHouseFrameBatches, deleteWrittenRows, FRAME_BATCH_TABLES, type FrameBatchMode } from '../clickhouse/frame-batches.js';
import { waitForMutations } from '../clickhouse/sessions.js';
import { FRAME_NUMBERS, FRAME_WIDTH, FramePacker, type PackedFrames } from '../capture/frame-packer.js';
import { ADVANCE_WIDTH } from '../capture/advance-runs.js';
import { AutoCaptureReader } from '../capture/pcap/reader.js';
import { startClickHouse, type RunningClickHouse } from '../fixtures/clickhouse-server.js';
import { AckscopeError } from '../core/errors.js';
import { importCaptureIntoClickHouse } from '../recording/clickhouse-import.js';
import { tempDir } from './helpers/app.js';
import { buildStoreCapture, type StoreCapture } from './helpers/store-capture.js';

/** The capture packed as a live capture packs it: advance rows and flow updates with every batch. */
function packLive(file: Uint8Array, batchFrames: number): PackedFrames[] {
  const packer = new FramePacker({ batchFrames });
  const batches: PackedFrames[] = [];
  const reader = new AutoCaptureReader();
  const sink = (rec: { linkType: number; tsNs: bigint; caplen: number; wirelen: number; view: DataView; at: number; fileOffset: number }) => {
    packer.add(rec.linkType, rec.tsNs, rec.caplen, rec.wirelen, rec.view, rec.at, rec.fileOffset);
    if (packer.full) batches.push(packer.take());
  };
  reader.push(file, sink);
  reader.end(sink);
  batches.push(packer.take(true));
  return batches;
}

/** What SQLite holds of the session per ClickHouse table, the columns ClickHouse also has (ids under ClickHouse's names). */
const SQLITE_ROWS: Record<(typeof FRAME_BATCH_TABLES)[number], string> = {
  flows: 'SELECT *, id AS flow_id FROM flows WHERE session_id = ?',
  frames: 'SELECT * FROM frames WHERE session_id = ?',
  sent_advances: 'SELECT * FROM sent_advances WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)',
  ack_advances: 'SELECT * FROM ack_advances WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)',
  sacks: 'SELECT *, frame_id % 4294967296 AS frame_no FROM sacks WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)',
  tags: 'SELECT *, frame_id % 4294967296 AS frame_no FROM tags WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)',
  retransmissions: 'SELECT *, frame_id % 4294967296 AS frame_no FROM retransmissions WHERE flow_id IN (SELECT id FROM flows WHERE session_id = ?)',
};

const canonical = (v: unknown) => (v === null ? 'NULL' : typeof v === 'string' ? JSON.stringify(v) : String(v));
function digest(rows: Record<string, unknown>[], columns: string[]): { rows: number; sha256: string } {
  const lines = rows.map((r) => columns.map((c) => canonical(r[c])).join('\t')).sort();
  return { rows: lines.length, sha256: createHash('sha256').update(lines.join('\n')).digest('hex') };
}

/** Per table: ClickHouse's rows of the session (flows: each one's newest version) against SQLite's, order-free. */
async function compareWithSqlite(client: ClickHouseClient, capture: StoreCapture, sessionId: number, shift = { flows: 0, frames: 0 }) {
  for (const table of FRAME_BATCH_TABLES) {
    const sqliteRows = (capture.db.prepare(SQLITE_ROWS[table]).safeIntegers(true).all(capture.sessionId) as Record<string, unknown>[]).map((r) => ({
      ...r,
      session_id: BigInt(sessionId),
      ...('flow_id' in r ? { flow_id: (r.flow_id as bigint) + BigInt(shift.flows) } : {}),
      ...('frame_no' in r ? { frame_no: (r.frame_no as bigint) + BigInt(shift.frames) } : {}),
    }));
    const newest = table === 'flows' ? sql`ORDER BY flow_id, version DESC LIMIT 1 BY flow_id` : sql``;
    const text = await client.query(
      sql`SELECT * FROM ${identifier(table)} WHERE session_id = ${literal(sessionId, 'UInt64')} ${newest} FORMAT JSONEachRow`,
    );
    const integer = new Set(TABLES[table].columns.filter((c) => /Int/.test(c.type)).map((c) => c.name));
    const chRows = text
      .split('\n')
      .filter(Boolean)
      .map((l) => Object.fromEntries(Object.entries(JSON.parse(l) as Record<string, unknown>).map(([k, v]) => [k, integer.has(k) && v !== null ? BigInt(v as string | number) : v])));
    const shared = Object.keys(chRows[0] ?? {}).filter((c) => c in (sqliteRows[0] ?? {}));
    const missing = Object.keys(chRows[0] ?? {}).filter((c) => !shared.includes(c));
    assert.ok(missing.every((c) => ['host', 'version'].includes(c)), `${table}: ${missing.join(', ')} not compared`);
    assert.ok(sqliteRows.length > 0, `${table}: the capture has rows`);
    assert.deepEqual(digest(chRows, shared), digest(sqliteRows, shared), table);
  }
}

let one: RunningClickHouse;
let two: RunningClickHouse;
let capture: StoreCapture;
let dir: ReturnType<typeof tempDir>;
before(async () => {
  dir = tempDir();
  capture = await buildStoreCapture(join(dir.dir, 'store.db'));
  [one, two] = await Promise.all([startClickHouse(), startClickHouse({ shards: 2 })]);
});
after(async () => {
  capture?.db.close();
  dir?.cleanup();
  await Promise.all([one?.stop(), two?.stop()]);
});

/** Blocks of 7 frame numbers and 2 flow ids, claimed out of order with others' between them (a live capture beside another host's). */
function scatteredBlocks(): { frameIds: IdBlocks; flowIds: IdBlocks } {
  const frameIds = new IdBlocks(7);
  const flowIds = new IdBlocks(2);
  for (let k = 0; k < 20_000; k++) frameIds.add(1000 + 14 * k + (k % 3 === 0 ? 7 : 0));
  for (let k = 0; k < 100; k++) flowIds.add(10 + 4 * k + 2 * (k % 2));
  return { frameIds, flowIds };
}

for (const ids of ['bases', 'claimed blocks'] as const) test(`the bytes of frames and advance rows, written from the typed columns, are what the checked RowBinary encoder makes of the same rows (ids: ${ids})`, () => {
  const batches = packLive(capture.file, 97);
  const blocks = scatteredBlocks();
  const fast = new FrameBatchEncoder(
    ids === 'bases' ? { sessionId: 5, host: 'hôst-ä', flowBase: 10, frameBase: 1000 } : { sessionId: 5, host: 'hôst-ä', ...blocks },
  );
  const frameNo = (n: number) => (ids === 'bases' ? 1000 + n : blocks.frameIds.at(n));
  const flowId = (n: number) => (ids === 'bases' ? 10 + n : blocks.flowIds.at(n));
  if (ids === 'claimed blocks') assert.deepEqual([1, 7, 8, 14, 15, 22].map(frameNo), [1007, 1013, 1014, 1020, 1028, 1049]);
  let frames = 0;
  let nulls = 0;
  for (const batch of batches) {
    const encoded = fast.encode(batch);
    // the reference: rows as arrays in tables.ts order, each value looked up by its name in FRAME_NUMBERS
    const ref = new RowBinaryEncoder(TABLES.frames.columns);
    const at = (r: number, name: (typeof FRAME_NUMBERS)[number]) => batch.frames[r * FRAME_WIDTH + FRAME_NUMBERS.indexOf(name)];
    const orNull = (v: number) => (Number.isNaN(v) ? null : v);
    for (let r = 0; r < batch.count; r++) {
      if (Number.isNaN(at(r, 'ack_off'))) nulls++;
      ref.push([
        5, frameNo(at(r, 'frame_no')), flowId(at(r, 'flow')), 'hôst-ä', at(r, 'dir'), batch.ts[r], at(r, 'caplen'), at(r, 'wirelen'),
        at(r, 'tcp_flags'), at(r, 'seq_raw'), at(r, 'ack_raw'), at(r, 'seq_off'), at(r, 'payload_len'), orNull(at(r, 'ack_off')),
        at(r, 'window'), at(r, 'retransmit'), at(r, 'sent_max'), orNull(at(r, 'acked_max')), at(r, 'sent_advanced'),
        at(r, 'ack_advanced'), at(r, 'sack_count'), orNull(at(r, 'file_offset')),
      ]);
    }
    frames += batch.count;
    assert.deepEqual(encoded.get('frames') ?? null, ref.flush(), 'frames');
    for (const [table, rows] of [['sent_advances', batch.sentAdvances], ['ack_advances', batch.ackAdvances]] as const) {
      const adv = new RowBinaryEncoder(TABLES[table].columns);
      for (let r = 0; r < rows.count; r++) {
        const n = (i: number) => rows.numbers[r * ADVANCE_WIDTH + i];
        adv.push(table === 'sent_advances' ? [5, flowId(n(0)), n(1), n(2), rows.ts[r], n(3)] : [5, flowId(n(0)), n(1), n(2), rows.ts[r]]);
      }
      assert.deepEqual(encoded.get(table) ?? null, adv.flush(), table);
    }
  }
  assert.equal(frames, capture.frames, 'every frame of the capture was packed');
  assert.ok(nulls > 0, 'frames without an ACK offset (NULL) were among them');
});

for (const layout of ['one node', 'two shards'] as const) {
  test(`${layout}: batches written both ways hold SQLite's rows for the capture; the newest flow version is the final one; one writer's rows deleted alone`, async () => {
    const client = new ClickHouseClient(parseClickHouseUrl((layout === 'one node' ? one : two).url('batches_test')));
    try {
      await migrateClickHouse(client);
      const ways: [FrameBatchMode, number][] = [
        ['each batch', 41],
        ['one stream per table', 1000],
      ];
      for (const [i, [mode, batchFrames]] of ways.entries()) {
        const sessionId = 10 + i;
        const writer = new ClickHouseFrameBatches(client, { sessionId, host: 'host-a' }, mode);
        for (const batch of packLive(capture.file, batchFrames)) await writer.write(batch);
        await writer.finish();
        await compareWithSqlite(client, capture, sessionId);
        if (mode === 'each batch') {
          const versions = await client.rows(sql`SELECT max(c) FROM (SELECT count() AS c FROM ${identifier('flows')} WHERE session_id = ${literal(sessionId, 'UInt64')} GROUP BY flow_id)`);
          assert.ok(Number(versions[0][0]) > 1, 'a flow changed over several batches has several versions');
        }
      }
      // a second host's rows in session 10, numbered after the first's; then deleted alone
      const flowBase = Number((capture.db.prepare('SELECT count(*) FROM flows WHERE session_id = ?').pluck().get(capture.sessionId) as number));
      const frameBase = capture.frames + 7;
      const second = new ClickHouseFrameBatches(client, { sessionId: 10, host: 'host-b', flowBase, frameBase }, 'one stream per table');
      for (const batch of packLive(capture.file, 500)) await second.write(batch);
      await second.finish();
      const hosts = await client.rows(sql`SELECT host, count() FROM ${identifier('frames')} WHERE session_id = 10 GROUP BY host ORDER BY host`);
      assert.deepEqual(hosts.map((r) => [r[0], Number(r[1])]), [['host-a', capture.frames], ['host-b', capture.frames]]);
      await deleteWrittenRows(client, { sessionId: 10, host: 'host-b', flowBase, frameBase });
      await waitForMutations(client, 'host-b rows');
      const left = await client.rows(sql`SELECT DISTINCT host FROM ${identifier('frames')} WHERE session_id = 10`);
      assert.deepEqual(left, [['host-a']]);
      for (const table of FRAME_BATCH_TABLES) {
        const above = await client.rows(sql`SELECT count() FROM ${identifier(table)} WHERE session_id = 10 AND flow_id > ${literal(flowBase, 'UInt64')}`);
        assert.equal(Number(above[0][0]), 0, `${table}: host-b's rows are gone`);
      }
      await compareWithSqlite(client, capture, 10);
    } finally {
      client.close();
    }
  });
}

test('an import into ClickHouse refused after several batches leaves nothing of it; the rows of the host before it stay', async () => {
  const client = new ClickHouseClient(parseClickHouseUrl(two.url('import_refused')));
  const chunksOf = (bytes: Uint8Array) => (async function* () {
    for (let at = 0; at < bytes.length; at += 4096) yield bytes.subarray(at, at + 4096);
  })();
  try {
    await migrateClickHouse(client);
    const sessionDir = join(dir.dir, 'sessions', '20');
    const first = await importCaptureIntoClickHouse(client, 20, chunksOf(capture.file), { sessionDir, host: 'host-a', batchFrames: 50 });
    assert.equal(first.result.counters.frames, capture.frames);
    assert.equal(first.counters.frames_total, capture.frames);
    await compareWithSqlite(client, capture, 20);
    const flowBase = Number(capture.db.prepare('SELECT count(*) FROM flows WHERE session_id = ?').pluck().get(capture.sessionId));
    // cut inside the last record: refused by the reader at the end, after every batch was streamed
    const cut = capture.file.subarray(0, capture.file.length - 10);
    await assert.rejects(
      importCaptureIntoClickHouse(client, 20, chunksOf(cut), { sessionDir, host: 'host-b', batchFrames: 50, flowBase, frameBase: capture.frames }),
      (err: unknown) => err instanceof AckscopeError && err.code === 'ACKSCOPE_ERR_CAPTURE_FILE',
    );
    for (const table of FRAME_BATCH_TABLES) {
      const above = await client.rows(sql`SELECT count() FROM ${identifier(table)} WHERE session_id = 20 AND flow_id > ${literal(flowBase, 'UInt64')}`);
      assert.equal(Number(above[0][0]), 0, `${table}: nothing of the refused import`);
    }
    await compareWithSqlite(client, capture, 20);
  } finally {
    client.close();
  }
});
