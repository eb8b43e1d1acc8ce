/**
 * sent_advances / ack_advances (migrations/005_frame_advances.sql): the correlation's
 * look-up tables hold exactly the frames whose running maximum advanced, whether the
 * writer writes them with every flush (live capture) or holds them until finish (file
 * import); they go with their flows; migration 005 fills them from frames stored before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Db } from '../db/connection.js';
import { openDatabase } from '../db/connection.js';
import { loadMigrations, migrate } from '../db/migrate.js';
import { createSession, deleteSession } from '../db/sessions.js';
import { FrameWriter } from '../db/frame-writer.js';
import { ipv4Tcp } from './helpers/packets.js';
import { tempDir } from './helpers/app.js';

const LINKTYPE_RAW = 101;
const T0 = 1_764_000_000_000_000_000n;

/**
 * Three connections interleaved frame by frame: handshake, data segments, ACKs every
 * second segment, one retransmission (no advance), a duplicate ACK (no advance).
 */
function interleavedFrames(): Uint8Array[] {
  const perFlow: Uint8Array[][] = [];
  for (let f = 0; f < 3; f++) {
    const c = { sport: 40000 + f, dport: 7000 };
    const s = { src: '10.0.0.2', dst: '10.0.0.1', sport: 7000, dport: 40000 + f };
    const isn = 1000 * (f + 1);
    const frames = [
      ipv4Tcp({ ...c, seq: isn, flags: 'S' }),
      ipv4Tcp({ ...s, seq: 50, ack: isn + 1, flags: 'SA' }),
      ipv4Tcp({ ...c, seq: isn + 1, ack: 51, flags: 'A' }),
    ];
    for (let k = 0; k < 6; k++) {
      frames.push(ipv4Tcp({ ...c, seq: isn + 1 + k * 100, ack: 51, flags: 'PA', payload: new Uint8Array(100) }));
      if (k % 2 === 1) frames.push(ipv4Tcp({ ...s, seq: 51, ack: isn + 1 + (k + 1) * 100, flags: 'A' }));
    }
    frames.push(ipv4Tcp({ ...c, seq: isn + 1 + 200, ack: 51, flags: 'PA', payload: new Uint8Array(100) })); // retransmission
    frames.push(ipv4Tcp({ ...s, seq: 51, ack: isn + 1 + 600, flags: 'A' })); // duplicate ACK
    perFlow.push(frames);
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < perFlow[0].length; i++) for (const frames of perFlow) out.push(frames[i]);
  return out;
}

function write(writer: FrameWriter, frames: Uint8Array[]): void {
  frames.forEach((f, i) => writer.addFrame(LINKTYPE_RAW, T0 + BigInt(i) * 1000n, f.length, f.length, f));
}

/** The session's advance rows, and what frames says they should be. */
function advances(db: Db, sessionId: number) {
  const flows = 'flow_id IN (SELECT id FROM flows WHERE session_id = @session)';
  const rows = (sql: string) => db.prepare(sql).raw(true).safeIntegers(true).all({ session: sessionId });
  return {
    sent: rows(`SELECT flow_id, dir, sent_max, ts_ns, seq_off FROM sent_advances WHERE ${flows} ORDER BY flow_id, dir, sent_max`),
    ack: rows(`SELECT flow_id, dir, acked_max, ts_ns FROM ack_advances WHERE ${flows} ORDER BY flow_id, dir, acked_max`),
    sentInFrames: rows(`SELECT flow_id, dir, sent_max, ts_ns, seq_off FROM frames WHERE session_id = @session AND sent_advanced = 1
      ORDER BY flow_id, dir, sent_max`),
    ackInFrames: rows(`SELECT flow_id, dir, acked_max, ts_ns FROM frames WHERE session_id = @session AND ack_advanced = 1
      ORDER BY flow_id, dir, acked_max`),
  };
}

test('the advance tables hold exactly the frames that advanced, written with every flush or held until finish', () => {
  const t = tempDir();
  try {
    const db = openDatabase(join(t.dir, 'a.db'));
    const frames = interleavedFrames();
    for (const holdAdvances of [0, 7, 1_000_000]) {
      const s = createSession(db, { name: `hold ${holdAdvances}`, kind: 'import' });
      const writer = new FrameWriter(db, s.id, { batchFrames: 5, holdAdvances });
      write(writer, frames.slice(0, 20));
      const early = advances(db, s.id);
      if (holdAdvances === 1_000_000) {
        assert.equal(early.sent.length + early.ack.length, 0, 'held: nothing written before finish');
        assert.ok(early.sentInFrames.length > 0, 'while the frames themselves are written with every batch');
      }
      if (holdAdvances === 0) assert.deepEqual(early.sent, early.sentInFrames, 'written with every flush');
      write(writer, frames.slice(20));
      writer.finish();

      const a = advances(db, s.id);
      // per flow: 6 data segments advance (the retransmission does not); 3 ACKs from the server
      // advance (the duplicate does not), plus the handshake ACKs of both sides
      assert.equal(a.sent.length, 3 * 6, `hold ${holdAdvances}`);
      assert.equal(a.ack.length, 3 * (3 + 2), `hold ${holdAdvances}`);
      assert.deepEqual(a.sent, a.sentInFrames, `hold ${holdAdvances}: sent_advances`);
      assert.deepEqual(a.ack, a.ackInFrames, `hold ${holdAdvances}: ack_advances`);
    }
    db.close();
  } finally {
    t.cleanup();
  }
});

test('advance rows go with their flows: a discarded import and a deleted session leave none', () => {
  const t = tempDir();
  try {
    const db = openDatabase(join(t.dir, 'a.db'));
    const count = () =>
      (db.prepare('SELECT (SELECT count(*) FROM sent_advances) + (SELECT count(*) FROM ack_advances)').pluck().get() as number);
    const frames = interleavedFrames();

    const kept = createSession(db, { name: 'kept', kind: 'import' });
    const keptWriter = new FrameWriter(db, kept.id);
    write(keptWriter, frames);
    keptWriter.finish();
    const keptRows = count();
    assert.ok(keptRows > 0);

    // written in part (hold 1: every flush writes), then discarded as a failed import is
    const failed = createSession(db, { name: 'failed', kind: 'import' });
    const failedWriter = new FrameWriter(db, failed.id, { batchFrames: 4, holdAdvances: 1 });
    write(failedWriter, frames);
    assert.ok(count() > keptRows);
    failedWriter.discard();
    assert.equal(count(), keptRows, 'discard');

    deleteSession(db, kept.id);
    assert.equal(count(), 0, 'deleting the session (flows cascade, then the trigger)');
    db.close();
  } finally {
    t.cleanup();
  }
});

test('migration 005 fills the advance tables from frames stored before it and drops the partial indexes', () => {
  const t = tempDir();
  try {
    const db = openDatabase(join(t.dir, 'a.db'), { migrate: false });
    migrate(db, loadMigrations().filter((m) => m.version <= 4));
    const s = createSession(db, { name: 'old', kind: 'import' });
    const flow = Number(
      db
        .prepare(`INSERT INTO flows (session_id, ip_version, a_addr, a_port, b_addr, b_port, first_ns, last_ns)
                  VALUES (?, 4, '10.0.0.1', 40000, '10.0.0.2', 7000, ?, ?)`)
        .run(s.id, T0, T0).lastInsertRowid,
    );
    const insert = db.prepare(
      `INSERT INTO frames (id, session_id, frame_no, flow_id, dir, ts_ns, caplen, wirelen, tcp_flags, seq_raw, ack_raw,
         seq_off, payload_len, ack_off, window, retransmit, sent_max, acked_max, sent_advanced, ack_advanced)
       VALUES (?, ?, ?, ?, ?, ?, 60, 60, 16, 0, 0, ?, ?, ?, 65535, 0, ?, ?, ?, ?)`,
    );
    // frame_no, dir, seq_off, payload_len, ack_off, sent_max, acked_max, sent_advanced, ack_advanced
    const rows: [number, number, number, number, number | null, number, number | null, number, number][] = [
      [1, 0, 0, 100, null, 100, null, 1, 0],
      [2, 1, 0, 0, 100, 0, 100, 0, 1],
      [3, 0, 100, 100, null, 200, null, 1, 0],
      [4, 0, 0, 100, null, 200, null, 0, 0], // retransmission
      [5, 1, 0, 0, 200, 0, 200, 0, 1],
      [6, 1, 0, 0, 200, 0, 200, 0, 0], // duplicate ACK
    ];
    for (const [no, dir, seqOff, len, ackOff, sentMax, ackedMax, sentAdv, ackAdv] of rows) {
      insert.run(s.id * 2 ** 32 + no, s.id, no, flow, dir, T0 + BigInt(no), seqOff, len, ackOff, sentMax, ackedMax, sentAdv, ackAdv);
    }
    migrate(db);
    const sent = db.prepare('SELECT dir, sent_max, ts_ns, seq_off FROM sent_advances ORDER BY sent_max').raw(true).safeIntegers(true).all();
    const ack = db.prepare('SELECT dir, acked_max, ts_ns FROM ack_advances ORDER BY acked_max').raw(true).safeIntegers(true).all();
    assert.deepEqual(sent, [
      [0n, 100n, T0 + 1n, 0n],
      [0n, 200n, T0 + 3n, 100n],
    ]);
    assert.deepEqual(ack, [
      [1n, 100n, T0 + 2n],
      [1n, 200n, T0 + 5n],
    ]);
    const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'frames'").pluck().all();
    assert.ok(!indexes.includes('frames_first_sent') && !indexes.includes('frames_first_ack'), String(indexes));
    db.close();
  } finally {
    t.cleanup();
  }
});
