/**
 * The import's writer thread (recording/import-writer.ts) against the import on one
 * thread: the same capture imported both ways into two fresh SQLite files gives the same
 * rows, column for column with SQLite's own storage class (quote()), in every table the
 * import fills — on every file of the tcpdump corpus (../shared/pcaps) and on the test
 * suite's store capture (losses, SACK blocks, retransmissions, reordering, GSO-sized
 * frames, write tags), in batches small enough that flows, tags and holes span many
 * hand-overs. A file refused is refused alike and leaves nothing behind either way.
 * Whether those rows are right is what the corpus and frame-writer tests check against
 * tshark; this one checks the thread hand-over changes nothing of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { importCapture } from '../recording/import.js';
import { isAckscopeError } from '../core/errors.js';
import { buildStoreCapture } from './helpers/store-capture.js';
import { dump, importInto, SESSION_TABLES } from './helpers/import-rows.js';
import { tempDir } from './helpers/app.js';
import { ipv4Tcp, pcapFile, type PcapRecord } from './helpers/packets.js';
import { LINKTYPE_RAW } from '../capture/decode/linktypes.js';

const CORPUS = process.env.ACKSCOPE_PCAP_CORPUS ?? fileURLToPath(new URL('../../shared/pcaps/tcpdump-tests/', import.meta.url));
const files = existsSync(CORPUS) ? readdirSync(CORPUS).filter((f) => f !== 'LICENSE').sort() : [];

test('every corpus file: the writer thread stores the rows the one-thread import stores, and refuses alike leaving nothing', async () => {
  assert.ok(files.length >= 200, `the tcpdump corpus is not at ${CORPUS} (or has ${files.length} files)`);
  const t = tempDir();
  const one = openDatabase(join(t.dir, 'one-thread.db'));
  const two = openDatabase(join(t.dir, 'two-thread.db'));
  let tcpFrames = 0;
  let refused = 0;
  let threadUsed = 0;
  try {
    for (const name of files) {
      const bytes = readFileSync(join(CORPUS, name));
      // 3 frames a batch: the corpus files are small, and the hand-over should happen many times
      const a = await importInto(one, bytes, false, 3);
      const b = await importInto(two, bytes, true, 3);
      assert.equal(a.sessionId, b.sessionId);
      if (a.outcome.ok && b.outcome.ok) {
        assert.equal(a.outcome.result.writerCpuMs, null, name);
        if (b.outcome.result.writerCpuMs !== null) threadUsed++;
        assert.deepEqual(b.outcome.result.counters, a.outcome.result.counters, name);
        tcpFrames += a.outcome.result.counters.tcp;
      } else {
        assert.deepEqual(b.outcome, a.outcome, `${name}: refused alike`);
        refused++;
      }
      const rows = dump(two, b.sessionId);
      assert.deepEqual(rows, dump(one, a.sessionId), name);
      if (!a.outcome.ok) {
        for (const table of Object.keys(SESSION_TABLES)) assert.deepEqual(rows[table], [], `${name}: nothing of a refused file in ${table}`);
      }
    }
    console.log(`corpus: ${files.length} files, ${refused} refused, ${tcpFrames} TCP frames compared row for row; the writer thread ran ${threadUsed} imports`);
    assert.ok(tcpFrames > 300, `only ${tcpFrames} TCP frames in the corpus`);
    assert.equal(threadUsed, files.length - refused, 'every import taken went through a writer thread');
  } finally {
    one.close();
    two.close();
    t.cleanup();
  }
});

test('the store capture (losses, SACK, reordering, GSO, tags) in small batches: the same rows through the writer thread', async () => {
  const t = tempDir();
  try {
    const one = await buildStoreCapture(join(t.dir, 'one.db'), 7, 3, 0, { writerThread: false, batchFrames: 37 });
    const two = await buildStoreCapture(join(t.dir, 'two.db'), 7, 3, 0, { writerThread: true, batchFrames: 37 });
    try {
      const a = dump(one.db, one.sessionId);
      const b = dump(two.db, two.sessionId);
      // the capture holds each kind of row the import writes, so each is compared
      for (const table of Object.keys(SESSION_TABLES)) assert.ok(a[table].length > 0, `the store capture has no ${table} rows`);
      assert.ok(a.frames.length > 10 * 37, `${a.frames.length} frames: too few batches`);
      assert.deepEqual(b, a);
    } finally {
      one.db.close();
      two.db.close();
    }
  } finally {
    t.cleanup();
  }
});

/** Several flows of data and ACKs, interleaved: `frames` records of raw IPv4/TCP. */
function interleavedCapture(frames: number, flows: number): Uint8Array {
  const records: PcapRecord[] = [];
  for (let i = 0; i < frames; i++) {
    const flow = i % flows;
    const n = Math.floor(i / flows);
    const fromClient = n % 3 !== 2;
    const data = ipv4Tcp({
      src: fromClient ? `10.1.0.${flow + 1}` : '10.2.0.1',
      dst: fromClient ? '10.2.0.1' : `10.1.0.${flow + 1}`,
      sport: fromClient ? 40000 + flow : 7000,
      dport: fromClient ? 7000 : 40000 + flow,
      seq: fromClient ? 1000 + n * 100 : 5000,
      ack: fromClient ? 5000 : 1000 + n * 100,
      flags: 'A',
      payload: fromClient ? new Uint8Array(100) : undefined,
    });
    records.push({ sec: 1_764_000_000 + Math.floor(i / 1000), frac: (i % 1000) * 1000, data });
  }
  return pcapFile({ le: true, ns: false, linkType: LINKTYPE_RAW, records });
}

test('through the writer thread, a file cut short after several batches is refused and leaves no row, no flow, no counter', async () => {
  const t = tempDir();
  const db = openDatabase(join(t.dir, 'cut.db'));
  try {
    const bytes = interleavedCapture(3000, 7);
    const whole = await importInto(db, bytes, true, 100);
    assert.equal(whole.outcome.ok && whole.outcome.result.counters.tcp, 3000);
    assert.ok(whole.outcome.ok && whole.outcome.result.writerCpuMs !== null, 'written on the writer thread');
    // cut in the middle of a record, past 25 batches of 100 frames
    const cut = bytes.subarray(0, Math.floor(bytes.length * 0.9) + 5);
    const { sessionId, outcome } = await importInto(db, cut, true, 100);
    assert.equal(outcome.ok, false);
    if (!outcome.ok) assert.equal(outcome.code, 'ACKSCOPE_ERR_CAPTURE_FILE');
    const rows = dump(db, sessionId);
    for (const table of Object.keys(SESSION_TABLES)) assert.deepEqual(rows[table], [], table);
    assert.deepEqual(rows.sessions, ['NULL|0|0|0|0|0|0|0|NULL']);
    // the whole import before it keeps its rows
    assert.equal(dump(db, whole.sessionId).frames.length, 3000);
  } finally {
    db.close();
    t.cleanup();
  }
});

test('an error on the writer thread (its session deleted mid-import) stops the import with that error, and no row of it is left', async () => {
  const t = tempDir();
  const db = openDatabase(join(t.dir, 'deleted.db'));
  try {
    const bytes = interleavedCapture(3000, 7);
    const { id } = createSession(db, { name: 'deleted under the import', kind: 'import' });
    const framesStored = () =>
      db.prepare('SELECT COUNT(*) FROM frames WHERE id BETWEEN ? * 4294967296 AND ? * 4294967296 + 4294967295').pluck().get(id, id) as number;
    let deleted = false;
    const chunks = (async function* () {
      for (let i = 0; i < bytes.length; i += 4096) {
        // once the writer thread has committed rows of the import, the session goes (another connection, as the API would)
        if (!deleted && framesStored() > 0) {
          db.prepare('DELETE FROM sessions WHERE id = ?').run(id);
          deleted = true;
        }
        yield bytes.subarray(i, i + 4096);
        await new Promise((resolve) => setTimeout(resolve, 2)); // the writer gets its turn
      }
    })();
    await assert.rejects(importCapture(db, id, chunks, { writerThread: true, batchFrames: 50 }), (err: unknown) => {
      assert.ok(isAckscopeError(err));
      assert.equal(err.code, 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
      return true;
    });
    assert.ok(deleted, 'the session was deleted while the import ran');
    assert.equal(framesStored(), 0);
    assert.deepEqual(dump(db, id), { ...Object.fromEntries(Object.keys(SESSION_TABLES).map((k) => [k, []])), sessions: [] });
    // nor an advance row whose flow is gone
    assert.equal(db.prepare('SELECT COUNT(*) FROM sent_advances WHERE flow_id NOT IN (SELECT id FROM flows)').pluck().get(), 0);
  } finally {
    db.close();
    t.cleanup();
  }
});
