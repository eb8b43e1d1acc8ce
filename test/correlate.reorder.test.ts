/**
 * Reordered and partly repeated segments, written by the real frame writer and read by
 * the real correlation. The expected answers are what the test put on the wire: which
 * bytes each segment carried and when, and which of them it had carried before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase } from '../db/connection.js';
import { FrameWriter } from '../db/frame-writer.js';
import { correlateSession } from '../analysis/correlation.js';
import { SyntheticSession, at } from '../fixtures/flowbuilder.js';
import { ipv4Tcp } from './helpers/packets.js';
import { tempDir } from './helpers/app.js';

const LINKTYPE_RAW = 101;
const ISN = 1000;
const A: [string, number] = ['10.0.0.1', 40000];
const B: [string, number] = ['10.0.0.2', 7000];

function session() {
  const t = tempDir();
  const db = openDatabase(join(t.dir, 'a.db'));
  const s = new SyntheticSession(db, 'reorder');
  const writer = new FrameWriter(db, s.id);
  const put = (us: number, bytes: Uint8Array) => writer.addFrame(LINKTYPE_RAW, at(us), bytes.length, bytes.length, bytes);
  /** a → b stream bytes [from, to) at `us` µs. */
  const data = (us: number, from: number, to: number) =>
    put(us, ipv4Tcp({ seq: ISN + 1 + from, ack: 5001, flags: 'PA', claimedPayload: to - from }));
  const ack = (us: number, upTo: number) =>
    put(us, ipv4Tcp({ src: B[0], dst: A[0], sport: B[1], dport: A[1], seq: 5001, ack: ISN + 1 + upTo, flags: 'A' }));
  put(0, ipv4Tcp({ seq: ISN, flags: 'S' }));
  put(1, ipv4Tcp({ src: B[0], dst: A[0], sport: B[1], dport: A[1], seq: 5000, ack: ISN + 1, flags: 'SA' }));
  put(2, ipv4Tcp({ seq: ISN + 1, ack: 5001, flags: 'A' }));
  const write = (writeId: number, start: number, end: number, submittedUs: number, completedUs: number) =>
    s.completion({ src: A, dst: B, writeId, start, end, submittedUs, completedUs });
  const correlate = () => {
    writer.finish();
    s.finish({ startedUs: 0, stoppedUs: 10_000 });
    const result = correlateSession(db, s.id);
    const byWrite = new Map(result.records.map((r) => [r.writeId, r]));
    return Object.assign(byWrite, { epochNs: (relative: number | null) => (relative === null ? null : result.baseNs + BigInt(relative)) });
  };
  return { data, ack, write, correlate, close: () => { db.close(); t.cleanup(); } };
}

test('bytes captured after later bytes (reordered) are a first transmission at their own time', () => {
  const s = session();
  try {
    s.data(100, 1000, 2000); // write 1's bytes first
    s.data(110, 0, 1000); // then write 0's: below the highest byte seen, never seen before
    s.ack(300, 2000);
    s.write(0, 0, 1000, 50, 400);
    s.write(1, 1000, 2000, 60, 400);
    const r = s.correlate();
    const w0 = r.get(0)!;
    assert.equal(w0.reason, null, 'its bytes were captured');
    assert.equal(w0.stage, 'acked');
    assert.equal(w0.retransmitted, false);
    assert.equal(r.epochNs(w0.firstWireNs), at(110), 'first on the wire when the test sent it');
    assert.equal(r.epochNs(r.get(1)!.firstWireNs), at(100));
    assert.equal(r.get(1)!.retransmitted, false);
  } finally {
    s.close();
  }
});

test('a segment overlapping the highest byte sent marks only the bytes sent before as retransmitted', () => {
  const s = session();
  try {
    s.data(100, 0, 1000);
    s.data(110, 900, 2000); // repeats [900, 1000), first transmission of [1000, 2000)
    s.ack(300, 2000);
    s.write(0, 0, 1000, 50, 400);
    s.write(1, 1000, 2000, 60, 400);
    const r = s.correlate();
    assert.equal(r.get(0)!.retransmitted, true, 'bytes 900-999 went out twice');
    assert.equal(r.get(1)!.retransmitted, false, 'none of write 1’s bytes went out twice');
  } finally {
    s.close();
  }
});
