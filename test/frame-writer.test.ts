/**
 * FrameWriter (db/frame-writer.ts) on a real SQLite file: rows in flows, frames, sacks
 * and tags; counters in the sessions row; frame ids; flush/finish/discard.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase } from '../db/connection.js';
import { createSession, getSession } from '../db/sessions.js';
import { FrameWriter } from '../db/frame-writer.js';
import { encodeTag } from '../capture/decode/tag.js';
import { concat, ipv4Tcp, sackOption } from './helpers/packets.js';
import { tempDir } from './helpers/app.js';

function tagged(writeId: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length).fill(0x2e);
  encodeTag(out, 0, { writeId, offset, length });
  return out;
}

test('frames, flows, sacks, tags and counters land in SQLite; discard removes them', () => {
  const t = tempDir();
  try {
    const db = openDatabase(join(t.dir, 'a.db'));
    const s = createSession(db, { name: 'w', kind: 'live', interface: 'lo' });
    const w = new FrameWriter(db, s.id, { batchFrames: 3 });
    const back = { src: '10.0.0.2', dst: '10.0.0.1', sport: 7000, dport: 40000 };
    const frames = [
      ipv4Tcp({ seq: 100, flags: 'S', options: Uint8Array.of(2, 4, 0x05, 0xb4, 4, 2) }),
      ipv4Tcp({ ...back, seq: 900, ack: 101, flags: 'SA', options: Uint8Array.of(4, 2) }),
      ipv4Tcp({ seq: 101, ack: 901, flags: 'A' }),
      ipv4Tcp({ seq: 101, ack: 901, flags: 'PA', payload: concat(tagged(0, 0, 40), tagged(1, 40, 30)) }),
      Uint8Array.of(0x60, 0, 0), // a truncated IPv6 header
      ipv4Tcp({ ...back, seq: 901, ack: 141, flags: 'A', options: concat(Uint8Array.of(1, 1), sackOption([[171, 181]])) }),
      ipv4Tcp({ seq: 171, ack: 901, flags: 'PA', payload: new Uint8Array(10) }), // not a tag where one is due
    ];
    // frames handed over inside one shared batch buffer, as the live worker does
    const batch = concat(new Uint8Array(5), ...frames);
    let at = 5;
    frames.forEach((f, i) => {
      w.addFrame(101, 1_764_000_000_000_000_000n + BigInt(i) * 1000n, f.length, f.length, batch, at, 1000 + i);
      at += f.length;
    });
    const counters = w.finish();
    assert.equal(counters.frames, 7);
    assert.equal(counters.tcp, 6);
    assert.deepEqual(counters.reasons, { 'truncated-ip-header': 1 });

    const session = getSession(db, s.id)!;
    assert.equal(session.frames_total, 7);
    assert.equal(session.frames_tcp, 6);
    assert.equal(session.skipped_truncated, 1);
    assert.equal(session.link_type, 101);

    const rows = db.prepare('SELECT * FROM frames WHERE session_id = ? ORDER BY id').safeIntegers(true).all(s.id) as Record<string, bigint | null>[];
    assert.deepEqual(rows.map((r) => Number(r.frame_no)), [1, 2, 3, 4, 6, 7], 'frame numbers count every packet read');
    assert.deepEqual(rows.map((r) => r.id), rows.map((r) => BigInt(s.id) * 2n ** 32n + r.frame_no!));
    assert.equal(rows[0].ts_ns, 1_764_000_000_000_000_000n);
    assert.equal(rows[3].file_offset, 1003n);
    assert.deepEqual(
      rows.map((r) => [Number(r.dir), Number(r.seq_off), Number(r.payload_len), r.ack_off === null ? null : Number(r.ack_off), Number(r.sent_max), Number(r.sent_advanced), Number(r.ack_advanced)]),
      [
        [0, 0, 0, null, 0, 0, 0],
        [1, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 70, 0, 70, 1, 0],
        [1, 0, 0, 40, 0, 0, 1],
        [0, 70, 10, 0, 80, 1, 0],
      ],
    );
    const flow = db.prepare('SELECT * FROM flows WHERE session_id = ?').get(s.id) as Record<string, unknown>;
    assert.equal(flow.a_addr, '10.0.0.1');
    assert.equal(flow.a_port, 40000);
    assert.equal(flow.a_isn, 100);
    assert.equal(flow.b_isn, 900);
    assert.equal(flow.a_mss, 1460);
    assert.equal(flow.sack_permitted, 1);
    assert.equal(flow.frames, 6);
    assert.equal(flow.a_bytes, 80);
    assert.deepEqual(db.prepare('SELECT dir, left_off, right_off FROM sacks').all(), [{ dir: 1, left_off: 70, right_off: 80 }]);
    assert.deepEqual(db.prepare('SELECT dir, stream_off, write_id, claimed_off, claimed_len FROM tags ORDER BY stream_off').all(), [
      { dir: 0, stream_off: 0, write_id: 0, claimed_off: 0, claimed_len: 40 },
      { dir: 0, stream_off: 40, write_id: 1, claimed_off: 40, claimed_len: 30 },
      { dir: 0, stream_off: 70, write_id: null, claimed_off: null, claimed_len: null },
    ]);

    // a second writer on the same session continues the numbering
    const w2 = new FrameWriter(db, s.id);
    w2.addFrame(101, 1n, frames[2].length, frames[2].length, frames[2]);
    w2.flush();
    assert.equal(w2.lastFrameNo, 8);
    assert.equal(getSession(db, s.id)!.frames_total, 8);
    assert.equal(getSession(db, s.id)!.frames_tcp, 7);
    assert.equal(getSession(db, s.id)!.skipped_truncated, 1, 'the first writer’s counts are kept');
    assert.equal(db.prepare('SELECT MAX(frame_no) FROM frames').pluck().get(), 8);

    w.discard();
    for (const table of ['frames', 'flows', 'sacks', 'tags']) {
      assert.equal(db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get(), 0, table);
    }
    assert.equal(getSession(db, s.id)!.frames_total, 0);
    db.close();
  } finally {
    t.cleanup();
  }
});
