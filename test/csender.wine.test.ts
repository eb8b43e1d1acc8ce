import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cSenderBinary } from '../sender/c/paths.js';
import { runCSender } from '../sender/c/run.js';
import { withCapturedReceiver } from './helpers/captured-receiver.js';
import { startResettingReceiver, startTestReceiver } from './helpers/test-receiver.js';
import { ensureWineSender, measureWineStart } from './helpers/wine.js';
import { sentStream, walkTags } from './helpers/wire.js';
import { assertContiguous, assertRecordShape, assertTagsMatchRecords, cycledWriteSizes, isPartial } from './helpers/completion-checks.js';

/**
 * ackscope-send-winsock.exe — overlapped WSASend on an I/O completion port — built with
 * MinGW-w64 and run headless under Debian's Wine against a loopback receiver. Under Wine
 * a completion means "taken by the Linux socket", so this checks the Winsock program,
 * its records and the wire, not Windows' kernel rules (docs/windows.md).
 * The test installs wine and the cross compiler itself when missing (root).
 */
before(async () => {
  const setup = await ensureWineSender();
  const start = await measureWineStart(setup.wine, cSenderBinary('winsock'));
  // figures for the closing note (printed, never asserted)
  console.log(
    `# wine set-up: installed [${setup.installed.join(' ')}] in ${Math.round(setup.installMs)} ms; ` +
      `prefix ${setup.prefixCreated ? 'created' : 'reused'} in ${Math.round(setup.prefixMs)} ms; ` +
      `make winsock ${Math.round(setup.buildMs)} ms; ` +
      `program start: ${Math.round(start.coldServerMs)} ms without a wineserver, ${Math.round(start.warmServerMs)} ms with one`,
  );
});

test('overlapped WSASend with several WSABUFs: one record per WSASend, none short, tags whole and in posting order on the wire', async () => {
  await withCapturedReceiver({}, async ({ dir, receiver, pcap, trafficEnded }) => {
    const sizes = [1000, 20000, 70000, 300];
    const count = 100;
    const window = 8;
    const run = await runCSender({
      kind: 'winsock',
      target: `127.0.0.1:${receiver.port}`,
      count,
      size: sizes,
      mode: 'overlapped',
      window,
      buffers: 3,
      nodelay: true,
      tag: true,
      outPath: join(dir, 'records.ndjson'),
    });
    await trafficEnded();

    assert.equal(run.exitCode, 0);
    const records = run.records;
    assert.equal(records.length, count, 'one record per WSASend');
    assert.equal(run.totals.partial, 0);
    const dequeueOrder = new Set<number>();
    for (const r of records) {
      assertRecordShape(r, 'winsock:WSASend');
      assert.equal(r.status, 'ok');
      assert.equal(r.buffers, 3);
      assert.equal(r.bytesReported, r.offsetEnd - r.offsetStart, `writeId ${r.writeId} completed whole`);
      assert.ok(r.immediate === '0' || r.immediate === 'WSA_IO_PENDING', `immediate ${r.immediate}`);
      assert.equal(r.writeReturned, r.immediate === '0' ? 0 : -1);
      const extra = r.extra as { dequeueIndex: number; outstanding: number };
      assert.ok(extra.outstanding >= 1 && extra.outstanding <= window);
      dequeueOrder.add(extra.dequeueIndex);
    }
    assert.equal(dequeueOrder.size, count, 'every completion dequeued once');
    assertContiguous(records);
    const writeSizes = cycledWriteSizes(count, sizes);
    assert.equal(receiver.received(), writeSizes.reduce((a, b) => a + b, 0));

    const wire = await sentStream(pcap, records[0].flow.srcPort);
    assert.equal(wire.holes, 0);
    const walk = walkTags(wire.bytes);
    assert.equal(walk.brokenAt, null, `tag walk broke at ${walk.brokenAt}`);
    assertTagsMatchRecords(walk.tags, records, writeSizes);
  });
});

for (const sndbuf of [0, 4096]) {
  test(`SO_SNDBUF ${sndbuf} and a slow reader: WSASends go pending, and still none completes short`, async () => {
    const receiver = await startTestReceiver({ readDelayMs: 2 });
    try {
      const count = 16;
      const run = await runCSender({
        kind: 'winsock',
        target: `127.0.0.1:${receiver.port}`,
        count,
        size: 65536,
        mode: 'overlapped',
        window: 4,
        buffers: 2,
        sndbuf,
        tag: true,
      });
      assert.equal(run.exitCode, 0);
      assert.equal(run.records.length, count);
      assert.equal(run.records.filter(isPartial).length, 0);
      assertContiguous(run.records);
      const pending = run.records.filter((r) => r.immediate === 'WSA_IO_PENDING').length;
      console.log(`# winsock sndbuf=${sndbuf}: ${pending}/${count} WSASend returned WSA_IO_PENDING, 0 short completions`);
      assert.ok(pending > 0, 'a 64 KiB send into a few-KiB buffer cannot be taken at once');
    } finally {
      await receiver.close();
    }
  });
}

test('serial mode keeps one WSASend outstanding: dequeue order is posting order', async () => {
  const receiver = await startTestReceiver();
  try {
    const run = await runCSender({ kind: 'winsock', target: `127.0.0.1:${receiver.port}`, count: 20, size: 4096, mode: 'serial' });
    assert.equal(run.exitCode, 0);
    run.records.forEach((r, i) => {
      const extra = r.extra as { dequeueIndex: number; outstanding: number };
      assert.equal(r.writeId, i);
      assert.equal(extra.dequeueIndex, i);
      assert.equal(extra.outstanding, 1);
    });
  } finally {
    await receiver.close();
  }
});

test('a peer reset mid-transfer: the failed WSASends are recorded short with their WSA error', async () => {
  const receiver = await startResettingReceiver(300_000);
  try {
    const run = await runCSender({
      kind: 'winsock',
      target: `127.0.0.1:${receiver.port}`,
      count: 2000,
      size: 65536,
      mode: 'overlapped',
      window: 4,
      sndbuf: 16384,
    });
    assert.equal(run.exitCode, 3, 'exit 3: a send failed, records kept');
    const failed = run.records.filter((r) => r.status !== 'ok');
    assert.ok(failed.length >= 1);
    for (const r of failed) {
      assert.match(r.status, /^WSA/);
      assert.ok(isPartial(r), `writeId ${r.writeId} (${r.status}) reports fewer bytes than it carried`);
    }
    console.log(`# winsock reset: ${run.records.length} records, failed with ${[...new Set(failed.map((r) => r.status))].join(', ')}`);
    assert.ok(run.records.length < 2000);
  } finally {
    await receiver.close();
  }
});

test('an IPv6 target under Wine: the flow carries the IPv6 addresses', async () => {
  const sink = await startTestReceiver({ host: '::1' });
  try {
    const run = await runCSender({ kind: 'winsock', target: `[::1]:${sink.port}`, count: 3, size: 100, mode: 'overlapped', tag: true });
    assert.deepEqual({ ...run.records[0].flow, srcPort: 0 }, { srcAddr: '::1', srcPort: 0, dstAddr: '::1', dstPort: sink.port });
    await sink.connectionsEnded(1);
    assert.equal(sink.received(), 300);
  } finally {
    await sink.close();
  }
});
