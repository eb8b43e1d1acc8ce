import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase } from '../db/connection.js';
import { loadMigrations, migrate } from '../db/migrate.js';
import { createSession } from '../db/sessions.js';
import { LEAN_FIELDS, listCompletions, putLeanColumns, storeCompletions } from '../db/completions.js';
import { parseCompletion } from '../core/completion.js';
import { isAckscopeError } from '../core/errors.js';
import { tempDir } from './helpers/app.js';
import { BASE_NS, completionRecord } from '../fixtures/records.js';

const FLOW_KEYS_VERSION = 6;

function record(writeId: number, srcPort: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return completionRecord({ writeId, srcPort, writeBytes: 100, submittedNs: BASE_NS + BigInt(writeId) * 1000n, takesNs: 500n }, over);
}

test('006 keeps completions stored before it, keyed by flow, and later posts of them are duplicates', () => {
  const t = tempDir();
  try {
    const db = openDatabase(join(t.dir, 'old.db'), { migrate: false });
    migrate(db, loadMigrations().filter((m) => m.version < FLOW_KEYS_VERSION));
    const a = createSession(db, { name: 'a', kind: 'import' }).id;
    const b = createSession(db, { name: 'b', kind: 'import' }).id;
    // rows as the code before 006 wrote them (001's columns only)
    const insert = db.prepare(
      `INSERT INTO completions (session_id, src_addr, src_port, dst_addr, dst_port, write_id, offset_start, offset_end,
         submitted_ns, completed_ns, bytes_reported, api, buffers, status, tcp_bytes_sent)
       VALUES (?, '127.0.0.1', ?, '127.0.0.1', 7000, ?, ?, ?, ?, ?, 100, 'node:socket.write', 1, 'ok', ?)`,
    );
    const old: [number, number, number][] = [
      [a, 40001, 0],
      [a, 40002, 0],
      [a, 40001, 1],
      [b, 40001, 0],
    ];
    for (const [session, port, w] of old) {
      insert.run(session, port, w, w * 100, (w + 1) * 100, BASE_NS + BigInt(w) * 1000n, BASE_NS + BigInt(w) * 1000n + 500n, w === 1 ? 200 : null);
    }
    const idsBefore = db.prepare('SELECT id FROM completions ORDER BY id').pluck().all();

    migrate(db);
    assert.deepEqual(db.prepare('SELECT id FROM completions ORDER BY id').pluck().all(), idsBefore, 'row ids kept');
    const flows = db.prepare('SELECT session_id, src_port FROM completion_flows ORDER BY session_id, src_port').raw().all();
    assert.deepEqual(flows, [
      [a, 40001],
      [a, 40002],
      [b, 40001],
    ]);
    const keyed = db
      .prepare(
        `SELECT count(*) FROM completions c JOIN completion_flows f ON f.id = c.flow_key
          WHERE f.session_id = c.session_id AND f.src_port = c.src_port AND f.src_addr = c.src_addr`,
      )
      .pluck()
      .get();
    assert.equal(keyed, old.length, 'every migrated row points at its own flow');
    const listed = listCompletions(db, a, { srcPort: 40001 }, 10);
    assert.deepEqual(
      listed.map((r) => [r.writeId, r.tcpBytesSent, r.tcpInfoFrom]),
      [
        [0, null, null],
        [1, 200, null],
      ],
    );

    // posting the migrated records again: duplicates; a new writeId of a known flow is stored
    const again = [record(0, 40001), record(1, 40001, { tcpInfo: { bytesSent: 200 } }), record(0, 40002), record(2, 40001)];
    const rows = again.map((r, i) => parseCompletion(r, i));
    assert.deepEqual(storeCompletions(db, a, rows), { stored: 1, duplicates: 3 });
    // the same key with different content is a conflict naming the record
    assert.throws(
      () => storeCompletions(db, a, [parseCompletion(record(1, 40002), 0), parseCompletion(record(0, 40002, { status: 'EPIPE' }), 1)]),
      (err) => isAckscopeError(err) && err.code === 'ACKSCOPE_ERR_CONFLICT' && /record 1 \(writeId 0/.test(err.message),
    );
    assert.equal(listCompletions(db, a, { srcPort: 40002 }, 10).length, 1, 'the refused request stored nothing');
    db.close();
  } finally {
    t.cleanup();
  }
});

test('a shared TCP_INFO reading is stored and listed with the write it came from', () => {
  const t = tempDir();
  try {
    const db = openDatabase(join(t.dir, 'new.db'));
    const s = createSession(db, { name: 's', kind: 'import' }).id;
    const tcpInfo = { bytesSent: 300, bytesAcked: 100, notsentBytes: 0, unacked: 2, bytesRetrans: 0, rttUs: 9 };
    const rows = [record(0, 1, { tcpInfo }), record(1, 1, { tcpInfo, tcpInfoFrom: 0 })].map((r, i) => parseCompletion(r, i));
    assert.deepEqual(storeCompletions(db, s, rows), { stored: 2, duplicates: 0 });
    assert.deepEqual(
      listCompletions(db, s, {}, 10).map((r) => [r.writeId, r.tcpBytesSent, r.tcpInfoFrom]),
      [
        [0, 300, null],
        [1, 300, 0],
      ],
    );
    assert.throws(() => parseCompletion(record(2, 1, { tcpInfoFrom: 0 }), 0), /tcpInfoFrom: .*needs tcpInfo/);
    db.close();
  } finally {
    t.cleanup();
  }
});

test('the written-out lean column fill follows the lean column list', () => {
  const row = parseCompletion(record(3, 1), 0) as unknown as Record<string, unknown>;
  for (const key of Object.keys(row)) row[key] = `value of ${key}`; // every field told apart
  const params: unknown[] = [];
  const end = putLeanColumns(row as never, params, 0);
  assert.equal(end, LEAN_FIELDS.length);
  assert.deepEqual(
    params,
    LEAN_FIELDS.map((f) => row[f]),
  );
});
