// Crash recovery with the real service process: SIGKILL during a live capture on lo
// (traffic from `ackscope send`; on SQLite and on a real ClickHouse server) and during a
// file import, then a restart on the same database. Witnesses: the frames committed before the kill (counted read-only from the
// database file by this test, once the traffic is over and the count is steady), tshark
// reading the raw pcapng, and SQLite's own integrity check and migration record.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { startReceiver } from '../sender/receiver.js';
import { loadMigrations } from '../db/migrate.js';
import { tempDir } from './helpers/app.js';
import { freePort, spawnService, waitReady, type ServiceProcess } from './helpers/service-process.js';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { parseClickHouseUrl } from '../clickhouse/store-url.js';
import { identifier, literal, sql } from '../clickhouse/sql.js';
import { MIGRATIONS_TABLE } from '../clickhouse/tables.js';
import { loadClickHouseMigrations } from '../clickhouse/migrate.js';
import { startClickHouse, type RunningClickHouse } from '../fixtures/clickhouse-server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const run = promisify(execFile);

async function api(service: ServiceProcess, method: string, path: string, body?: object): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${service.url}${path}`, {
    method,
    ...(body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
  });
  return { status: res.status, json: (await res.json()) as Json };
}

/** Frames of a session as committed in the database file, read by this process (not the service). */
function committedFrames(dbPath: string, sessionId: number): { frames: number; flows: number } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const base = sessionId * 2 ** 32;
    const frames = (db.prepare('SELECT COUNT(*) AS n FROM frames WHERE id BETWEEN ? AND ?').get(base, base + 2 ** 32 - 1) as { n: number }).n;
    const flows = (db.prepare('SELECT COUNT(*) AS n FROM flows WHERE session_id = ?').get(sessionId) as { n: number }).n;
    return { frames, flows };
  } finally {
    db.close();
  }
}

/** Frames and flows of a session in the ClickHouse store (each flow counted once, whatever its versions). */
async function storedFramesInClickHouse(client: ClickHouseClient, sessionId: number): Promise<{ frames: number; flows: number }> {
  const [[frames]] = await client.rows(sql`SELECT count() FROM ${identifier('frames')} WHERE session_id = ${literal(sessionId, 'UInt64')}`);
  const [[flows]] = await client.rows(sql`SELECT uniqExact(flow_id) FROM ${identifier('flows')} WHERE session_id = ${literal(sessionId, 'UInt64')}`);
  return { frames: Number(frames), flows: Number(flows) };
}

let clickhouse: Promise<RunningClickHouse> | null = null;
/** One ClickHouse server for this file's ClickHouse legs, started when first needed. */
function clickhouseServer(): Promise<RunningClickHouse> {
  clickhouse ??= startClickHouse();
  return clickhouse;
}
after(async () => {
  if (clickhouse) await (await clickhouse).stop();
});

/** Polls `read` until it gives the same value `times` times in a row, 200 ms apart. */
async function steady<T>(read: () => T | Promise<T>, times = 5): Promise<T> {
  let last = JSON.stringify(await read());
  let same = 0;
  for (let i = 0; i < 300 && same < times; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = JSON.stringify(await read());
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return JSON.parse(last) as T;
}

function databaseChecks(dbPath: string): { integrity: string; version: number } {
  const db = new Database(dbPath, { readonly: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true }) as string;
    const version = (db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number }).v;
    return { integrity, version };
  } finally {
    db.close();
  }
}

function tsharkFrames(file: string): number {
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.trim() === '' ? 0 : out.trim().split('\n').length;
}

for (const store of ['sqlite', 'clickhouse'] as const) {
  test(`[${store}] SIGKILL during a live capture: after a restart the session is failed/interrupted, its frames are kept and correlate, tshark reads the file`, async () => {
    assert.equal(process.getuid?.(), 0, 'live capture needs root');
    const t = tempDir();
    const dbPath = join(t.dir, 'ackscope.db');
    const env: Record<string, string> = { ACKSCOPE_DB: dbPath };
    let client: ClickHouseClient | null = null;
    if (store === 'clickhouse') {
      const database = `crash_${process.pid}`;
      env.ACKSCOPE_STORE = (await clickhouseServer()).url(database);
      client = new ClickHouseClient(parseClickHouseUrl(env.ACKSCOPE_STORE));
    }
    // read by this process, not the service: SQLite's file, or the ClickHouse tables
    const committed = (id: number) => (client ? storedFramesInClickHouse(client, id) : Promise.resolve(committedFrames(dbPath, id)));
    const sink = await startReceiver({ port: 0, host: '127.0.0.1' });
    let service = spawnService(env, await freePort());
    try {
      await waitReady(service);
      const created = await api(service, 'POST', '/sessions', { name: 'killed', kind: 'live', interface: 'lo', filter: `tcp port ${sink.port}` });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const id = created.json.id as number;
      assert.equal((await api(service, 'POST', `/sessions/${id}/start`)).status, 200);

      const count = 200;
      const { stdout } = await run(process.execPath, [
        '--import', 'tsx', 'cli/ackscope.ts', 'send', `127.0.0.1:${sink.port}`,
        '--count', String(count), '--size', '1k,16k,64k', '--mode', 'overlapped', '--window', '8', '--tag',
        '--session', String(id), '--url', service.url, '--json',
      ]);
      assert.equal(JSON.parse(stdout.trim().split('\n').pop()!).sessionId, id);

      // The traffic is over: once the committed count stops moving, it is what the kill must keep
      // (ClickHouse's worker writes once a second, and releases the last held frames after two
      // quiet seconds: steady for 3 s there, after the first frames arrived).
      for (let i = 0; i < 100 && (await committed(id)).frames === 0; i++) await new Promise((r) => setTimeout(r, 200));
      const before = await steady(() => committed(id), store === 'clickhouse' ? 15 : 5);
      assert.ok(before.frames > 0 && before.flows >= 1, `frames were committed before the kill (${JSON.stringify(before)})`);
      service.child.kill('SIGKILL');
      assert.equal((await service.exited).signal, 'SIGKILL');

      const captureFile = join(t.dir, 'sessions', String(id), 'capture.pcapng');
      assert.ok(existsSync(captureFile));
      // A kill can land inside a write: leave a torn last block (the first 40 bytes of a
      // copy of the file's last block) for the restart to deal with.
      const whole = readFileSync(captureFile);
      const lastLength = whole.readUInt32LE(whole.length - 4);
      appendFileSync(captureFile, whole.subarray(whole.length - lastLength, whole.length - lastLength + 40));
      assert.throws(() => tsharkFrames(captureFile), 'tshark stops at the torn block');
      const tornSize = statSync(captureFile).size;

      service = spawnService(env, await freePort());
      await waitReady(service);
      const after = await api(service, 'GET', `/sessions/${id}`);
      assert.equal(after.json.state, 'failed');
      assert.equal(after.json.failureReason, 'interrupted');
      assert.deepEqual(await committed(id), before, 'every frame committed before the kill is still there');

      assert.equal(statSync(captureFile).size, tornSize - 40, 'cut back to the last whole block');
      assert.equal(tsharkFrames(captureFile), before.frames, 'tshark reads every packet the rows have');

      const summary = await api(service, 'GET', `/sessions/${id}/summary`);
      assert.equal(summary.status, 200, JSON.stringify(summary.json));
      assert.equal(summary.json.overall.completions, count);
      assert.deepEqual(summary.json.overall.unknownReasons, {}, 'every completion correlates with captured frames');

      if (client) {
        const versions = await client.rows(sql`SELECT max(version) FROM ${identifier(MIGRATIONS_TABLE)}`);
        assert.equal(Number(versions[0][0]), loadClickHouseMigrations().at(-1)!.version, 'fully migrated');
      } else {
        const checks = databaseChecks(dbPath);
        assert.equal(checks.integrity, 'ok');
        assert.equal(checks.version, loadMigrations().at(-1)!.version, 'fully migrated, nothing half-done');
      }
    } finally {
      service.child.kill('SIGTERM');
      await service.exited;
      await sink.close();
      client?.close();
      t.cleanup();
    }
  });
}

/** A classic pcap of `packets` Ethernet/IPv4/TCP segments of one connection, 100 payload bytes each. */
function syntheticPcap(packets: number): Buffer {
  const frameLen = 14 + 20 + 20 + 100;
  const out = Buffer.alloc(24 + packets * (16 + frameLen));
  out.writeUInt32LE(0xa1b2c3d4, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeUInt32LE(65535, 16);
  out.writeUInt32LE(1, 20);
  let at = 24;
  for (let i = 0; i < packets; i++) {
    out.writeUInt32LE(1_700_000_000 + Math.floor(i / 1000), at);
    out.writeUInt32LE((i % 1000) * 1000, at + 4);
    out.writeUInt32LE(frameLen, at + 8);
    out.writeUInt32LE(frameLen, at + 12);
    const f = at + 16;
    out.writeUInt16BE(0x0800, f + 12); // EtherType IPv4
    const ip = f + 14;
    out[ip] = 0x45;
    out.writeUInt16BE(20 + 20 + 100, ip + 2);
    out[ip + 8] = 64;
    out[ip + 9] = 6;
    out.writeUInt32BE(0x7f000001, ip + 12);
    out.writeUInt32BE(0x7f000001, ip + 16);
    const tcp = ip + 20;
    out.writeUInt16BE(40000, tcp);
    out.writeUInt16BE(5001, tcp + 2);
    out.writeUInt32BE((1000 + i * 100) >>> 0, tcp + 4);
    out[tcp + 12] = 5 << 4;
    out[tcp + 13] = 0x18; // PSH ACK
    out.writeUInt16BE(65535, tcp + 14);
    at += 16 + frameLen;
  }
  return out;
}

for (const store of ['sqlite', 'clickhouse'] as const) {
  test(`[${store}] SIGKILL during a file import: after a restart nothing of the import is left and the session says why`, async () => {
    const t = tempDir();
    const dbPath = join(t.dir, 'ackscope.db');
    const env: Record<string, string> = { ACKSCOPE_DB: dbPath };
    let client: ClickHouseClient | null = null;
    if (store === 'clickhouse') {
      env.ACKSCOPE_STORE = (await clickhouseServer()).url(`crash_import_${process.pid}`);
      client = new ClickHouseClient(parseClickHouseUrl(env.ACKSCOPE_STORE));
    }
    // read by this process, not the service: SQLite's file, or the ClickHouse tables
    const stored = (id: number) => (client ? storedFramesInClickHouse(client, id) : Promise.resolve(committedFrames(dbPath, id)));
    let service = spawnService(env, await freePort());
    try {
      await waitReady(service);
      const created = await api(service, 'POST', '/sessions', { name: 'import killed', kind: 'import' });
      const id = created.json.id as number;
      const file = syntheticPcap(300_000);

      // Send the first half, then hold the upload open until the import is writing, then kill.
      const upload = request(`${service.url}/sessions/${id}/import`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(file.length) },
      });
      upload.on('error', () => {}); // the server dies under it
      upload.write(file.subarray(0, file.length >> 1));
      // The witness that the import was writing: SQLite, frames committed in the file;
      // ClickHouse, the import's insert into frames running on the server (it keeps the
      // streamed rows invisible until a block of ~1 M rows is formed or the insert ends);
      // the insert into the frames table itself, not the session row's (its columns name
      // frames_total) nor this question.
      const writing = async (): Promise<boolean> => {
        if (!client) return committedFrames(dbPath, id).frames > 0;
        const [[n]] = await client.rows(sql`SELECT count() FROM system.processes WHERE match(query, '^INSERT INTO [^ (]*frames')`);
        return Number(n) > 0;
      };
      let seen = false;
      for (let i = 0; i < 300 && !seen; i++) {
        await new Promise((r) => setTimeout(r, 100));
        seen = await writing();
      }
      assert.ok(seen, 'the import was writing when it was killed');
      const during = await api(service, 'GET', `/sessions/${id}`);
      assert.equal(during.json.state, 'capturing');
      const visibleAtKill = await stored(id);
      service.child.kill('SIGKILL');
      await service.exited;
      upload.destroy();
      assert.ok(existsSync(join(t.dir, 'sessions', String(id), 'capture.pcapng')), 'the partial copy was on disk');
      console.log(`# [${store}] rows of the import visible when it was killed: ${JSON.stringify(visibleAtKill)}`);

      service = spawnService(env, await freePort());
      await waitReady(service);
      const after = await api(service, 'GET', `/sessions/${id}`);
      assert.equal(after.json.state, 'failed');
      assert.equal(after.json.failureReason, 'interrupted');
      assert.equal(after.json.counts.frames, 0);
      assert.equal(after.json.captureFile, null);
      assert.deepEqual(await stored(id), { frames: 0, flows: 0 }, 'no frame or flow of the import is left');
      assert.ok(!existsSync(join(t.dir, 'sessions', String(id), 'capture.pcapng')), 'nor its partial pcapng');
      assert.ok(!existsSync(join(t.dir, 'sessions', String(id), 'import.pid')), 'nor its owner mark');
      assert.match(service.output(), /imports interrupted by the last stop were undone/);
      if (!client) assert.equal(databaseChecks(dbPath).integrity, 'ok');

      // The same file imports whole into a new session.
      const again = (await api(service, 'POST', '/sessions', { name: 'again', kind: 'import' })).json.id as number;
      const res = await fetch(`${service.url}/sessions/${again}/import`, { method: 'POST', body: new Uint8Array(file), headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(res.status, 200, await res.text());
      assert.equal((await stored(again)).frames, 300_000);
    } finally {
      service.child.kill('SIGTERM');
      await service.exited;
      client?.close();
      t.cleanup();
    }
  });
}

test('[clickhouse] SIGKILL during a second host\'s import into a session another host imported: after its restart that host\'s rows go, the session is back to stopped with the first host\'s capture whole', async () => {
  const first = tempDir();
  const second = tempDir();
  const url = (await clickhouseServer()).url(`crash_join_${process.pid}`);
  const client = new ClickHouseClient(parseClickHouseUrl(url));
  // two hosts, each with its own data folder, one store
  const envA = { ACKSCOPE_DB: join(first.dir, 'ackscope.db'), ACKSCOPE_STORE: url, ACKSCOPE_STORE_HOST: 'host-a' };
  const envB = { ACKSCOPE_DB: join(second.dir, 'ackscope.db'), ACKSCOPE_STORE: url, ACKSCOPE_STORE_HOST: 'host-b' };
  const a = spawnService(envA, await freePort());
  let b = spawnService(envB, await freePort());
  try {
    await Promise.all([waitReady(a), waitReady(b)]);
    const id = (await api(a, 'POST', '/sessions', { name: 'two hosts', kind: 'import' })).json.id as number;
    const fileA = syntheticPcap(20_000);
    const res = await fetch(`${a.url}/sessions/${id}/import`, { method: 'POST', body: new Uint8Array(fileA), headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(res.status, 200, await res.text());
    const before = await storedFramesInClickHouse(client, id);
    assert.equal(before.frames, 20_000);

    // host B adds its file to the session, and dies half-way
    const fileB = syntheticPcap(300_000);
    const upload = request(`${b.url}/sessions/${id}/import`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(fileB.length) },
    });
    upload.on('error', () => {});
    upload.write(fileB.subarray(0, fileB.length >> 1));
    let writing = false;
    for (let i = 0; i < 300 && !writing; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const [[n]] = await client.rows(sql`SELECT count() FROM system.processes WHERE match(query, '^INSERT INTO [^ (]*frames')`);
      writing = Number(n) > 0;
    }
    assert.ok(writing, "host B's import was writing when it was killed");
    const versions = await client.rows(sql`SELECT state, host, toString(updated_ns) FROM sessions WHERE session_id = ${literal(id, 'UInt64')} ORDER BY updated_ns`);
    assert.equal((await api(a, 'GET', `/sessions/${id}`)).json.state, 'capturing', JSON.stringify(versions));
    b.child.kill('SIGKILL');
    await b.exited;
    upload.destroy();

    b = spawnService(envB, await freePort());
    await waitReady(b);
    assert.match(b.output(), /imports interrupted by the last stop were undone/);
    const after = (await api(a, 'GET', `/sessions/${id}`)).json;
    assert.equal(after.state, 'stopped', JSON.stringify(after));
    assert.equal(after.failureReason, null);
    assert.equal(after.counts.frames, 20_000, "the session's counts are host A's");
    assert.deepEqual(await storedFramesInClickHouse(client, id), before, "host A's frames and flows are all there, host B's are not");
    assert.ok(existsSync(join(first.dir, 'sessions', String(id), 'capture.pcapng')), "host A's copy of its file stays");
  } finally {
    for (const s of [a, b]) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
    client.close();
    first.cleanup();
    second.cleanup();
  }
});

/** A listener on 127.0.0.1 reading everything; and `connections` connections sending `writes` × 16 KiB to a port. */
async function readingServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((socket) => {
    socket.on('data', () => {});
    socket.on('end', () => socket.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
async function sendTo(port: number, connections: number, writes: number): Promise<void> {
  await Promise.all(
    Array.from({ length: connections }, () =>
      new Promise<void>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', async () => {
          for (let i = 0; i < writes; i++) if (!socket.write(Buffer.alloc(16384, i & 0xff))) await once(socket, 'drain');
          socket.end();
        });
        socket.on('close', () => resolve());
        socket.on('error', reject);
      }),
    ),
  );
}

test("[clickhouse] SIGKILL of one of two hosts capturing one live session: after its restart only its own capture is failed/interrupted, its frames kept; the other host's capture runs on and the session ends stopped", async () => {
  assert.equal(process.getuid?.(), 0, 'live capture needs root');
  const first = tempDir();
  const second = tempDir();
  const url = (await clickhouseServer()).url(`crash_multilive_${process.pid}`);
  const client = new ClickHouseClient(parseClickHouseUrl(url));
  const envA = { ACKSCOPE_DB: join(first.dir, 'ackscope.db'), ACKSCOPE_STORE: url, ACKSCOPE_STORE_HOST: 'host-a' };
  const envB = { ACKSCOPE_DB: join(second.dir, 'ackscope.db'), ACKSCOPE_STORE: url, ACKSCOPE_STORE_HOST: 'host-b' };
  const sinks = [await readingServer(), await readingServer()];
  const a = spawnService(envA, await freePort());
  let b = spawnService(envB, await freePort());
  const framesOf = async (id: number) => {
    const rows = await client.rows(sql`SELECT host, count() FROM ${identifier('frames')} WHERE session_id = ${literal(id, 'UInt64')} GROUP BY host ORDER BY host`);
    return Object.fromEntries(rows.map((r) => [r[0] as string, Number(r[1])])) as Record<string, number>;
  };
  try {
    await Promise.all([waitReady(a), waitReady(b)]);
    const created = await api(a, 'POST', '/sessions', { name: 'two hosts live', kind: 'live', interface: 'lo', filter: `tcp port ${sinks[0].port}` });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const id = created.json.id as number;
    assert.equal((await api(a, 'POST', `/sessions/${id}/start`)).status, 200);
    const joined = await api(b, 'POST', `/sessions/${id}/start`, { filter: `tcp port ${sinks[1].port}` });
    assert.equal(joined.status, 200, JSON.stringify(joined.json));

    await Promise.all([sendTo(sinks[0].port, 2, 64), sendTo(sinks[1].port, 2, 64)]);
    // host B's frames stored and steady (its worker writes once a second, the last held frames after two quiet seconds)
    for (let i = 0; i < 100 && !((await framesOf(id))['host-b'] > 0); i++) await new Promise((r) => setTimeout(r, 200));
    const beforeKill = await steady(() => framesOf(id), 15);
    assert.ok(beforeKill['host-a'] > 0 && beforeKill['host-b'] > 0, JSON.stringify(beforeKill));
    b.child.kill('SIGKILL');
    assert.equal((await b.exited).signal, 'SIGKILL');

    // host A captures on: more traffic to its port after B died
    await sendTo(sinks[0].port, 2, 64);
    assert.equal((await api(a, 'GET', `/sessions/${id}`)).json.state, 'capturing');

    b = spawnService(envB, await freePort());
    await waitReady(b);
    const afterRestart = (await api(b, 'GET', `/sessions/${id}`)).json;
    assert.equal(afterRestart.state, 'capturing', `host A still captures: ${JSON.stringify(afterRestart)}`);
    // host B's capture of it is over: a new one is refused, and it has no capture to stop
    const again = await api(b, 'POST', `/sessions/${id}/start`, { filter: `tcp port ${sinks[1].port}` });
    assert.equal(again.status, 409, JSON.stringify(again.json));
    assert.match(again.json.error.message, /captured by this host \(host-b\) already \(its capture is failed\)/);
    const [[bState, bReason]] = await client.rows(
      sql`SELECT argMax(state, stored_ns), argMax(failure_reason, stored_ns) FROM ${identifier('live_captures')} WHERE session_id = ${literal(id, 'UInt64')} AND host = 'host-b'`,
    );
    assert.deepEqual([bState, bReason], ['failed', 'interrupted']);
    assert.deepEqual(
      afterRestart.hosts.map((h: Json) => [h.host, h.capture.state, h.capture.failureReason]),
      [['host-a', 'capturing', null], ['host-b', 'failed', 'interrupted']],
    );
    assert.equal((await framesOf(id))['host-b'], beforeKill['host-b'], "host B's frames stored before the kill are kept");

    const stopped = await api(a, 'POST', `/sessions/${id}/stop`);
    assert.equal(stopped.status, 200, JSON.stringify(stopped.json));
    const end = await framesOf(id);
    assert.ok(end['host-a'] > beforeKill['host-a'], "host A's capture ran on after B's death");
    for (const service of [a, b]) {
      const session = (await api(service, 'GET', `/sessions/${id}`)).json;
      assert.equal(session.state, 'stopped', "host A's capture is whole: the session is not failed by B's");
      assert.equal(session.failureReason, null);
      assert.equal(session.counts.frames, end['host-a'] + end['host-b'], 'the counters add up: both hosts\' stored frames');
    }
    // host B's own pcapng is readable, with the frames its rows have
    assert.equal(tsharkFrames(join(second.dir, 'sessions', String(id), 'capture.pcapng')), end['host-b']);
  } finally {
    for (const s of [a, b]) {
      s.child.kill('SIGTERM');
      await s.exited;
    }
    for (const s of sinks) await s.close();
    client.close();
    first.cleanup();
    second.cleanup();
  }
});
