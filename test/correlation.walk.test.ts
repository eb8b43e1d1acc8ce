/**
 * The merge walk (AdvanceWalk) against what it replaced: every "first frame reaching X"
 * answer equals a plain SQL query of the definition written here, and whole sessions
 * correlate to identical records with `reads: 'walk'` and `reads: 'seek'` (one SQLite
 * look-up per question, the way it was before), with the runs read packed (f64_pack,
 * db/native/packed_columns.c) and as JSON text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase, type Db } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { AdvanceWalk, COMPLETION_RUN, WALK_RUN_ROWS, explainCorrelation, packedRunsAvailable, runStatements, statements } from '../db/correlation-reads.js';
import { correlateSession, type SessionCorrelation } from '../analysis/correlation.js';
import { importCapture } from '../recording/import.js';
import { storeCompletions } from '../db/completions.js';
import { storeKernelWitnesses } from '../db/kernel-witness.js';
import type { CompletionRow } from '../core/completion.js';
import { SyntheticSession, T0 } from '../fixtures/flowbuilder.js';
import { ipv4Tcp, pcapFile, sackOption } from './helpers/packets.js';
import { tempDir } from './helpers/app.js';
import { seededRandom } from '../fixtures/random.js';

const LINKTYPE_RAW = 101;

function withDb(run: (db: Db) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const { dir, cleanup } = tempDir();
    const db = openDatabase(join(dir, 'walk.db'));
    try {
      await run(db);
    } finally {
      db.close();
      cleanup();
    }
  };
}


/**
 * Both reads of a session, equal in everything but how long they took and how often they
 * asked SQLite; the runs of completions also at a few rows each, so that a pair's
 * completions span many runs.
 */
function assertSameCorrelation(db: Db, sessionId: number): SessionCorrelation {
  assert.ok(packedRunsAvailable(db), 'the packed-column extension is built (scripts/build.sh) and loads');
  const seek = correlateSession(db, sessionId, { reads: 'seek' });
  const walk = correlateSession(db, sessionId, { reads: 'walk' });
  const walkJson = correlateSession(db, sessionId, { reads: 'walk', runs: 'json' });
  const { stats: seekStats, ...seekRest } = seek;
  const { stats: walkStats, ...walkRest } = walk;
  const { stats: jsonStats, ...jsonRest } = walkJson;
  assert.equal(walkStats.completions, seekStats.completions);
  assert.equal(jsonStats.completions, seekStats.completions);
  assert.deepEqual(walkRest, seekRest);
  assert.deepEqual(jsonRest, seekRest, 'runs read as JSON text');
  const rows = COMPLETION_RUN.rows;
  try {
    for (const shortRuns of [1, 7]) {
      COMPLETION_RUN.rows = shortRuns;
      for (const runs of ['packed', 'json'] as const) {
        const { stats: _stats, ...shortRest } = correlateSession(db, sessionId, { reads: 'walk', runs });
        assert.deepEqual(shortRest, seekRest, `completions in ${runs} runs of ${shortRuns}`);
      }
    }
  } finally {
    COMPLETION_RUN.rows = rows;
  }
  return walk;
}

test(
  'AdvanceWalk answers every threshold as the SQL definition does: dense, sparse, mixed, backwards, past the end, across a gap, after release, runs by count and by key range',
  withDb((db) => {
    const s = new SyntheticSession(db, 'walk-unit');
    const f = s.flow({ a: ['10.0.0.1', 40000], b: ['10.0.0.2', 7000] });
    // 6000 data frames of 100-1500 bytes, every tenth a retransmission (no advance), and
    // an ACK after every other frame
    const rnd = seededRandom(7);
    let off = 0;
    for (let i = 0; i < 6000; i++) {
      const len = 100 + Math.floor(rnd() * 1400);
      if (i % 10 === 9 && off > 2000) f.segment(i * 10 + 1, off - 2000, 1000);
      f.segment(i * 10, off, len);
      off += len;
      if (i % 2 === 1) f.ack(i * 10 + 5, off - Math.floor(rnd() * 3000));
    }
    // a jump of 50 MB in the advances (as a capture that missed a stretch has): wider than any
    // run's range, so a range read finds nothing there and the walk reads on by count
    off += 50_000_000;
    for (let i = 6000; i < 6600; i++) {
      const len = 100 + Math.floor(rnd() * 1400);
      f.segment(i * 10, off, len);
      off += len;
      if (i % 2 === 1) f.ack(i * 10 + 5, off - Math.floor(rnd() * 3000));
    }
    s.finish();
    const end = off;
    const base = T0;
    const st = statements(db);
    const oracle = {
      sent: db.prepare(`SELECT ts_ns - ?, seq_off FROM sent_advances WHERE flow_id = ? AND dir = ? AND sent_max >= ? ORDER BY sent_max LIMIT 1`).raw(true),
      ack: db.prepare(`SELECT ts_ns - ?, 0 FROM ack_advances WHERE flow_id = ? AND dir = ? AND acked_max >= ? ORDER BY acked_max LIMIT 1`).raw(true),
    };
    const expect = (kind: 'sent' | 'ack', dir: number, x: number) => {
      const row = oracle[kind].get(base, f.id, dir, x) as [number, number] | undefined;
      return row ? { tsNs: row[0], seqOff: row[1] } : null;
    };
    const sequences: Record<string, number[]> = {
      // several look-ups per frame: the run grows to its largest
      dense: Array.from({ length: 30_000 }, (_, i) => Math.floor((i * end) / 30_000)),
      // one look-up per ~300 frames: single seeks with a probe run now and then
      sparse: Array.from({ length: 200 }, (_, i) => 1 + Math.floor((i * end) / 200)),
      // sparse, then dense (a probe notices), then sparse again
      mixed: [
        ...Array.from({ length: 150 }, (_, i) => 1 + i * Math.floor(end / 600)),
        ...Array.from({ length: 20_000 }, (_, i) => Math.floor(end / 4 + (i * end) / 80_000)),
        ...Array.from({ length: 150 }, (_, i) => Math.floor(end / 2) + i * Math.floor(end / 400)),
      ],
      // forward overall (the runs stay long), a step back within the run every other look-up
      zigzag: Array.from({ length: 20_000 }, (_, i) => Math.max(0, Math.floor((i * end) / 20_000) - (i % 2) * 4000)),
      // in no order at all, with repeats, and beyond the last byte
      random: Array.from({ length: 5000 }, () => Math.floor(rnd() * (end + 5000))),
      backwards: Array.from({ length: 3000 }, (_, i) => end - i * Math.floor(end / 3000)),
      pastTheEnd: [end - 1, end, end + 1, end + 10_000, end, 0, 1, end + 1],
    };
    const encodings = { packed: runStatements(db, 'packed'), json: runStatements(db, 'json') };
    assert.notEqual(encodings.packed.sentRun, encodings.json.sentRun, 'packed runs are read by statements of their own');
    for (const [name, xs] of Object.entries(sequences)) {
      // runs read by count only, and by key range once a run told how wide a row is
      for (const [encoding, runs] of Object.entries(encodings)) for (const byRange of [false, true]) for (const kind of ['sent', 'ack'] as const) {
        for (const dir of [0, 1]) {
          const params = { base, flow: f.id, dir, x: 0, n: 0 };
          const walk =
            kind === 'sent'
              ? new AdvanceWalk(runs.sentRun, st.firstSent, params, byRange ? { stmt: runs.sentRange, last: st.sentLast } : undefined)
              : new AdvanceWalk(runs.ackRun, st.firstAck, params, byRange ? { stmt: runs.ackRange, last: st.ackLast } : undefined);
          xs.forEach((x, i) => {
            if (i === Math.floor(xs.length / 2)) walk.release();
            assert.deepEqual(walk.find(x), expect(kind, dir, x), `${name} ${encoding}${byRange ? ' by range' : ''} ${kind} dir ${dir}: look-up ${i} of ${x}`);
          });
          if (name === 'dense' && kind === 'sent' && dir === 0) {
            assert.ok(walk.queries < xs.length / 50, `dense look-ups read runs: ${walk.queries} reads for ${xs.length}`);
            assert.ok(walk.rows > WALK_RUN_ROWS.first, 'runs grew past the first size');
          }
          if (name === 'sparse' && kind === 'sent' && dir === 0) {
            assert.ok(walk.rows < xs.length * 40, `sparse look-ups do not read the whole direction: ${walk.rows} rows for ${xs.length}`);
          }
        }
      }
    }
  }),
);

test(
  'f64_pack gives the values json_group_array gives, in the same order: negatives, zero, 2^53, NULL as NaN, several columns one after the other, no rows as an empty BLOB; the packed runs read as the JSON ones plan',
  withDb((db) => {
    assert.ok(packedRunsAvailable(db));
    db.exec('CREATE TABLE v (k INTEGER PRIMARY KEY, x INTEGER)');
    const values = [0, -1, 1, 2 ** 31, -(2 ** 31) - 1, 1_764_061_234_000, -9_000_000_000, 2 ** 53, -(2 ** 53), 1448, null, 7];
    const insert = db.prepare('INSERT INTO v (k, x) VALUES (?, ?)');
    values.forEach((x, k) => insert.run(k, x));
    // the witness: SQLite's own JSON text of the same column, parsed
    const json = JSON.parse(db.prepare('SELECT json_group_array(x) FROM (SELECT x FROM v ORDER BY k)').pluck().get() as string) as (number | null)[];
    const blob = db.prepare('SELECT f64_pack(x) FROM (SELECT x FROM v ORDER BY k)').pluck().get() as Buffer;
    assert.equal(blob.length, values.length * 8);
    const packed = Array.from({ length: values.length }, (_, i) => blob.readDoubleLE(i * 8));
    assert.deepEqual(packed.map((v) => (Number.isNaN(v) ? null : v)), json);
    assert.deepEqual(json, values);
    // descending: the aggregate keeps the order its subquery delivers
    const down = db.prepare('SELECT f64_pack(x) FROM (SELECT x FROM v WHERE x IS NOT NULL ORDER BY k DESC)').pluck().get() as Buffer;
    assert.deepEqual(Array.from({ length: down.length / 8 }, (_, i) => down.readDoubleLE(i * 8)), values.filter((v) => v !== null).reverse());
    // several columns: one after the other, each as its own json_group_array gives it
    const both = db.prepare('SELECT f64_pack(x, k, -k), json_group_array(k) FROM (SELECT x, k FROM v ORDER BY k)').raw(true).get() as [Buffer, string];
    const n = values.length;
    const column = (c: number) => Array.from({ length: n }, (_, i) => both[0].readDoubleLE((c * n + i) * 8));
    assert.equal(both[0].length, 3 * n * 8);
    assert.deepEqual(column(0).map((v) => (Number.isNaN(v) ? null : v)), json);
    assert.deepEqual(column(1), JSON.parse(both[1]));
    assert.deepEqual(column(2), (JSON.parse(both[1]) as number[]).map((k) => 0 - k));
    const none = db.prepare('SELECT f64_pack(x) FROM v WHERE k < 0').pluck().get() as Buffer;
    assert.equal(none.length, 0);
    // more rows than the aggregate's first buffer (256), so it grows
    const many = db.prepare('WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) SELECT f64_pack(i * 1000003 - 7, i), json_group_array(i * 1000003 - 7), json_group_array(i) FROM n').raw(true).get() as [Buffer, string, string];
    assert.deepEqual(Array.from({ length: many[0].length / 8 }, (_, i) => many[0].readDoubleLE(i * 8)), [...JSON.parse(many[1]), ...JSON.parse(many[2])]);

    const plans = explainCorrelation(db);
    const packedRuns = runStatements(db, 'packed');
    for (const name of ['sentRun', 'ackRun', 'sentRange', 'ackRange', 'unkeyedRun', 'keyedRun'] as const) {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${packedRuns[name].source}`).all(paramsOf(packedRuns[name].source)) as { detail: string }[])
        .map((r) => r.detail)
        .join('; ');
      assert.equal(plan, plans[name], `${name}: the packed statement reads as the JSON one`);
    }
  }),
);

/** The named parameters a statement uses, with harmless values (for EXPLAIN QUERY PLAN). */
function paramsOf(sql: string): Record<string, unknown> {
  const all: Record<string, unknown> = { session: 1, base: 0n, flow: 1, dir: 0, x: 0, y: 1, n: 16, key: 1, after: -1, srcAddr: '', srcPort: 0, dstAddr: '', dstPort: 0 };
  return Object.fromEntries(Object.entries(all).filter(([k]) => new RegExp(`@${k}\\b`).test(sql)));
}

test(
  'synthetic sessions: retransmissions, SACKs, gaps, partial and empty writes, writes out of offset order, drops, a mid-stream capture placed by tags, port reuse',
  withDb((db) => {
    // the worker test's session shape over several flows, plus what it lacks
    const s = new SyntheticSession(db, 'walk-records', { nearMarginNs: 5000n, clockUncertaintyNs: 2000n });
    const rnd = seededRandom(11);
    s.db.transaction(() => {
      for (let k = 0; k < 4; k++) {
        const a: [string, number] = ['10.0.0.1', 41000 + k];
        const b: [string, number] = ['10.0.0.2', 7000];
        const f = s.flow({ a, b, firstUs: k });
        let off = 0;
        let us = 0;
        for (let w = 0; w < 900; w++) {
          const segments = 1 + ((w * 7 + k) % 3);
          const start = off;
          let lastUs = us;
          for (let i = 0; i < segments; i++) {
            us += 10;
            // a capture gap: every 50th write's second segment was not captured
            if (!(w % 50 === 3 && i === 1)) f.segment(us, off, 1000);
            off += 1000;
            lastUs = us;
            if (w % 37 === 5 && i === 0) f.segment(us + 1, off - 1000, 1000);
            f.ack(us + 5, Math.max(0, off - 2000), w % 61 === 7 ? [[off - 1000, off]] : undefined);
          }
          const completedUs = lastUs + Math.floor(rnd() * 60) - 20;
          const len = off - start;
          s.completion({
            src: a,
            dst: b,
            // flow 2 posts its write ids in reverse offset order: look-ups go backwards
            writeId: k === 2 ? 10_000 - w : w,
            start,
            end: off,
            submittedUs: completedUs - 30,
            completedUs,
            bytesReported: w % 13 === 0 ? Math.floor(len / 2) : len,
            tcpInfo: w % 5 === 0 ? { bytesSent: off, bytesAcked: Math.max(0, off - 3000) } : undefined,
          });
          // an empty write now and then
          if (w % 17 === 0) s.completion({ src: a, dst: b, writeId: k === 2 ? 20_000 - w : 100_000 + w, start: off, end: off, submittedUs: completedUs, completedUs: completedUs + 1 });
        }
        // writes after the capture's last frame
        for (let w = 0; w < 5; w++) {
          s.completion({ src: a, dst: b, writeId: 200_000 + w, start: off + w * 100, end: off + w * 100 + 100, submittedUs: us + 100 + w, completedUs: us + 200 + w });
        }
      }
      // a mid-stream capture: no SYN, offsets placed by write tags 1_000_000 bytes in
      const mid = s.flow({ a: ['10.0.0.3', 42000], b: ['10.0.0.2', 7000], synSeen: false, firstUs: 50 });
      let off = 0;
      for (let w = 0; w < 300; w++) {
        const us = 50 + w * 20;
        mid.segment(us, off, 1200);
        if (w % 10 === 0) mid.tag(us, off, 5000 + w, 1_000_000 + off, 1200);
        mid.ack(us + 5, off + 600);
        s.completion({ src: ['10.0.0.3', 42000], dst: ['10.0.0.2', 7000], writeId: 5000 + w, start: 1_000_000 + off, end: 1_000_000 + off + 1200, submittedUs: us - 15, completedUs: us + ((w * 7) % 30) - 10 });
        off += 1200;
      }
      // port reuse: the same address pair as flow 0 again, later
      const again = s.flow({ a: ['10.0.0.1', 41000], b: ['10.0.0.2', 7000], firstUs: 10_000_000 });
      for (let w = 0; w < 400; w++) {
        const us = 10_000_000 + w * 10;
        again.segment(us, w * 500, 500);
        again.ack(us + 5, w * 500);
      }
      // completions of a flow the capture never saw
      for (let w = 0; w < 20; w++) {
        s.completion({ src: ['10.9.9.9', 5555], dst: ['10.0.0.2', 7000], writeId: w, start: w * 100, end: w * 100 + 100, submittedUs: w * 3, completedUs: w * 3 + 2 });
      }
    })();
    s.finish({ dropped: 0 });
    const walk = assertSameCorrelation(db, s.id);
    const stages = new Set(walk.records.map((r) => r.stage));
    for (const stage of ['acked', 'wire', 'partial-wire', 'unknown']) assert.ok(stages.has(stage as never), `the session has ${stage} writes`);
    assert.ok(walk.records.some((r) => r.retransmitted));
    assert.ok(walk.records.some((r) => r.sackedNs !== null));
    assert.ok(walk.records.some((r) => r.reason === 'bytes-not-captured'));

    // the same session with kernel drops: every bound becomes a window
    const dropped = new SyntheticSession(db, 'walk-drops');
    const f = dropped.flow({ a: ['10.0.0.1', 43000], b: ['10.0.0.2', 7000] });
    for (let w = 0; w < 400; w++) {
      f.segment(w * 10, w * 1000, 1000);
      f.ack(w * 10 + 5, w * 1000);
      dropped.completion({ src: ['10.0.0.1', 43000], dst: ['10.0.0.2', 7000], writeId: w, start: w * 1000, end: w * 1000 + 1000, submittedUs: w * 10 - 5, completedUs: w * 10 + (w % 20) - 5 });
    }
    dropped.finish({ dropped: 3 });
    assertSameCorrelation(db, dropped.id);
  }),
);

test(
  'an imported capture whose sequence numbers wrap past 2^32, with SACKs, a retransmission and a hole',
  withDb(async (db) => {
    const sessionId = createSession(db, { name: 'walk-import', kind: 'import' }).id;
    const isnA = 2 ** 32 - 700_000; // wraps after 700 kB
    const isnB = 12345;
    const A = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 7000 };
    const B = { src: '10.0.0.2', dst: '10.0.0.1', sport: 7000, dport: 40000 };
    const records: { sec: number; frac: number; data: Uint8Array }[] = [];
    let ns = 0;
    const push = (data: Uint8Array) => {
      ns += 3000;
      records.push({ sec: 1_764_000_000 + Math.floor(ns / 1e9), frac: ns % 1e9, data });
    };
    push(ipv4Tcp({ ...A, seq: isnA, flags: 'S' }));
    push(ipv4Tcp({ ...B, seq: isnB, ack: isnA + 1, flags: 'SA' }));
    push(ipv4Tcp({ ...A, seq: isnA + 1, ack: isnB + 1, flags: 'A' }));
    const MSS = 1400;
    const segments = 1500; // 2.1 MB: past the wrap
    const sentAtNs: number[] = [];
    for (let i = 0; i < segments; i++) {
      const seq = isnA + 1 + i * MSS;
      // segment 700 is lost to the capture (a hole), 900 is retransmitted later
      if (i !== 700) push(ipv4Tcp({ ...A, seq, ack: isnB + 1, flags: 'PA', payload: new Uint8Array(MSS) }));
      sentAtNs.push(ns);
      if (i === 905) push(ipv4Tcp({ ...A, seq: isnA + 1 + 900 * MSS, ack: isnB + 1, flags: 'PA', payload: new Uint8Array(MSS) }));
      if (i % 2 === 1) {
        const acked = Math.max(0, (i - 3) * MSS);
        const sack = i > 901 && i < 910 ? { options: sackOption([[isnA + 1 + 901 * MSS, isnA + 1 + i * MSS]]) } : {};
        push(ipv4Tcp({ ...B, seq: isnB + 1, ack: isnA + 1 + (i > 897 && i < 910 ? 900 * MSS : acked), flags: 'A', ...sack }));
      }
    }
    const file = pcapFile({ le: true, ns: true, linkType: LINKTYPE_RAW, records });
    await importCapture(db, sessionId, (async function* () {
      yield file;
    })());
    const insert = db.prepare(
      `INSERT INTO completions (session_id, src_addr, src_port, dst_addr, dst_port, write_id, offset_start, offset_end,
         submitted_ns, completed_ns, bytes_reported, api, buffers, status) VALUES (?, '10.0.0.1', 40000, '10.0.0.2', 7000, ?, ?, ?, ?, ?, ?, 'posix:send', 1, 'ok')`,
    );
    const captureT0 = 1_764_000_000n * 1_000_000_000n;
    const rnd = seededRandom(3);
    let off = 0;
    for (let w = 0; off < segments * MSS; w++) {
      const len = Math.min(segments * MSS - off, 500 + Math.floor(rnd() * 6000));
      const last = Math.floor((off + len - 1) / MSS);
      const completed = sentAtNs[last] + Math.floor(rnd() * 40_000) - 15_000;
      insert.run(sessionId, w, off, off + len, captureT0 + BigInt(completed - 20_000), captureT0 + BigInt(completed), w % 29 === 0 ? Math.floor(len / 3) : len);
      off += len;
    }
    db.prepare("UPDATE sessions SET state = 'stopped' WHERE id = ?").run(sessionId);
    const walk = assertSameCorrelation(db, sessionId);
    assert.ok(walk.records.some((r) => r.offsetStart < 700_000 && r.offsetEnd > 700_000 && r.lastWireNs !== null), 'a write across the wrap was seen leaving');
    assert.ok(walk.records.some((r) => r.retransmitted));
    assert.ok(walk.records.some((r) => r.sackedNs !== null));
  }),
);

test(
  'completions posted through the API and written by raw SQL come in (address pair, write id) order without a sort, and a kernel witness is found',
  withDb((db) => {
    const s = new SyntheticSession(db, 'walk-order');
    // address pairs whose text order is not their numeric order ('10.0.0.10' < '10.0.0.9')
    const pairs: [[string, number], [string, number]][] = [
      [['10.0.0.9', 40000], ['10.0.0.2', 7000]],
      [['10.0.0.10', 40000], ['10.0.0.2', 7000]],
      [['10.0.0.10', 9000], ['10.0.0.2', 7000]],
      [['10.0.0.2', 7000], ['10.0.0.10', 40000]],
    ];
    for (const [a, b] of pairs) {
      const f = s.flow({ a, b });
      for (let i = 0; i < 30; i++) f.segment(10 + i * 10, i * 1000, 1000).ack(15 + i * 10, (i + 1) * 1000);
    }
    s.finish();
    const row = (src: [string, number], dst: [string, number], writeId: number): CompletionRow => ({
      srcAddr: src[0],
      srcPort: src[1],
      dstAddr: dst[0],
      dstPort: dst[1],
      writeId,
      offsetStart: writeId * 1000,
      offsetEnd: writeId * 1000 + 1000,
      submittedNs: T0 + BigInt(writeId * 10_000),
      completedNs: T0 + BigInt(writeId * 10_000 + 12_000),
      bytesReported: 1000,
      api: 'posix:send',
      buffers: 1,
      status: 'ok',
      writeReturned: null,
      immediate: null,
      writableLength: null,
      tcpBytesSent: null,
      tcpBytesAcked: null,
      tcpNotsentBytes: null,
      tcpUnacked: null,
      tcpBytesRetrans: null,
      tcpRttUs: null,
      tcpInfoFrom: null,
      extra: null,
    });
    // posted through the API (keyed), in an order of their own: later write ids first
    const posted: CompletionRow[] = [];
    for (const [a, b] of [pairs[2], pairs[0], pairs[3]]) for (let w = 29; w >= 10; w--) posted.push(row(a, b, w));
    storeCompletions(db, s.id, posted);
    // raw SQL rows (unkeyed): the first write ids, and one repeating a posted write id
    for (const [a, b] of [pairs[1], pairs[0], pairs[3]]) {
      for (let w = 0; w < 10; w++) s.completion({ src: a, dst: b, writeId: w, start: w * 1000, end: w * 1000 + 1000, submittedUs: w * 10, completedUs: w * 10 + 12 });
    }
    s.completion({ src: pairs[0][0], dst: pairs[0][1], writeId: 15, start: 15_000, end: 16_000, submittedUs: 150, completedUs: 162 });
    assert.ok((db.prepare('SELECT count(*) FROM completions WHERE session_id = ? AND flow_key IS NOT NULL').pluck().get(s.id) as number) > 0, 'some rows are keyed');
    assert.ok((db.prepare('SELECT count(*) FROM completions WHERE session_id = ? AND flow_key IS NULL').pluck().get(s.id) as number) > 0, 'some rows are not');
    // the order the correlation always had, by its definition
    const expected = db
      .prepare('SELECT id FROM completions WHERE session_id = ? ORDER BY src_addr, src_port, dst_addr, dst_port, write_id, id')
      .pluck()
      .all(s.id) as number[];
    const plain = correlateSession(db, s.id);
    assert.deepEqual(
      plain.records.map((r) => r.completionId),
      expected,
    );
    assert.ok(plain.records.every((r) => r.kernel === null));

    // a kernel witness for some completions: the correlation reads it (the join's read)
    storeKernelWitnesses(db, s.id, [
      { flow: { srcAddr: '10.0.0.9', srcPort: 40000, dstAddr: '10.0.0.2', dstPort: 7000 }, writeId: 12, witness: { byte: 12_999, qdiscInNs: T0 + 120_500n, qdiscOutNs: T0 + 120_700n, driverNs: T0 + 121_000n, ackArrivedNs: T0 + 135_000n, ackProcessedNs: T0 + 135_004n, retransmitted: false } },
      { flow: { srcAddr: '10.0.0.10', srcPort: 9000, dstAddr: '10.0.0.2', dstPort: 7000 }, writeId: 20, witness: { byte: 20_999, qdiscInNs: null, qdiscOutNs: null, driverNs: T0 + 211_000n, ackArrivedNs: null, ackProcessedNs: null, retransmitted: true } },
    ]);
    const witnessed = assertSameCorrelation(db, s.id);
    assert.deepEqual(
      witnessed.records.map((r) => r.completionId),
      expected,
    );
    const withKernel = witnessed.records.filter((r) => r.kernel !== null);
    assert.equal(withKernel.length, 2);
    const k12 = withKernel.find((r) => r.srcAddr === '10.0.0.9' && r.writeId === 12)!;
    assert.equal(k12.kernel!.driverNs, Number(T0 + 121_000n - witnessed.baseNs));
    assert.equal(k12.kernel!.ackProcessedNs, Number(T0 + 135_004n - witnessed.baseNs));
    const k20 = withKernel.find((r) => r.srcPort === 9000 && r.writeId === 20)!;
    assert.equal(k20.kernel!.qdiscInNs, null);
    assert.equal(k20.kernel!.retransmitted, true);
  }),
);
