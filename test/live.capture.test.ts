// Live capture through the HTTP API, as root, on real interfaces: TCP traffic the test
// generates itself on `lo`, checked against what was sent using the flows and frames
// tables; refusals (bad filter, unknown interface, wrong state); a capture whose
// interface is deleted mid-way (a veth pair made by the test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { testApp } from './helpers/app.js';
import type { App } from '../service/app.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function createLive(app: App, fields: Json): Promise<Json> {
  const res = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'live', kind: 'live', ...fields } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json();
}

async function post(app: App, url: string): Promise<{ status: number; body: Json }> {
  const res = await app.inject({ method: 'POST', url });
  return { status: res.statusCode, body: res.json() };
}

/** Waits (polling) until `check` holds; gives up after `limitMs` and returns false. */
async function until(check: () => boolean | Promise<boolean>, limitMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

/** A listener that reads everything and answers `reply` bytes once the client has sent `expect`. */
async function echoServer(expect: number, reply: number) {
  let received = 0;
  const server = net.createServer((socket) => {
    socket.on('data', (chunk) => {
      received += chunk.length;
      if (received === expect) socket.end(Buffer.alloc(reply, 0x42));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as net.AddressInfo).port, received: () => received };
}

test('live capture on lo: frames, stream offsets and ACK offsets agree with the traffic sent', async () => {
  const { app, dbPath, close } = await testApp();
  const writes = [1, 100, 1000, 1448, 5000, 65536, 3, 20000, 7];
  const clientBytes = writes.reduce((a, b) => a + b, 0);
  const serverBytes = 30_000;
  const peer = await echoServer(clientBytes, serverBytes);
  try {
    const s = await createLive(app, { interface: 'lo', filter: `tcp port ${peer.port}` });
    const started = await post(app, `/sessions/${s.id}/start`);
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.body.state, 'capturing');
    assert.equal(started.body.linkType, 1, 'Linux gives lo Ethernet framing');

    const client = net.connect(peer.port, '127.0.0.1');
    client.setNoDelay(true);
    await once(client, 'connect');
    const clientPort = client.localPort!;
    let replied = 0;
    client.on('data', (c: Buffer) => (replied += c.length));
    for (const size of writes) {
      await new Promise<void>((resolve, reject) => client.write(Buffer.alloc(size, 0x41), (e) => (e ? reject(e) : resolve())));
    }
    client.end();
    await once(client, 'close');
    assert.equal(replied, serverBytes);
    assert.equal(peer.received(), clientBytes);

    // While capturing, the session shows its progress: frames stored, libpcap's counters.
    const progressing = await until(async () => {
      const now = (await app.inject({ url: `/sessions/${s.id}` })).json();
      return now.state === 'capturing' && now.counts.tcp > 0 && now.drops.received !== null;
    });
    assert.ok(progressing, 'frame counts and drop counters appear during the capture');

    const stopped = await post(app, `/sessions/${s.id}/stop`);
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    const session = stopped.body;
    assert.equal(session.state, 'stopped');
    assert.equal(session.failureReason, null);
    assert.ok(session.stoppedNs !== null && session.startedNs !== null);
    assert.equal(session.drops.dropped, 0, 'no kernel drops at this rate');
    assert.ok(session.drops.received >= session.counts.frames, 'libpcap received at least what was stored');

    const db = new Database(dbPath, { readonly: true });
    try {
      const flows = db.prepare('SELECT * FROM flows WHERE session_id = ?').all(s.id) as Json[];
      assert.equal(flows.length, 1, 'one connection, one flow');
      const flow = flows[0];
      assert.deepEqual([flow.a_addr, flow.a_port, flow.b_addr, flow.b_port], ['127.0.0.1', clientPort, '127.0.0.1', peer.port]);
      assert.equal(flow.a_syn_seen, 1);
      assert.equal(flow.b_syn_seen, 1);
      assert.equal(flow.a_bytes, clientBytes, 'highest client offset = bytes written');
      assert.equal(flow.b_bytes, serverBytes);
      assert.equal(flow.closed, 1);

      const frames = db.prepare('SELECT * FROM frames WHERE session_id = ? ORDER BY frame_no').all(s.id) as Json[];
      assert.equal(session.counts.frames, frames.length, 'every frame read is TCP here and stored');
      assert.equal(session.counts.tcp, frames.length);
      assert.equal(frames[0].tcp_flags & 0x12, 0x02, 'the first frame is the SYN');

      for (const [dir, total] of [
        [0, clientBytes],
        [1, serverBytes],
      ] as const) {
        // First transmissions tile [0, total) without gap or overlap.
        const data = frames.filter((f) => f.dir === dir && f.payload_len > 0 && f.retransmit === 0);
        let next = 0;
        for (const f of data.sort((a, b) => a.seq_off - b.seq_off)) {
          assert.equal(f.seq_off, next, `dir ${dir}: segment at ${f.seq_off}, expected ${next}`);
          next += f.payload_len;
        }
        assert.equal(next, total, `dir ${dir}: payload bytes captured`);
        // The other side's cumulative ACK reached the end of this direction's data, and
        // one past it: the FIN takes the sequence number after the last byte.
        const acks = frames.filter((f) => f.dir === 1 - dir && f.ack_off !== null).map((f) => f.ack_off as number);
        assert.equal(Math.max(...acks), total + 1, `dir ${1 - dir} acknowledged all of dir ${dir} and its FIN`);
        assert.ok(acks.every((a) => a >= 0 && a <= total + 1), 'ACK offsets stay within the stream');
        const fin = frames.find((f) => f.dir === dir && (f.tcp_flags & 0x01) !== 0);
        assert.ok(fin, `dir ${dir} FIN captured`);
        assert.equal(fin.seq_off + fin.payload_len, total, 'the FIN follows the last byte');
        const maxAcked = db
          .prepare('SELECT MAX(acked_max) AS m FROM frames WHERE session_id = ? AND dir = ?')
          .get(s.id, 1 - dir) as Json;
        assert.equal(maxAcked.m, total + 1);
      }
      // Kernel stamps: within the capture window and never decreasing.
      for (let i = 1; i < frames.length; i++) assert.ok(frames[i].ts_ns >= frames[i - 1].ts_ns, 'timestamps ordered');
      assert.ok(BigInt(frames[0].ts_ns) >= BigInt(session.startedNs) - 1_000_000_000n);
    } finally {
      db.close();
    }

    // The raw capture is kept as pcapng and holds the same frames (counted by tshark).
    assert.equal(session.captureFile, join('sessions', String(s.id), 'capture.pcapng'));
    const file = join(app.config.dataDir, session.captureFile);
    assert.ok(existsSync(file) && statSync(file).size > 0);
    const tsharkFrames = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' })
      .trim()
      .split('\n').length;
    assert.equal(tsharkFrames, session.counts.frames);
  } finally {
    peer.server.close();
    await close();
  }
});

test('a filter that does not compile and an unknown interface are refused at creation: 400 with libpcap message', async () => {
  const { app, close } = await testApp();
  try {
    const create = (fields: Json) => app.inject({ method: 'POST', url: '/sessions', payload: { name: 'live', kind: 'live', ...fields } });
    const r1 = await create({ interface: 'lo', filter: 'tcp port eighty' });
    assert.equal(r1.statusCode, 400);
    assert.equal(r1.json().error.code, 'ACKSCOPE_ERR_CAPTURE_FILTER');
    assert.match(r1.json().error.message, /eighty/);

    const r2 = await create({ interface: 'ackscope-nope0' });
    assert.equal(r2.statusCode, 400);
    assert.equal(r2.json().error.code, 'ACKSCOPE_ERR_CAPTURE_INTERFACE');
    assert.match(r2.json().error.message, /ackscope-nope0/);
    assert.equal((await app.inject({ url: '/sessions' })).json().items.length, 0, 'a refused session is not stored');
  } finally {
    await close();
  }
});

test('start and stop refuse the wrong state or kind; GET /interfaces lists lo', async () => {
  const { app, close } = await testApp();
  try {
    const list = await app.inject({ url: '/interfaces' });
    assert.equal(list.statusCode, 200);
    const lo = (list.json().items as Json[]).find((i) => i.name === 'lo');
    assert.ok(lo && lo.loopback && lo.addresses.includes('127.0.0.1'));

    const imp = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'f', kind: 'import' } });
    const rImport = await post(app, `/sessions/${imp.json().id}/start`);
    assert.equal(rImport.status, 409);
    assert.equal(rImport.body.error.code, 'ACKSCOPE_ERR_SESSION_KIND');

    const s = await createLive(app, { interface: 'lo', filter: 'tcp port 9' });
    const notYet = await post(app, `/sessions/${s.id}/stop`);
    assert.equal(notYet.status, 409);
    assert.equal(notYet.body.error.code, 'ACKSCOPE_ERR_SESSION_STATE');
    assert.equal((await post(app, `/sessions/${s.id}/start`)).status, 200);
    const twice = await post(app, `/sessions/${s.id}/start`);
    assert.equal(twice.status, 409);
    assert.equal(twice.body.error.code, 'ACKSCOPE_ERR_SESSION_STATE');
    assert.equal((await post(app, `/sessions/${s.id}/stop`)).body.state, 'stopped');
    assert.equal((await post(app, `/sessions/${s.id}/start`)).status, 409, 'a session captures once');
    assert.equal((await post(app, '/sessions/99999/start')).status, 404);
  } finally {
    await close();
  }
});

test('deleting a capturing session stops its capture; closing the service stops the rest', async () => {
  const { app, dir, dbPath, close } = await testApp();
  let closed = false;
  try {
    const a = await createLive(app, { interface: 'lo', filter: 'tcp port 9' });
    const b = await createLive(app, { interface: 'lo', filter: 'tcp port 9' });
    assert.equal((await post(app, `/sessions/${a.id}/start`)).status, 200);
    assert.equal((await post(app, `/sessions/${b.id}/start`)).status, 200);
    const del = await app.inject({ method: 'DELETE', url: `/sessions/${a.id}` });
    assert.equal(del.statusCode, 204);
    assert.equal(existsSync(join(dir, 'sessions', String(a.id))), false, 'its folder is gone');

    await app.close();
    closed = true;
    const db = new Database(dbPath, { readonly: true });
    try {
      const row = db.prepare('SELECT state, stopped_ns FROM sessions WHERE id = ?').get(b.id) as Json;
      assert.equal(row.state, 'stopped');
      assert.ok(row.stopped_ns !== null);
    } finally {
      db.close();
    }
  } finally {
    if (!closed) await close();
    else await close().catch(() => undefined);
  }
});

test('a session left capturing by a dead process is marked failed; one a live process captures is not', async () => {
  const first = await testApp();
  const live = await createLive(first.app, { interface: 'lo', filter: 'tcp port 9' });
  assert.equal((await post(first.app, `/sessions/${live.id}/start`)).status, 200);
  // What a killed service leaves behind: the row says capturing, the owner pid is gone.
  const orphan = await createLive(first.app, { interface: 'lo' });
  first.app.db.prepare(`UPDATE sessions SET state = 'capturing' WHERE id = ?`).run(orphan.id);
  const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
  mkdirSync(first.app.sessionDir(orphan.id), { recursive: true });
  writeFileSync(join(first.app.sessionDir(orphan.id), 'capture.pid'), `${deadPid}\n`);

  // A second app on the same database (another service, an experiment driver).
  const second = await testApp(first.dir);
  try {
    const o = (await second.app.inject({ url: `/sessions/${orphan.id}` })).json();
    assert.equal(o.state, 'failed');
    assert.equal(o.failureReason, 'interrupted');
    const l = (await second.app.inject({ url: `/sessions/${live.id}` })).json();
    assert.equal(l.state, 'capturing', 'the first app still captures it');
    assert.equal((await post(first.app, `/sessions/${live.id}/stop`)).body.state, 'stopped');
  } finally {
    await second.app.close();
    await first.close();
  }
});

/** A veth pair with the test's own names; `a` has 198.18.x.1/24 and a static neighbour .2 = b. */
function makeVeth(): { a: string; remove: () => void; takeDown: () => void; peerAddr: string } {
  const tag = `${process.pid % 10000}`;
  const a = `acks${tag}a`;
  const b = `acks${tag}b`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const remove = () => {
    try {
      ip('link', 'del', a);
    } catch {
      // already gone (the test deletes it on purpose)
    }
  };
  remove();
  ip('link', 'add', a, 'type', 'veth', 'peer', 'name', b);
  try {
    const subnet = `198.18.${200 + (process.pid % 50)}`;
    ip('addr', 'add', `${subnet}.1/24`, 'dev', a);
    ip('link', 'set', a, 'up');
    ip('link', 'set', b, 'up');
    const mac = execFileSync('cat', [`/sys/class/net/${b}/address`], { encoding: 'utf8' }).trim();
    ip('neigh', 'replace', `${subnet}.2`, 'lladdr', mac, 'dev', a, 'nud', 'permanent');
    return { a, remove, takeDown: () => ip('link', 'set', a, 'down'), peerAddr: `${subnet}.2` };
  } catch (err) {
    remove();
    throw err;
  }
}

for (const takenDownFirst of [false, true]) {
  // Taken down first, then deleted: the race behind a CI failure, made certain. The packet
  // socket reports ENETDOWN while the device is still bound, so libpcap reads "went down" and
  // goes on; the later unbinding reports nothing (capture/native/src/live_capture.cc, Run).
  const how = takenDownFirst ? 'is taken down, then deleted' : 'is deleted';
  test(`a capture whose interface ${how} fails with the reason and keeps its frames`, async () => {
    const { app, dbPath, close } = await testApp();
    const veth = makeVeth();
    const sockets: net.Socket[] = [];
    try {
      const s = await createLive(app, { interface: veth.a, filter: 'tcp' });
      assert.equal((await post(app, `/sessions/${s.id}/start`)).status, 200);
      // SYNs to an address behind the veth that nobody answers: TCP frames on the wire.
      for (let i = 0; i < 3; i++) {
        const sock = net.connect({ host: veth.peerAddr, port: 9 });
        sock.on('error', () => undefined);
        sockets.push(sock);
      }
      const db = new Database(dbPath, { readonly: true });
      const storedFrames = () => (db.prepare('SELECT COUNT(*) AS n FROM frames WHERE session_id = ?').get(s.id) as Json).n as number;
      try {
        assert.ok(await until(() => storedFrames() >= 3), 'the SYNs were captured and stored');
        if (takenDownFirst) {
          veth.takeDown();
          await new Promise((resolve) => setTimeout(resolve, 1000));
          const down = (await app.inject({ url: `/sessions/${s.id}` })).json();
          assert.equal(down.state, 'capturing', 'an interface that is only down is still captured (as tcpdump does)');
        }
        veth.remove();
        assert.ok(
          await until(async () => (await app.inject({ url: `/sessions/${s.id}` })).json().state === 'failed', 10_000),
          'the session failed',
        );
        const failed = (await app.inject({ url: `/sessions/${s.id}` })).json();
        assert.match(failed.failureReason, /disappeared|no such device|went down/i, failed.failureReason);
        assert.ok(failed.counts.tcp >= 3, 'counters kept');
        assert.ok(storedFrames() >= 3, 'frames kept');
        assert.ok(failed.stoppedNs !== null);
        const stop = await post(app, `/sessions/${s.id}/stop`);
        assert.equal(stop.status, 409, 'nothing left to stop');
      } finally {
        db.close();
      }
    } finally {
      for (const sock of sockets) sock.destroy();
      veth.remove();
      await close();
    }
  });
}
