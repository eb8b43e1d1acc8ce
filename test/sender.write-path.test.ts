// The instrumented write path's own parts, without sockets: the ring of writes in flight,
// the clock read into reused slots, and epoch nanoseconds formatted without BigInt. The
// whole path on real sockets is tested in sender.live.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { WriteQueue } from '../sender/write-queue.js';
import { BLOCK_ROWS, CompletionBlock, nsText } from '../sender/completion-block.js';
import type { CompletionRecord } from '../core/completion.js';
import { realtimeNs, realtimeStamp, realtimeStampSlots } from '../capture/native/index.js';

test('write queue: writes come out in posting order with their callbacks, across wrap-around and growth', () => {
  const queue = new WriteQueue(4);
  const callbacks = Array.from({ length: 40 }, () => () => {});
  const out: [number, number, unknown][] = [];
  let next = 0;
  // uneven pushes and shifts so the ring wraps, then grows (4 → 8 → 16 → 32) while wrapped
  for (const [pushes, shifts] of [[3, 2], [3, 3], [6, 2], [12, 5], [16, 20], [0, 8]] as const) {
    for (let i = 0; i < pushes; i++, next++) {
      const w = queue.push(next, next * 100, callbacks[next]);
      w.length = 100;
    }
    for (let i = 0; i < shifts; i++) {
      const cb = queue.oldestCallback();
      const w = queue.shift();
      out.push([w.writeId, w.offsetStart, cb]);
    }
  }
  assert.equal(queue.size, 0);
  assert.equal(out.length, 40);
  out.forEach(([writeId, offset, cb], i) => {
    assert.equal(writeId, i);
    assert.equal(offset, i * 100);
    assert.equal(cb, callbacks[i]);
  });
  assert.throws(() => queue.shift(), /no write in flight/);
});

test('write queue: a reused record starts fresh, and dropLast takes back only the last push', () => {
  const queue = new WriteQueue(2);
  const a = queue.push(0, 0, undefined);
  a.length = 7;
  a.submittedSec = 5;
  a.handedSeq = 3;
  a.done = true;
  queue.shift();
  queue.push(1, 7, undefined); // the other slot
  const again = queue.push(2, 9, undefined); // a's slot, reused
  assert.equal(again, a);
  assert.deepEqual(
    [again.writeId, again.offsetStart, again.length, again.submittedSec, again.handedSeq, again.done],
    [2, 9, 0, 0, Number.MAX_SAFE_INTEGER, false],
  );
  queue.dropLast();
  assert.equal(queue.size, 1);
  assert.equal(queue.shift().writeId, 1);
  assert.equal(queue.size, 0);
});

test('nsText writes sec · 10^9 + nsec as BigInt would, leading zeros of the nanoseconds kept', () => {
  const cases: [number, number][] = [
    [1_796_624_152, 189_204_325],
    [1_796_624_152, 0],
    [1_796_624_152, 5],
    [1_796_624_152, 999_999_999],
    [1, 1],
    [0, 0],
    [0, 42],
    [4_294_967_295, 100_000_000],
  ];
  for (let i = 0; i < 1000; i++) cases.push([Math.floor(Math.random() * 4e9), Math.floor(Math.random() * 1e9)]);
  for (const [sec, nsec] of cases) assert.equal(nsText(sec, nsec), (BigInt(sec) * 1_000_000_000n + BigInt(nsec)).toString(), `${sec} s ${nsec} ns`);
});

test('realtimeStamp reads CLOCK_REALTIME into its slots: between two realtimeNs readings, in every thread apart', async () => {
  const slots = realtimeStampSlots();
  assert.equal(slots, realtimeStampSlots(), 'one array, reused');
  for (let i = 0; i < 1000; i++) {
    const before = realtimeNs();
    realtimeStamp();
    const stamped = BigInt(slots[0]) * 1_000_000_000n + BigInt(slots[1]);
    const after = realtimeNs();
    assert.ok(Number.isInteger(slots[0]) && Number.isInteger(slots[1]) && slots[1] >= 0 && slots[1] < 1e9);
    assert.ok(before <= stamped && stamped <= after, `${before} ≤ ${stamped} ≤ ${after}`);
  }
  // A worker loads the addon again: its slots are its own, so the threads never write each other's.
  const addon = new URL('../capture/native/build/Release/ackscope_native.node', import.meta.url);
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const a = require(workerData);
     a.realtimeSlots[0] = -1; a.realtimeSlots[1] = -1;
     parentPort.postMessage('set');
     parentPort.once('message', () => { a.realtimeStamp(); parentPort.postMessage([a.realtimeSlots[0], a.realtimeSlots[1]]); });`,
    { eval: true, workerData: addon.pathname },
  );
  await once(worker, 'message');
  assert.ok(slots[0] > 0 && slots[1] >= 0, 'the worker\'s writes to its slots did not land in the main thread\'s');
  const mine = [slots[0], slots[1]];
  worker.postMessage('stamp');
  const [[sec, nsec]] = (await once(worker, 'message')) as [[number, number]];
  assert.ok(sec > 0 && nsec >= 0, 'the worker stamped its own slots');
  assert.deepEqual([slots[0], slots[1]], mine, 'the worker\'s stamp did not land in the main thread\'s slots');
  await worker.terminate();
});

test('completion block: each row becomes its record; a reading is kept once and shared rows name its writeId, also across a drain', () => {
  const flow = { srcAddr: '127.0.0.1', srcPort: 40000, dstAddr: '127.0.0.1', dstPort: 9000 };
  const block = new CompletionBlock();
  const reading = (base: number) => Float64Array.from([base, base - 10, 5, 1, 0, 20, 1]);
  const made: { record: CompletionRecord; latencyNs: number }[] = [];
  const emit = (record: CompletionRecord, latencyNs: number) => made.push({ record, latencyNs });
  const add = (writeId: number, tcp: Float64Array | null, tcpFrom: number, failure: string | null = null) =>
    block.add(writeId, writeId * 100, 100, 1, writeId % 2, writeId * 3, 1_796_624_152, 999_999_000 + writeId, 1_796_624_153, writeId, failure, tcp, tcpFrom);
  const r0 = reading(1000);
  add(0, r0, -1); // reads its own
  add(1, r0, 0); // shares writeId 0's
  add(2, null, -1, 'EPIPE'); // none
  const r3 = reading(2000);
  add(3, r3, -1);
  add(4, r3, 3);
  block.drain(flow, 'node:socket.write', emit);
  add(5, r3, 3); // writeId 3's reading, shared after the drain
  add(6, reading(3000), -1);
  block.drain(flow, 'node:socket.write', emit);
  assert.equal(block.count, 0);

  const tcp = (r: Float64Array) => ({ bytesSent: r[0], bytesAcked: r[1], notsentBytes: r[2], unacked: r[3], bytesRetrans: r[4], rttUs: r[5] });
  const expected = (writeId: number, tcpInfo: Float64Array | null, tcpInfoFrom?: number, status = 'ok'): CompletionRecord => ({
    flow,
    writeId,
    offsetStart: writeId * 100,
    offsetEnd: writeId * 100 + 100,
    submittedNs: (1_796_624_152n * 1_000_000_000n + 999_999_000n + BigInt(writeId)).toString(),
    completedNs: (1_796_624_153n * 1_000_000_000n + BigInt(writeId)).toString(),
    bytesReported: status === 'ok' ? 100 : 0,
    api: 'node:socket.write',
    buffers: 1,
    status,
    writeReturned: writeId % 2,
    writableLength: writeId * 3,
    ...(tcpInfo ? { tcpInfo: tcp(tcpInfo) } : {}),
    ...(tcpInfoFrom !== undefined ? { tcpInfoFrom } : {}),
  });
  assert.deepEqual(
    made.map((m) => m.record),
    [
      expected(0, r0),
      expected(1, r0, 0),
      expected(2, null, undefined, 'EPIPE'),
      expected(3, r3),
      expected(4, r3, 3),
      expected(5, r3, 3),
      expected(6, reading(3000)),
    ],
  );
  assert.deepEqual(
    made.map((m) => m.latencyNs),
    made.map((m) => Number(BigInt(m.record.completedNs) - BigInt(m.record.submittedNs))),
  );
});

test('completion block: a full block of rows, each reading its own TCP_INFO (the readings grow past their first size)', () => {
  const flow = { srcAddr: '::1', srcPort: 1, dstAddr: '::1', dstPort: 2 };
  const block = new CompletionBlock();
  for (let i = 0; i < BLOCK_ROWS; i++) block.add(i, i, 1, 1, 1, 0, 1, i, 2, i, null, Float64Array.from([i + 1, i, 0, 0, 0, 7, 1]), -1);
  assert.ok(block.full);
  const made: CompletionRecord[] = [];
  block.drain(flow, 'x', (r) => made.push(r));
  assert.equal(made.length, BLOCK_ROWS);
  made.forEach((r, i) => {
    assert.equal(r.writeId, i);
    assert.deepEqual(r.tcpInfo, { bytesSent: i + 1, bytesAcked: i, notsentBytes: 0, unacked: 0, bytesRetrans: 0, rttUs: 7 });
    assert.equal(r.tcpInfoFrom, undefined);
  });
});
