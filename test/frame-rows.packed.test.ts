/**
 * Frames and advance rows written through the packed_frames SQLite extension
 * (db/native/packed_frames.c: a batch handed over as BLOBs) against rows bound one by one (ACKSCOPE_FRAMES_PACKED=0,
 * the path it replaced): every corpus file and the store capture, imported both ways,
 * leave the same rows in every table, column for column with SQLite's storage class. And
 * a batch naming a flow the writer has no id for is refused by the extension, not stored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Db } from '../db/connection.js';
import { loadNativeExtension } from '../db/native-extension.js';
import { buildStoreCapture } from './helpers/store-capture.js';
import { dump, importInto } from './helpers/import-rows.js';
import { tempDir } from './helpers/app.js';

const CORPUS = process.env.ACKSCOPE_PCAP_CORPUS ?? fileURLToPath(new URL('../../shared/pcaps/tcpdump-tests/', import.meta.url));
const files = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => f !== 'LICENSE').sort() : [];

/** Runs `fn` with ACKSCOPE_FRAMES_PACKED set (the frame writer reads it when it is made). */
async function withFramesPacked<T>(packed: boolean, fn: () => Promise<T>): Promise<T> {
  const before = process.env.ACKSCOPE_FRAMES_PACKED;
  process.env.ACKSCOPE_FRAMES_PACKED = packed ? '1' : '0';
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.ACKSCOPE_FRAMES_PACKED;
    else process.env.ACKSCOPE_FRAMES_PACKED = before;
  }
}

test('every corpus file: frames written packed are the rows written bound, and a refusal is alike', async () => {
  assert.ok(files.length >= 200, `the tcpdump corpus is not at ${CORPUS} (or has ${files.length} files)`);
  const t = tempDir();
  const bound = openDatabase(join(t.dir, 'bound.db'));
  const packed = openDatabase(join(t.dir, 'packed.db'));
  let tcpFrames = 0;
  try {
    // the extension is built by scripts/build.sh: without it both sides would bind rows
    assert.ok(loadNativeExtension(packed, 'packed_frames'), 'packed_frames is built and loads');
    for (const name of files) {
      const bytes = readFileSync(join(CORPUS, name));
      const a = await withFramesPacked(false, () => importInto(bound, bytes, false, 3));
      const b = await withFramesPacked(true, () => importInto(packed, bytes, false, 3));
      if (a.outcome.ok && b.outcome.ok) tcpFrames += a.outcome.result.counters.tcp;
      else assert.deepEqual(b.outcome, a.outcome, `${name}: refused alike`);
      assert.deepEqual(dump(packed, b.sessionId), dump(bound, a.sessionId), name);
    }
    assert.ok(tcpFrames > 300, `only ${tcpFrames} TCP frames in the corpus`);
  } finally {
    bound.close();
    packed.close();
    t.cleanup();
  }
});

test('the store capture (losses, SACK, reordering, GSO, tags), in small batches and through the writer thread: the same rows packed as bound', async () => {
  const t = tempDir();
  try {
    const bound = await withFramesPacked(false, () => buildStoreCapture(join(t.dir, 'bound.db'), 7, 3, 0, { writerThread: false, batchFrames: 37 }));
    const packed = await withFramesPacked(true, () => buildStoreCapture(join(t.dir, 'packed.db'), 7, 3, 0, { writerThread: true, batchFrames: 37 }));
    try {
      const rows = dump(packed.db, packed.sessionId);
      assert.ok(rows.frames.length > 500, `${rows.frames.length} frames`);
      assert.deepEqual(rows, dump(bound.db, bound.sessionId));
    } finally {
      bound.db.close();
      packed.db.close();
    }
  } finally {
    t.cleanup();
  }
});

test('packed_frames and packed_advances refuse a batch whose row names a flow with no id, and one shorter than its count', () => {
  const t = tempDir();
  const db: Db = openDatabase(join(t.dir, 'refuse.db'));
  try {
    assert.ok(loadNativeExtension(db, 'packed_frames'));
    const row = new Float64Array(19).fill(0);
    row[0] = 1; // frame_no
    row[1] = 2; // flow number 2: flow_ids has 0 and 1 only
    const read = (frames: Float64Array, count: number) =>
      db
        .prepare('SELECT id, flow_id FROM packed_frames(?, ?, ?, ?, ?)')
        .raw(true)
        .all(Buffer.from(frames.buffer), Buffer.from(new BigInt64Array(count).buffer), Buffer.from(new Float64Array([NaN, 7]).buffer), count, 4294967296);
    assert.throws(() => read(row, 1), /packed_frames: a row's flow number names no flow/);
    assert.throws(() => read(row, 2), /packed_frames: frames is not a BLOB of count rows/);
    row[1] = 0; // flow number 0: no database id (NaN)
    assert.throws(() => read(row, 1), /packed_frames: a row's flow has no database id/);
    row[1] = 1;
    assert.deepEqual(read(row, 1), [[4294967297, 7]]);
    // packed_advances: (flow, dir, maximum, extra) rows, the same checks
    const advances = (numbers: number[], count: number) =>
      db
        .prepare('SELECT flow_id, dir, max_off, ts_ns, extra FROM packed_advances(?, ?, ?, ?)')
        .raw(true)
        .all(Buffer.from(new Float64Array(numbers).buffer), Buffer.from(new BigInt64Array(count).fill(5n).buffer), Buffer.from(new Float64Array([NaN, 7]).buffer), count);
    assert.throws(() => advances([3, 0, 100, NaN], 1), /packed_advances: a row's flow number names no flow/);
    assert.throws(() => advances([1, 0, 100, NaN], 2), /packed_advances: numbers is not a BLOB of count rows/);
    assert.deepEqual(advances([1, 1, 100, NaN, 1, 0, 200, 50], 2), [[7, 1, 100, 5, null], [7, 0, 200, 5, 50]]);
  } finally {
    db.close();
    t.cleanup();
  }
});
