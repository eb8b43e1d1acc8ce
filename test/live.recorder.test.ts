/**
 * The live sink stores a batch in kernel-timestamp order: on `lo` frames can reach the
 * packet socket out of the order they were stamped in, and taken as delivered the
 * earlier segment would look like a retransmission of bytes "never captured".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { FrameWriter } from '../db/frame-writer.js';
import { CaptureRecorder } from '../recording/live/recorder.js';
import { tempDir } from './helpers/app.js';
import { ipv4Tcp } from './helpers/packets.js';

const LINKTYPE_RAW = 101;
const T0 = 1_764_000_000_000_000_000n;

/** A batch in the addon's layout (capture/native forEachFrame): ts u64, caplen, wirelen, bytes, 8-aligned. */
function batch(frames: { tsNs: bigint; bytes: Uint8Array }[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of frames) {
    const size = (16 + f.bytes.length + 7) & ~7;
    const rec = Buffer.alloc(size);
    rec.writeBigUInt64LE(f.tsNs, 0);
    rec.writeUInt32LE(f.bytes.length, 8);
    rec.writeUInt32LE(f.bytes.length, 12);
    rec.set(f.bytes, 16);
    parts.push(rec);
  }
  return Buffer.concat(parts);
}

test('a batch delivered out of stamp order is stored in stamp order: no false retransmission', () => {
  const t = tempDir();
  const db = openDatabase(join(t.dir, 'a.db'));
  try {
    const session = createSession(db, { name: 'sink', kind: 'live', interface: 'lo' });
    const sink = new CaptureRecorder(new FrameWriter(db, session.id), join(t.dir, 'capture.pcapng'), LINKTYPE_RAW, 65535, 'lo');
    const isn = 1000;
    const data = (n: number) => new Uint8Array(n).fill(7);
    sink.addBatch(
      batch([
        { tsNs: T0, bytes: ipv4Tcp({ seq: isn, flags: 'S' }) },
        { tsNs: T0 + 10n, bytes: ipv4Tcp({ src: '10.0.0.2', dst: '10.0.0.1', sport: 7000, dport: 40000, seq: 5000, ack: isn + 1, flags: 'SA' }) },
        { tsNs: T0 + 20n, bytes: ipv4Tcp({ seq: isn + 1, ack: 5001, flags: 'A' }) },
        // delivered out of order: bytes [100, 200) reach the socket before [0, 100)
        { tsNs: T0 + 40n, bytes: ipv4Tcp({ seq: isn + 101, ack: 5001, flags: 'PA', payload: data(100) }) },
        { tsNs: T0 + 30n, bytes: ipv4Tcp({ seq: isn + 1, ack: 5001, flags: 'PA', payload: data(100) }) },
      ]),
    );
    sink.finish();
    const rows = db
      .prepare('SELECT ts_ns, seq_off, payload_len, retransmit, sent_max FROM frames WHERE session_id = ? AND payload_len > 0 ORDER BY frame_no')
      .safeIntegers(true)
      .all(session.id) as { ts_ns: bigint; seq_off: bigint; payload_len: bigint; retransmit: bigint; sent_max: bigint }[];
    assert.deepEqual(
      rows.map((r) => [r.ts_ns - T0, r.seq_off, r.retransmit, r.sent_max].map(Number)),
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
