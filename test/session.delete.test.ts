/**
 * Deleting a session never leaves rows another session inherits: a running import
 * refuses the delete (409), a writer whose session went away (another process deleted
 * it) stores nothing more, and session and flow ids are never reused. Migration 008
 * keeps every row of a database written before it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { openDatabase, type Db } from '../db/connection.js';
import { loadMigrations, migrate } from '../db/migrate.js';
import { createSession, deleteSession } from '../db/sessions.js';
import { FrameWriter } from '../db/frame-writer.js';
import { frameIdRange } from '../core/frame-id.js';
import { testApp, tempDir } from './helpers/app.js';
import { ipv4Tcp, pcapFile } from './helpers/packets.js';
import Database from 'better-sqlite3';

const LINKTYPE_RAW = 101;
const T0 = 1_764_000_000_000_000_000n;

/** A pcap of `n` SYNs, each its own flow. */
function synPcap(n: number, firstPort = 1000): Uint8Array {
  const records = [];
  for (let i = 0; i < n; i++) records.push({ sec: 1_764_000_000 + i, frac: 0, data: ipv4Tcp({ sport: firstPort + i, seq: i, flags: 'S' }) });
  return pcapFile({ le: true, ns: false, linkType: LINKTYPE_RAW, records });
}

function framesOfSessionId(db: Db, sessionId: number): number {
  const r = frameIdRange(sessionId);
  return db.prepare('SELECT count(*) FROM frames WHERE id BETWEEN ? AND ?').pluck().get(r.first, r.last) as number;
}

test('DELETE during an import is refused with 409; after it, the session and its rows go', async () => {
  const t = await testApp();
  try {
    const id = (await t.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'import', kind: 'import' } })).json().id as number;
    const file = synPcap(50);
    const body = new PassThrough();
    const importing = t.app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: body, headers: { 'content-type': 'application/octet-stream' } });
    body.write(file.subarray(0, 600));
    // the import claims the session before it reads the body
    for (let i = 0; i < 200; i++) {
      const state = (await t.app.inject({ url: `/sessions/${id}` })).json().state;
      if (state === 'capturing') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const refused = await t.app.inject({ method: 'DELETE', url: `/sessions/${id}` });
    assert.equal(refused.statusCode, 409, refused.body);
    assert.equal(refused.json().error.code, 'ACKSCOPE_ERR_SESSION_STATE');
    assert.match(refused.json().error.message, /import/);
    body.end(file.subarray(600));
    const done = await importing;
    assert.equal(done.statusCode, 200, done.body);
    assert.equal(done.json().import.frames, 50, 'the import went on undisturbed');
    assert.equal((await t.app.inject({ method: 'DELETE', url: `/sessions/${id}` })).statusCode, 204);
    assert.equal(framesOfSessionId(t.app.db, id), 0);
    const next = (await t.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'next', kind: 'import' } })).json();
    assert.ok(next.id > id, `a new session gets a new id (${next.id} after ${id})`);
    assert.equal(next.counts.frames, 0);
  } finally {
    await t.close();
  }
});

test('a writer whose session was deleted under it stores nothing more', () => {
  const t = tempDir();
  const db = openDatabase(join(t.dir, 'a.db'));
  try {
    const session = createSession(db, { name: 'gone', kind: 'import' });
    const writer = new FrameWriter(db, session.id);
    const syn = ipv4Tcp({ seq: 1, flags: 'S' });
    writer.addFrame(LINKTYPE_RAW, T0, syn.length, syn.length, syn);
    writer.flush();
    deleteSession(db, session.id); // e.g. another process
    const data = ipv4Tcp({ seq: 2, ack: 1, flags: 'PA', payload: new Uint8Array(10) });
    writer.addFrame(LINKTYPE_RAW, T0 + 1n, data.length, data.length, data);
    assert.throws(() => writer.flush(), (err: Error & { code?: string }) => err.code === 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
    assert.equal(framesOfSessionId(db, session.id), 0);
    for (const table of ['sent_advances', 'ack_advances']) {
      assert.equal(db.prepare(`SELECT count(*) FROM ${table} WHERE flow_id NOT IN (SELECT id FROM flows)`).pluck().get(), 0, table);
    }
  } finally {
    db.close();
    t.cleanup();
  }
});

test('session and flow ids are never reused, even of the newest row deleted', () => {
  const t = tempDir();
  const db = openDatabase(join(t.dir, 'a.db'));
  try {
    const first = createSession(db, { name: 'one', kind: 'import' });
    const writer = new FrameWriter(db, first.id);
    const syn = ipv4Tcp({ seq: 1, flags: 'S' });
    writer.addFrame(LINKTYPE_RAW, T0, syn.length, syn.length, syn);
    writer.finish();
    const flowId = db.prepare('SELECT max(id) FROM flows').pluck().get() as number;
    deleteSession(db, first.id);
    const second = createSession(db, { name: 'two', kind: 'import' });
    assert.ok(second.id > first.id, `session id ${second.id} after ${first.id}`);
    const w2 = new FrameWriter(db, second.id);
    w2.addFrame(LINKTYPE_RAW, T0, syn.length, syn.length, syn);
    w2.finish();
    assert.ok((db.prepare('SELECT max(id) FROM flows').pluck().get() as number) > flowId);
  } finally {
    db.close();
    t.cleanup();
  }
});

test('migration 008 keeps every row, drops orphans, and carries the ids on', () => {
  const t = tempDir();
  try {
    const path = join(t.dir, 'old.db');
    const raw = new Database(path);
    raw.pragma('foreign_keys = ON');
    migrate(raw, loadMigrations().filter((m) => m.version < 8));
    raw.exec(`INSERT INTO sessions (id, name, kind, created_ns, updated_ns) VALUES (1, 'kept', 'import', 1, 1), (3, 'newest', 'live', 2, 2)`);
    raw.exec(`INSERT INTO flows (id, session_id, ip_version, a_addr, a_port, b_addr, b_port, first_ns, last_ns)
              VALUES (7, 1, 4, '10.0.0.1', 1, '10.0.0.2', 2, 1, 1)`);
    raw.exec(`INSERT INTO frames (id, session_id, frame_no, flow_id, dir, ts_ns, caplen, wirelen, tcp_flags, seq_raw, ack_raw,
                seq_off, payload_len, window, sent_max)
              VALUES (4294967297, 1, 1, 7, 0, 1, 40, 40, 2, 0, 0, 0, 0, 0, 0),
                     (${2 * 2 ** 32 + 1}, 2, 1, 99, 0, 1, 40, 40, 2, 0, 0, 0, 0, 0, 0)`); // session 2 is gone: an orphan
    raw.exec(`INSERT INTO sent_advances VALUES (7, 0, 10, 1, 0), (99, 0, 10, 1, 0)`); // flow 99 is gone
    raw.exec(`INSERT INTO completions (session_id, src_addr, src_port, dst_addr, dst_port, write_id, offset_start, offset_end,
                submitted_ns, completed_ns, bytes_reported, api, buffers, status)
              VALUES (1, '10.0.0.1', 1, '10.0.0.2', 2, 0, 0, 10, 1, 2, 10, 'x', 1, 'ok')`);
    raw.close();
    const db = openDatabase(path);
    try {
      assert.deepEqual(db.prepare('SELECT id, name FROM sessions ORDER BY id').raw(true).all(), [[1, 'kept'], [3, 'newest']]);
      assert.equal(db.prepare('SELECT count(*) FROM flows WHERE id = 7 AND session_id = 1').pluck().get(), 1);
      assert.equal(db.prepare('SELECT count(*) FROM completions WHERE session_id = 1').pluck().get(), 1);
      assert.deepEqual(db.prepare('SELECT session_id FROM frames').pluck().all(), [1], 'the orphan frame is gone');
      assert.deepEqual(db.prepare('SELECT flow_id FROM sent_advances').pluck().all(), [7]);
      assert.deepEqual(db.pragma('foreign_key_check'), []);
      deleteSession(db, 3);
      assert.ok(createSession(db, { name: 'after', kind: 'import' }).id > 3);
      const flow = db.prepare(`INSERT INTO flows (session_id, ip_version, a_addr, a_port, b_addr, b_port, first_ns, last_ns)
                               VALUES (1, 4, 'a', 1, 'b', 2, 1, 1)`).run();
      assert.ok(Number(flow.lastInsertRowid) > 7);
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys are on again');
    } finally {
      db.close();
    }
  } finally {
    t.cleanup();
  }
});

test('a second service on the database refuses to delete a running import; an import whose process died is undone and deletable', async () => {
  const first = await testApp();
  let second: Awaited<ReturnType<typeof testApp>> | null = null;
  try {
    const create = async (name: string) =>
      (await first.app.inject({ method: 'POST', url: '/sessions', payload: { name, kind: 'import' } })).json().id as number;
    const running = await create('running');
    const file = synPcap(20);
    const body = new PassThrough();
    const importing = first.app.inject({ method: 'POST', url: `/sessions/${running}/import`, payload: body, headers: { 'content-type': 'application/octet-stream' } });
    body.write(file.subarray(0, 300));
    for (let i = 0; i < 200 && (await first.app.inject({ url: `/sessions/${running}` })).json().state !== 'capturing'; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // what a killed service leaves behind: an import session marked capturing, its owner gone
    const abandoned = await create('abandoned');
    first.app.db.prepare(`UPDATE sessions SET state = 'capturing' WHERE id = ?`).run(abandoned);
    const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
    mkdirSync(first.app.sessionDir(abandoned), { recursive: true });
    writeFileSync(join(first.app.sessionDir(abandoned), 'import.pid'), `${deadPid}\n`);

    second = await testApp(first.dir);
    const r = (await second.app.inject({ url: `/sessions/${running}` })).json();
    assert.equal(r.state, 'capturing', 'the first service is still importing it');
    assert.equal((await second.app.inject({ method: 'DELETE', url: `/sessions/${running}` })).statusCode, 409);
    const a = (await second.app.inject({ url: `/sessions/${abandoned}` })).json();
    assert.equal(a.state, 'failed');
    assert.equal(a.failureReason, 'interrupted');
    assert.equal((await second.app.inject({ method: 'DELETE', url: `/sessions/${abandoned}` })).statusCode, 204);
    body.end(file.subarray(300));
    assert.equal((await importing).statusCode, 200);
  } finally {
    await second?.app.close();
    await first.close();
  }
});
