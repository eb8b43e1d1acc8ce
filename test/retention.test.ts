// Retention: exactly the sessions past ACKSCOPE_RETENTION_DAYS (or, over
// ACKSCOPE_MAX_DB_BYTES, the oldest) go with their rows and files, never a running one;
// each deletion is logged; freed pages stay in the file for reuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { buildApp, type App } from '../service/app.js';
import { runRetention } from '../service/retention.js';
import { sessionsPastRetention, type RetentionCandidate } from '../db/retention.js';
import { wallClockNs } from '../core/time.js';
import { tempDir } from './helpers/app.js';

const DAY_NS = 86_400n * 1_000_000_000n;

/** A session with `frames` frames of one flow, one completion and a 64 KiB file in its folder. */
function fillSession(app: App, name: string, frames: number, ageDays: number, state: 'stopped' | 'capturing' | 'created' = 'stopped'): number {
  const db = app.db;
  const id = Number(
    db
      .prepare(`INSERT INTO sessions (name, kind, state, created_ns, updated_ns) VALUES (?, 'import', ?, ?, ?)`)
      .run(name, state, wallClockNs() - BigInt(ageDays) * DAY_NS, wallClockNs() - BigInt(ageDays) * DAY_NS).lastInsertRowid,
  );
  const flow = Number(
    db
      .prepare(`INSERT INTO flows (session_id, ip_version, a_addr, a_port, b_addr, b_port, first_ns, last_ns) VALUES (?, 4, '127.0.0.1', 1, '127.0.0.1', 2, 0, 0)`)
      .run(id).lastInsertRowid,
  );
  db.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @frames)
     INSERT INTO frames (id, session_id, frame_no, flow_id, dir, ts_ns, caplen, wirelen, tcp_flags, seq_raw, ack_raw,
       seq_off, payload_len, window, sent_max)
     SELECT @id * 4294967296 + i, @id, i, @flow, 0, i, 100, 100, 16, i * 100, 0, (i - 1) * 100, 100, 65535, i * 100 FROM n`,
  ).run({ id, flow, frames });
  db.prepare(
    `INSERT INTO completions (session_id, src_addr, src_port, dst_addr, dst_port, write_id, offset_start, offset_end,
       submitted_ns, completed_ns, bytes_reported, api, status) VALUES (?, '127.0.0.1', 1, '127.0.0.1', 2, 0, 0, 100, 1, 2, 100, 'x', 'ok')`,
  ).run(id);
  mkdirSync(app.sessionDir(id), { recursive: true });
  writeFileSync(join(app.sessionDir(id), 'capture.pcapng'), Buffer.alloc(64 * 1024, 1));
  return id;
}

function rowsOf(app: App, id: number): { frames: number; flows: number; completions: number; session: number } {
  const count = (sql: string, ...args: unknown[]) => (app.db.prepare(sql).get(...args) as { n: number }).n;
  return {
    frames: count('SELECT COUNT(*) AS n FROM frames WHERE id BETWEEN ? AND ?', id * 2 ** 32, id * 2 ** 32 + 2 ** 32 - 1),
    flows: count('SELECT COUNT(*) AS n FROM flows WHERE session_id = ?', id),
    completions: count('SELECT COUNT(*) AS n FROM completions WHERE session_id = ?', id),
    session: count('SELECT COUNT(*) AS n FROM sessions WHERE id = ?', id),
  };
}

function logCollector(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream) as unknown as Logger, lines: () => lines };
}

test('sessionsPastRetention: older than the limit, oldest first, never running (pure)', () => {
  const now = 100n * DAY_NS;
  const c = (id: number, days: number, state: RetentionCandidate['state']): RetentionCandidate => ({
    id,
    name: String(id),
    state,
    updatedNs: now - BigInt(days * 24) * (DAY_NS / 24n),
  });
  const candidates = [c(1, 30, 'stopped'), c(2, 20, 'capturing'), c(3, 8, 'failed'), c(4, 7, 'created'), c(5, 1, 'stopped')];
  assert.deepEqual(
    sessionsPastRetention(candidates, now, 7.5).map((x) => x.id),
    [1, 3],
  );
  assert.deepEqual(sessionsPastRetention(candidates, now, 100).map((x) => x.id), []);
});

test('retention by age deletes exactly the expired sessions, their rows and files, never a running one; pages are reused', async () => {
  const t = tempDir();
  const { logger, lines } = logCollector();
  const app = await buildApp({ dbPath: join(t.dir, 'a.db'), logger });
  try {
    const oldStopped = fillSession(app, 'old stopped', 45_000, 10);
    const oldRunning = fillSession(app, 'old but capturing', 1000, 12, 'capturing');
    const oldCreated = fillSession(app, 'old, never started', 10, 9, 'created');
    const recent = fillSession(app, 'recent', 1000, 2);
    const before = { recent: rowsOf(app, recent), running: rowsOf(app, oldRunning) };
    const fileBytes = statSync(app.config.dbPath).size;

    const run = await runRetention(
      { store: app.store.retention(), sessionDir: (id) => app.sessionDir(id), log: app.log },
      { retentionDays: 7, maxDbBytes: null },
    );
    assert.deepEqual(run.deleted, [
      { id: oldStopped, reason: 'age' },
      { id: oldCreated, reason: 'age' },
    ]);
    for (const id of [oldStopped, oldCreated]) {
      assert.deepEqual(rowsOf(app, id), { frames: 0, flows: 0, completions: 0, session: 0 });
      assert.equal(existsSync(app.sessionDir(id)), false, `session ${id}'s folder is gone`);
    }
    assert.deepEqual(rowsOf(app, recent), before.recent);
    assert.deepEqual(rowsOf(app, oldRunning), before.running, 'a running session is never deleted');
    assert.ok(existsSync(join(app.sessionDir(recent), 'capture.pcapng')));
    assert.ok(existsSync(join(app.sessionDir(oldRunning), 'capture.pcapng')));

    const logged = lines().filter((l) => l.msg === 'retention deleted a session');
    assert.deepEqual(logged.map((l) => [l.sessionId, l.reason]), [
      [oldStopped, 'age'],
      [oldCreated, 'age'],
    ]);
    assert.equal(logged[0].fileBytes, 64 * 1024);

    // The file keeps its length; the freed pages are on the free list for the next sessions.
    app.db.pragma('wal_checkpoint(TRUNCATE)');
    assert.ok((app.db.pragma('freelist_count', { simple: true }) as number) > 10);
    assert.ok(statSync(app.config.dbPath).size >= fileBytes);
  } finally {
    await app.close();
    t.cleanup();
  }
});

test('retention by size deletes the least recently changed sessions until under the limit, never a real running capture', async () => {
  const t = tempDir();
  const app = await buildApp({ dbPath: join(t.dir, 'a.db'), logger: false });
  const server = net.createServer((s) => s.resume()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const a = fillSession(app, 'a', 30_000, 3);
    const b = fillSession(app, 'b', 30_000, 2);
    const c = fillSession(app, 'c', 10, 1);
    const live = await app.inject({
      method: 'POST',
      url: '/sessions',
      payload: { name: 'live', kind: 'live', interface: 'lo', filter: `tcp port ${(server.address() as net.AddressInfo).port}` },
    });
    assert.equal(live.statusCode, 201, live.body);
    const liveId = live.json().id as number;
    assert.equal((await app.inject({ method: 'POST', url: `/sessions/${liveId}/start` })).statusCode, 200);

    const deps = { store: app.store.retention(), sessionDir: (id: number) => app.sessionDir(id), log: app.log };
    // A limit that b and c (and the live session) fit in but not a as well: only a goes.
    const used = (await runRetention(deps, { retentionDays: null, maxDbBytes: Number.MAX_SAFE_INTEGER })).keptBytes!;
    const first = await runRetention(deps, { retentionDays: null, maxDbBytes: used - 64 * 1024 - 30_000 * 40 });
    assert.deepEqual(first.deleted, [{ id: a, reason: 'size' }]);
    assert.ok(first.keptBytes! <= used - 64 * 1024 - 30_000 * 40);

    // A limit nothing fits in: everything but the running capture goes, oldest first.
    const all = await runRetention(deps, { retentionDays: null, maxDbBytes: 1 });
    assert.deepEqual(all.deleted, [
      { id: b, reason: 'size' },
      { id: c, reason: 'size' },
    ]);
    const still = (await app.inject({ url: `/sessions/${liveId}` })).json();
    assert.equal(still.state, 'capturing', 'the running capture is untouched');
    assert.equal((await app.inject({ method: 'POST', url: `/sessions/${liveId}/stop` })).json().state, 'stopped');
  } finally {
    server.close();
    await app.close();
    t.cleanup();
  }
});

test('the service runs retention in the background (ACKSCOPE_RETENTION_DAYS at start)', async () => {
  const t = tempDir();
  const dbPath = join(t.dir, 'a.db');
  const first = await buildApp({ dbPath, logger: false });
  const old = fillSession(first, 'old', 100, 40);
  const recent = fillSession(first, 'recent', 100, 0);
  await first.close();

  const { logger, lines } = logCollector();
  const second = await buildApp({ dbPath, logger, retentionDays: 30, retentionIntervalMs: 60_000 });
  try {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && !lines().some((l) => l.msg === 'retention deleted a session')) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await second.inject({ url: `/sessions/${old}` })).statusCode, 404);
    assert.equal((await second.inject({ url: `/sessions/${recent}` })).statusCode, 200);
    assert.equal(existsSync(second.sessionDir(old)), false);
  } finally {
    await second.close();
    t.cleanup();
  }
});

test('retention deletes while another connection writes all the time (a capture writer): it waits for the write lock, never fails with SQLITE_BUSY', async () => {
  const t = tempDir();
  const app = await buildApp({ dbPath: join(t.dir, 'a.db'), logger: false });
  // 12 chunks of frames, each a transaction that first checks the session is still idle
  const doomed = fillSession(app, 'doomed', 240_000, 3);
  const busy = fillSession(app, 'busy', 10, 0, 'capturing');
  // Another connection on another thread holds the write lock 20 ms at a time with 30 ms
  // between, as a capture's writer does while it stores a batch (SQLite's busy handler
  // sleeps in steps of up to 100 ms: with only 1 ms free between, it could miss every gap). A transaction that reads
  // first and asks for the write lock while it is held fails at once, busy timeout or not.
  // shared with the writer: [0] stop when 1, [1] transactions it committed
  const shared = new Int32Array(new SharedArrayBuffer(8));
  const writer = new Worker(
    `const { workerData } = require('node:worker_threads');
     const db = new (require('better-sqlite3'))(workerData.path);
     db.pragma('busy_timeout = 5000');
     const bump = db.prepare('UPDATE sessions SET frames_total = frames_total + 1 WHERE id = ?');
     while (Atomics.load(workerData.shared, 0) === 0) {
       db.exec('BEGIN IMMEDIATE');
       bump.run(workerData.id);
       Atomics.wait(workerData.shared, 0, 0, 20);
       db.exec('COMMIT');
       Atomics.add(workerData.shared, 1, 1);
       Atomics.wait(workerData.shared, 0, 0, 30);
     }
     db.close();`,
    { eval: true, workerData: { path: app.config.dbPath, id: busy, shared } },
  );
  const exited = once(writer, 'exit');
  try {
    // the writer is at it before retention starts
    for (let i = 0; i < 500 && Atomics.load(shared, 1) < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(Atomics.load(shared, 1) >= 2, 'the other connection is writing');
    const deps = { store: app.store.retention(), sessionDir: (id: number) => app.sessionDir(id), log: app.log };
    const run = await runRetention(deps, { retentionDays: 1, maxDbBytes: null });
    assert.deepEqual(run.deleted, [{ id: doomed, reason: 'age' }]);
    assert.deepEqual(rowsOf(app, doomed), { frames: 0, flows: 0, completions: 0, session: 0 });
  } finally {
    Atomics.store(shared, 0, 1);
    Atomics.notify(shared, 0);
    await exited;
    await app.close();
    t.cleanup();
  }
});
