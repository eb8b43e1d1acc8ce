import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { decodeTag, TAG_BYTES, type WriteTag } from '../capture/decode/tag.js';
import { getSendBuffer, setSendBuffer, socketFd } from '../capture/native/index.js';
import { instrument, runWorkload, startReceiver, type CompletionRecord, type WorkloadMode } from '../sender/index.js';
import { openDatabase } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { listCompletions } from '../db/completions.js';
import { databaseDestination } from '../db/completion-destination.js';
import { testApp, tempDir } from './helpers/app.js';

/**
 * Real sockets on loopback: the records must describe the writes exactly (count, ids,
 * offsets, clock order) and carry TCP_INFO consistent with the bytes written.
 */
function checkRecords(records: CompletionRecord[], sizes: number[], buffers: number): void {
  let offset = 0;
  let lastBytesSent = 0;
  let lastAcked = 0;
  const total = records.reduce((n, r) => n + (r.offsetEnd - r.offsetStart), 0);
  records.forEach((r, i) => {
    assert.equal(r.writeId, i, 'records come in posting order, one per call');
    assert.equal(r.offsetStart, offset, `write ${i} starts where write ${i - 1} ended`);
    assert.equal(r.offsetEnd - r.offsetStart, sizes[i % sizes.length]);
    offset = r.offsetEnd;
    assert.equal(r.buffers, buffers);
    assert.equal(r.status, 'ok');
    assert.equal(r.bytesReported, r.offsetEnd - r.offsetStart);
    assert.equal(r.api, 'node:socket.write');
    assert.ok(BigInt(r.submittedNs) <= BigInt(r.completedNs), `write ${i}: submitted ≤ completed`);
    assert.ok(r.writeReturned === 0 || r.writeReturned === 1);
    assert.ok(Number.isSafeInteger(r.writableLength) && r.writableLength! >= 0);
    const t = r.tcpInfo;
    assert.ok(t, `write ${i} has tcpInfo`);
    // Node calls back once the kernel took the bytes: sent + not yet sent covers the write
    assert.ok(t.bytesSent! + t.notsentBytes! >= r.offsetEnd, `write ${i}: kernel holds its bytes (${JSON.stringify(t)})`);
    assert.ok(t.bytesSent! <= total && t.bytesAcked! <= t.bytesSent!, `write ${i}: acked ≤ sent ≤ written`);
    assert.ok(t.bytesSent! >= lastBytesSent && t.bytesAcked! >= lastAcked, 'TCP counters only grow');
    lastBytesSent = t.bytesSent!;
    lastAcked = t.bytesAcked!;
    if (r.tcpInfoFrom !== undefined) {
      // a shared reading comes from an earlier completion of the same flow
      assert.ok(r.tcpInfoFrom < r.writeId, `write ${i}: shares the reading of write ${r.tcpInfoFrom}`);
      assert.deepEqual(t, records[r.tcpInfoFrom].tcpInfo, `write ${i}: the same reading as write ${r.tcpInfoFrom}`);
    }
  });
  const flow = records[0].flow;
  assert.equal(flow.srcAddr, '127.0.0.1');
  for (const r of records) assert.deepEqual(r.flow, flow);
}

for (const [mode, buffers] of [
  ['serial', 1],
  ['overlapped', 1],
  ['vectored', 3],
] as [WorkloadMode, number][]) {
  test(`sender: ${mode} writes on loopback yield one exact record per call`, async () => {
    const sink = await startReceiver({ port: 0 });
    try {
      const sizes = [1024, 100, 4096, 65536];
      const { records, summary } = await runWorkload({
        host: '127.0.0.1',
        port: sink.port,
        count: 300,
        sizes,
        mode,
        window: 8,
        buffers,
      });
      assert.equal(records.length, 300);
      assert.equal(summary.completed, 300);
      assert.equal(summary.errors, 0);
      checkRecords(records, sizes, buffers);
      assert.equal(records[0].flow.dstPort, sink.port);
      assert.equal(summary.bytes, records[records.length - 1].offsetEnd);
      await waitFor(() => sink.stats.open === 0);
      assert.equal(sink.stats.bytes, summary.bytes, 'the sink read every byte');
    } finally {
      await sink.close();
    }
  });
}

test('sender: TCP_INFO policies: every completion reads its own, burst shares within a burst, off reads none', async () => {
  const sink = await startReceiver({ port: 0 });
  try {
    const run = (tcpInfo: 'every' | 'burst' | 'off') =>
      runWorkload({ host: '127.0.0.1', port: sink.port, count: 2000, sizes: [1024], mode: 'overlapped', window: 16, tcpInfo });
    const every = (await run('every')).records;
    assert.ok(every.every((r) => r.tcpInfo !== undefined && r.tcpInfoFrom === undefined));
    checkRecords(every, [1024], 1);
    const burst = (await run('burst')).records;
    checkRecords(burst, [1024], 1);
    const shared = burst.filter((r) => r.tcpInfoFrom !== undefined).length;
    // overlapped writes complete in bursts of up to the window: most records share a reading
    assert.ok(shared > 0 && shared < burst.length, `${shared} of ${burst.length} share a reading`);
    const off = (await run('off')).records;
    assert.ok(off.every((r) => r.tcpInfo === undefined && r.tcpInfoFrom === undefined));
  } finally {
    await sink.close();
  }
});

test('sender: --tag puts a header with writeId, length and stream offset at the start of every call', async () => {
  const received: Buffer[] = [];
  const server = createServer((s) => s.on('data', (c: Buffer) => received.push(c)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const { records } = await runWorkload({ host: '127.0.0.1', port, count: 50, sizes: [100, 3000], mode: 'vectored', buffers: 2, tag: true });
    await waitFor(() => received.reduce((n, c) => n + c.length, 0) === records[records.length - 1].offsetEnd);
    const stream = Buffer.concat(received);
    const view = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
    const tag: WriteTag = { writeId: -1, length: -1, offset: -1 };
    for (const r of records) {
      assert.ok(decodeTag(view, r.offsetStart, tag), `a tag at offset ${r.offsetStart}`);
      assert.deepEqual(tag, { writeId: r.writeId, length: r.offsetEnd - r.offsetStart, offset: r.offsetStart });
    }
    assert.ok(stream.length > TAG_BYTES);
  } finally {
    server.close();
  }
});

test('sender: SO_SNDBUF is set and read back through the addon', async () => {
  const sink = await startReceiver({ port: 0 });
  try {
    const { summary } = await runWorkload({ host: '127.0.0.1', port: sink.port, count: 10, sizes: [1024], mode: 'serial', sndbuf: 32768 });
    assert.equal(summary.sndbufRequested, 32768);
    // Linux doubles the request for its bookkeeping (socket(7)); never less than asked
    assert.ok(summary.sndbufActual! >= 32768 && summary.sndbufActual! <= 2 * 32768, `read back ${summary.sndbufActual}`);

    const socket = connect(sink.port, '127.0.0.1');
    await once(socket, 'connect');
    const before = getSendBuffer(socketFd(socket));
    setSendBuffer(socketFd(socket), 8192);
    const after = getSendBuffer(socketFd(socket));
    assert.notEqual(after, before);
    assert.ok(after >= 8192 && after <= 16384);
    socket.destroy();
  } finally {
    await sink.close();
  }
});

test('sender: when the peer resets, the failed writes are records with the error as status', async () => {
  const sink = await startReceiver({ port: 0, pauseAfterBytes: 1 }); // stops reading at once: buffers fill
  try {
    const run = runWorkload({ host: '127.0.0.1', port: sink.port, count: 400, sizes: [65536], mode: 'overlapped', window: 64, sndbuf: 65536 });
    // wait until the sender is stuck on a full window, then reset the connection
    await waitFor(() => sink.stats.bytes > 0 && sink.sockets.size === 1);
    await new Promise((r) => setTimeout(r, 200));
    for (const s of sink.sockets) s.resetAndDestroy();
    const { records, summary } = await run;

    assert.ok(summary.socketError, 'the summary names the socket error');
    assert.ok(summary.errors > 0);
    assert.ok(summary.calls < 400, 'no calls after the socket failed');
    assert.equal(records.length, summary.calls, 'every call made has its record, failed ones included');
    records.forEach((r, i) => assert.equal(r.writeId, i));
    const failed = records.filter((r) => r.status !== 'ok');
    assert.equal(failed.length, summary.errors);
    assert.ok(failed.some((r) => r.status === 'ECONNRESET' || r.status === 'EPIPE'), failed.map((r) => r.status).join());
    for (const r of failed) {
      assert.equal(r.bytesReported, 0);
      assert.ok(BigInt(r.submittedNs) <= BigInt(r.completedNs));
    }
    // the writes that completed before the reset come first, in order
    const firstFailed = records.findIndex((r) => r.status !== 'ok');
    assert.ok(records.slice(firstFailed).every((r) => r.status !== 'ok'));
  } finally {
    await sink.close();
  }
});

test('sink: --pause-after-bytes with --pause-ms fills the window, then reads on: the stalled writes complete', async () => {
  const sink = await startReceiver({ port: 0, pauseAfterBytes: 64 * 1024, pauseMs: 300 });
  try {
    // More than the receiver's largest receive buffer (tcp_rmem max) plus the send buffer
    // can hold, so some write must wait for the sink to read again
    const rmemMax = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'utf8').trim().split(/\s+/)[2]);
    const count = Math.ceil((rmemMax + 4 * 65536) / 65536) + 40;
    const { records, summary } = await runWorkload({ host: '127.0.0.1', port: sink.port, count, sizes: [65536], mode: 'serial', sndbuf: 65536 });
    assert.equal(summary.completed, count);
    assert.equal(summary.errors, 0);
    assert.ok(records.every((r) => r.status === 'ok'));
    assert.equal(sink.stats.pauses, 1);
    assert.ok(summary.latencyNs!.max >= 150e6, `a write waited for the pause (max ${summary.latencyNs!.max} ns)`);
    await waitFor(() => sink.stats.open === 0);
    assert.equal(sink.stats.bytes, count * 65536);
  } finally {
    await sink.close();
  }
});

test('sender: a socket instrumented before it connects records the writes made while connecting', async () => {
  const ends: { bytes: number }[] = [];
  const receiver = await startReceiver({ port: 0, onConnectionEnd: (e) => ends.push(e) });
  try {
    const socket = new Socket();
    const probe = instrument(socket); // before connect(): Node's connect() resets socket.write
    socket.connect(receiver.port, '127.0.0.1');
    for (let i = 0; i < 5; i++) socket.write(Buffer.alloc(1000 + i)); // queued while connecting
    socket.end(Buffer.alloc(7));
    await once(socket, 'close');
    while (ends.length === 0) await new Promise((r) => setTimeout(r, 5));
    await probe.flush();
    const records = probe.records;
    assert.equal(probe.stats.unattributable, 0, 'every record has its flow');
    assert.ok(records.length >= 1);
    assert.equal(records[0].offsetStart, 0);
    assert.equal(records.at(-1)!.offsetEnd, ends[0].bytes, 'the records cover every byte the receiver read');
    for (let i = 1; i < records.length; i++) assert.equal(records[i].offsetStart, records[i - 1].offsetEnd);
  } finally {
    await receiver.close();
  }
});

test('sender: instrument() adopted in two lines on an existing socket records to a local database', async () => {
  const t = tempDir();
  const dbPath = join(t.dir, 'local.db');
  const setup = openDatabase(dbPath);
  const session = createSession(setup, { name: 'app', kind: 'import' }).id;
  setup.close();
  const sink = await startReceiver({ port: 0 });
  try {
    const socket: Socket = connect(sink.port, '127.0.0.1'); // the application's own socket
    const local = databaseDestination(dbPath, session);
    after(local.close);
    const probe = instrument(socket, { destination: local.destination }); // the adoption
    assert.throws(() => instrument(socket), /already instrumented/);
    const calls: (Error | null | undefined)[] = [];
    socket.write('hello', () => calls.push(null));
    socket.write(Buffer.alloc(2000), 'binary' as BufferEncoding, (err) => calls.push(err));
    socket.cork(); // a corked group is one call for the kernel: one record
    socket.write('a');
    socket.write('bb');
    socket.write('ccc', (err) => calls.push(err));
    socket.uncork();
    probe.writev([Buffer.from('xy'), Buffer.from('z')]);
    socket.end('bye');
    await once(socket, 'close');
    await probe.flush();
    assert.equal(calls.length, 3, "the application's callbacks are still called");
    assert.deepEqual(probe.stats, { records: 5, errors: 0, unattributable: 0 });

    const db = openDatabase(dbPath);
    try {
      const rows = listCompletions(db, session, {}, 100);
      assert.deepEqual(
        rows.map((r) => [r.writeId, r.offsetStart, r.offsetEnd, r.buffers]),
        [
          [0, 0, 5, 1],
          [1, 5, 2005, 1],
          [2, 2005, 2011, 3],
          [3, 2011, 2014, 2],
          [4, 2014, 2017, 1],
        ],
      );
      assert.ok(rows.every((r) => r.status === 'ok' && r.tcpBytesSent !== null && r.srcAddr === '127.0.0.1'));
    } finally {
      db.close();
    }
    probe.restore();
    assert.equal(Object.prototype.hasOwnProperty.call(socket, 'write'), false);
  } finally {
    await sink.close();
    t.cleanup();
  }
});

test('sender: records reported to the service arrive in its session (batched posts, flushed at the end)', async () => {
  const { app, close } = await testApp();
  const sink = await startReceiver({ port: 0 });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const session = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 's', kind: 'import' } })).json().id;
    const { records, summary } = await runWorkload({
      host: '127.0.0.1',
      port: sink.port,
      count: 2500,
      sizes: [512],
      mode: 'overlapped',
      destination: { url, session, batchRecords: 1000 },
    });
    assert.equal(summary.completed, 2500);
    assert.equal(records.length, 2500);
    const listed = (await app.inject({ url: `/sessions/${session}/completions?limit=10000` })).json().items as CompletionRecord[];
    assert.equal(listed.length, 2500);
    assert.deepEqual(
      listed.map((c) => [c.writeId, c.offsetStart, c.submittedNs, c.completedNs]),
      records.map((c) => [c.writeId, c.offsetStart, c.submittedNs, c.completedNs]),
    );

    // a delivery failure does not disturb the writes; it surfaces from flush() with the service's code
    const socket = connect(sink.port, '127.0.0.1');
    const probe = instrument(socket, { destination: { url, session: 9999 } });
    socket.end('x');
    await once(socket, 'close');
    await assert.rejects(probe.flush(), (err: { code?: string }) => err.code === 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
  } finally {
    await sink.close();
    await close();
  }
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
