/**
 * The live capture's reorder window: frames are handed on in kernel-timestamp order
 * even when the disorder straddles two batches (on `lo` a frame stamped on one CPU's
 * backlog can reach the packet socket after frames stamped later, and the addon cuts
 * batches by count and time, not by stamp). Frames newer than the newest stamp minus
 * the bound wait for the next batch; stop flushes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ReorderWindow } from '../recording/live/reorder.js';
import { openDatabase } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { FrameWriter } from '../db/frame-writer.js';
import { CaptureRecorder } from '../recording/live/recorder.js';
import { tempDir } from './helpers/app.js';
import { ipv4Tcp } from './helpers/packets.js';

const MS = 1_000_000n;
const T0 = 1_764_000_000_000_000_000n;

interface Frame {
  tsNs: bigint;
  name: string;
}
const f = (ms: number, name: string): Frame => ({ tsNs: T0 + BigInt(Math.round(ms * 1e6)), name });
const names = (frames: Frame[]) => frames.map((x) => x.name);

test('frames within the bound of the newest stamp wait for the next batch, then go out in stamp order', () => {
  const w = new ReorderWindow<Frame>(10n * MS, 1000);
  // batch 1 ends with a frame stamped late (c at 5 ms); b (stamped 4 ms) comes in batch 2
  assert.deepEqual(names(w.push([f(0, 'a'), f(5, 'c')])), [], 'nothing is 10 ms older than the newest stamp yet');
  assert.deepEqual(names(w.push([f(4, 'b'), f(12, 'd')])), ['a']);
  assert.deepEqual(names(w.push([f(30, 'e')])), ['b', 'c', 'd']);
  assert.deepEqual(names(w.drain()), ['e'], 'stop flushes the rest');
  assert.deepEqual(names(w.drain()), []);
});

test('equal stamps keep their capture order; a frame behind the window goes out at once', () => {
  const w = new ReorderWindow<Frame>(10n * MS, 1000);
  assert.deepEqual(names(w.push([f(0, 'a1'), f(0, 'a2'), f(20, 'z')])), ['a1', 'a2']);
  assert.deepEqual(names(w.push([f(-1, 'early')])), ['early'], 'older than frames already handed on: it cannot be placed any more');
  assert.equal(w.late, 1, 'and it is counted');
  assert.deepEqual(names(w.push([f(1, 'mid')])), ['mid'], 'behind the window edge but after everything handed on');
  assert.equal(w.late, 1);
  assert.deepEqual(names(w.drain()), ['z']);
});

test('a quiet capture releases held frames once the clock passed them by the bound', () => {
  const w = new ReorderWindow<Frame>(10n * MS, 1000);
  assert.deepEqual(names(w.push([f(0, 'a'), f(3, 'b')])), []);
  assert.deepEqual(names(w.releaseBefore(T0 + 2n * MS)), ['a']);
  assert.deepEqual(names(w.releaseBefore(T0 + 100n * MS)), ['b']);
});

test('the window holds at most its capacity: the oldest go out first', () => {
  const w = new ReorderWindow<Frame>(10n * MS, 3);
  assert.deepEqual(names(w.push([f(0, 'a'), f(0.1, 'b'), f(0.2, 'c'), f(0.3, 'd'), f(0.4, 'e')])), ['a', 'b']);
  assert.deepEqual(names(w.drain()), ['c', 'd', 'e']);
});

/** A batch in the addon's layout (capture/native forEachFrame): ts u64, caplen, wirelen, bytes, 8-aligned. */
function batch(frames: { tsNs: bigint; bytes: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [];
  for (const fr of frames) {
    const rec = Buffer.alloc((16 + fr.bytes.length + 7) & ~7);
    rec.writeBigUInt64LE(fr.tsNs, 0);
    rec.writeUInt32LE(fr.bytes.length, 8);
    rec.writeUInt32LE(fr.bytes.length, 12);
    rec.set(fr.bytes, 16);
    parts.push(rec);
  }
  return Buffer.concat(parts);
}

test('the recorder stores disorder that straddles two batches in stamp order: no false retransmission', () => {
  const t = tempDir();
  const db = openDatabase(join(t.dir, 'a.db'));
  try {
    const session = createSession(db, { name: 'straddle', kind: 'live', interface: 'lo' });
    const recorder = new CaptureRecorder(new FrameWriter(db, session.id), join(t.dir, 'capture.pcapng'), 101, 65535, 'lo');
    const isn = 1000;
    const data = (n: number) => new Uint8Array(n).fill(7);
    const b = { src: '10.0.0.2', dst: '10.0.0.1', sport: 7000, dport: 40000 };
    recorder.addBatch(
      batch([
        { tsNs: T0, bytes: ipv4Tcp({ seq: isn, flags: 'S' }) },
        { tsNs: T0 + 10n, bytes: ipv4Tcp({ ...b, seq: 5000, ack: isn + 1, flags: 'SA' }) },
        { tsNs: T0 + 20n, bytes: ipv4Tcp({ seq: isn + 1, ack: 5001, flags: 'A' }) },
        // bytes [100, 200), stamped after [0, 100) but delivered first, at the end of a batch
        { tsNs: T0 + 40n, bytes: ipv4Tcp({ seq: isn + 101, ack: 5001, flags: 'PA', payload: data(100) }) },
      ]),
    );
    recorder.flush();
    recorder.addBatch(batch([{ tsNs: T0 + 30n, bytes: ipv4Tcp({ seq: isn + 1, ack: 5001, flags: 'PA', payload: data(100) }) }]));
    recorder.finish();
    const rows = db
      .prepare('SELECT ts_ns - ? AS t, seq_off, retransmit, sent_max FROM frames WHERE session_id = ? AND payload_len > 0 ORDER BY frame_no')
      .safeIntegers(true)
      .all(T0, session.id) as { t: bigint; seq_off: bigint; retransmit: bigint; sent_max: bigint }[];
    assert.deepEqual(
      rows.map((r) => [r.t, r.seq_off, r.retransmit, r.sent_max].map(Number)),
      [
        [30, 0, 0, 100],
        [40, 100, 0, 200],
      ],
    );
  } finally {
    db.close();
    t.cleanup();
  }
});

test('the recorder releases held frames by the clock only once the capture went quiet', () => {
  const t = tempDir();
  const db = openDatabase(join(t.dir, 'a.db'));
  try {
    const session = createSession(db, { name: 'quiet', kind: 'live', interface: 'lo' });
    const recorder = new CaptureRecorder(new FrameWriter(db, session.id), join(t.dir, 'capture.pcapng'), 101, 65535, 'lo');
    const rows = () => db.prepare('SELECT count(*) FROM frames WHERE session_id = ?').pluck().get(session.id);
    const later = T0 + 10_000n * MS; // the wall clock, long after the frame's stamp
    recorder.addBatch(batch([{ tsNs: T0, bytes: ipv4Tcp({ seq: 1, flags: 'S' }) }]));
    recorder.flush(later);
    assert.equal(rows(), 0, 'a batch came since the last flush: a stalled worker may still hold older frames');
    recorder.flush(later);
    assert.equal(rows(), 0, 'one quiet interval is not enough');
    recorder.flush(later);
    assert.equal(rows(), 1, 'two quiet intervals: the frame goes');
    recorder.finish();
  } finally {
    db.close();
    t.cleanup();
  }
});
