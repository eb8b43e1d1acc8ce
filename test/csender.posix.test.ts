import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cSenderBinary } from '../sender/c/paths.js';
import { ensureCSenderBuilt, runCSender } from '../sender/c/run.js';
import { runProcess } from '../sender/c/wine.js';
import { requireRoot } from './helpers/require.js';
import { withCapturedReceiver } from './helpers/captured-receiver.js';
import { startResettingReceiver, startTestReceiver } from './helpers/test-receiver.js';
import { sentStream, walkTags } from './helpers/wire.js';
import { assertContiguous, assertRecordShape, assertTagsMatchRecords, cycledWriteSizes, isPartial, writeIndexOf } from './helpers/completion-checks.js';

/**
 * ackscope-send-posix (sender/c) for real on loopback: its records against the contract,
 * and the wire (tcpdump + tshark) against its records.
 */

test('the POSIX sender refuses a bad command line with exit 2 and the reason', async () => {
  const binary = await ensureCSenderBuilt('posix');
  const cases: [string[], RegExp][] = [
    [['--count', '3'], /missing HOST:PORT/],
    [['127.0.0.1:1', '--mode', 'sideways'], /--mode is serial or overlapped/],
    [['127.0.0.1:1', '--size', '40', '--buffers', '2', '--tag'], /at least 24 bytes/],
    [['127.0.0.1:1', '--count', '0'], /--count/],
    [['127.0.0.1:99999'], /HOST:PORT/],
    [['127.0.0.1:1', '--sndbuf', '-1'], /--sndbuf/],
  ];
  for (const [args, reason] of cases) {
    const r = await runProcess(binary, args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, reason);
  }
  await assert.rejects(
    runCSender({ kind: 'posix', target: '127.0.0.1:1', count: 1, size: 10, mode: 'serial', buffers: 2, tag: true }),
    { code: 'ACKSCOPE_ERR_VALIDATION' },
  );
});

test('the POSIX sender reports a refused connection as ACKSCOPE_ERR_SENDER_FAILED, with no records', async () => {
  const receiver = await startTestReceiver();
  const port = receiver.port;
  await receiver.close(); // nothing listens there now
  await assert.rejects(runCSender({ kind: 'posix', target: `127.0.0.1:${port}`, count: 1, size: 100, mode: 'serial' }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'ACKSCOPE_ERR_SENDER_FAILED');
    assert.match(err.message, /connect .*Connection refused/);
    return true;
  });
});

test('overlapped vectored writes: one record per call, contiguous, TCP_INFO consistent, tags whole and in order on the wire', async () => {
  requireRoot('tcpdump on lo');
  await withCapturedReceiver({}, async ({ dir, receiver, pcap, trafficEnded }) => {
    const sizes = [1000, 5000, 70000, 300];
    const count = 120;
    const run = await runCSender({
      kind: 'posix',
      target: `127.0.0.1:${receiver.port}`,
      count,
      size: sizes,
      mode: 'overlapped',
      buffers: 4,
      nodelay: true,
      tag: true,
      outPath: join(dir, 'records.ndjson'),
    });
    await trafficEnded();

    assert.equal(run.exitCode, 0);
    const records = run.records;
    assert.equal(run.totals.records, records.length);
    assert.equal(records.length, count + run.totals.partial, 'one record per call: each write plus one per short return');
    for (const r of records) {
      assertRecordShape(r, 'posix:send');
      assert.equal(r.status, 'ok');
      assert.equal(r.writeReturned, r.bytesReported);
      assert.ok(r.buffers >= 1 && r.buffers <= 4);
      // read right after the call: everything accepted so far was either sent or not yet sent
      assert.ok(r.tcpInfo, 'tcpInfo on every record');
      assert.equal(r.tcpInfo.bytesSent! + r.tcpInfo.notsentBytes!, r.offsetStart + r.bytesReported, `writeId ${r.writeId}`);
      assert.ok(r.tcpInfo.bytesAcked! <= r.tcpInfo.bytesSent!);
    }
    assertContiguous(records);
    const writeSizes = cycledWriteSizes(count, sizes);
    const total = writeSizes.reduce((a, b) => a + b, 0);
    assert.equal(run.totals.bytes, total);
    assert.equal(receiver.received(), total);

    const first = records[0];
    assert.equal(first.flow.dstPort, receiver.port);
    assert.equal(first.flow.srcAddr, '127.0.0.1');
    const wire = await sentStream(pcap, first.flow.srcPort);
    assert.equal(wire.holes, 0, 'every byte captured');
    assert.equal(wire.bytes.length, total);
    const walk = walkTags(wire.bytes);
    assert.equal(walk.brokenAt, null, `tag walk broke at ${walk.brokenAt}`);
    assertTagsMatchRecords(walk.tags, records, writeSizes);
  });
});

test('blocking serial sends never complete short, even with a small SO_SNDBUF and a slow reader', async () => {
  const receiver = await startTestReceiver({ readDelayMs: 2 });
  try {
    const run = await runCSender({
      kind: 'posix',
      target: `127.0.0.1:${receiver.port}`,
      count: 24,
      size: 65536,
      mode: 'serial',
      sndbuf: 4096,
      buffers: 2,
      tag: true,
    });
    assert.equal(run.exitCode, 0);
    assert.equal(run.records.length, 24);
    assert.equal(run.totals.partial, 0);
    for (const r of run.records) {
      assert.equal(r.bytesReported, 65536);
      assert.equal(r.buffers, 2);
      assert.equal(r.extra, undefined, 'no EAGAIN, no continuation on a blocking socket');
    }
    assertContiguous(run.records);
  } finally {
    await receiver.close();
  }
});

test('non-blocking sends with a small SO_SNDBUF and a slow reader: short returns recorded one per call, the rest sent by the next', async () => {
  requireRoot('tcpdump on lo');
  await withCapturedReceiver({ readDelayMs: 2 }, async ({ receiver, pcap, trafficEnded }) => {
    const count = 16;
    const run = await runCSender({
      kind: 'posix',
      target: `127.0.0.1:${receiver.port}`,
      count,
      size: 65536,
      mode: 'overlapped',
      sndbuf: 4096,
      buffers: 3,
      tag: true,
    });
    await trafficEnded();
    assert.equal(run.exitCode, 0);
    const records = run.records;
    const partial = records.filter(isPartial);
    assert.ok(partial.length > 0, 'a 64 KiB write into an ~8 KiB send buffer comes back short');
    assert.equal(run.totals.partial, partial.length);
    assert.equal(records.length, count + partial.length);
    assertContiguous(records);
    const byId = new Map(records.map((r) => [r.writeId, r]));
    for (const p of partial) {
      assert.ok(p.bytesReported > 0 && p.writeReturned === p.bytesReported);
      const rest = byId.get(p.writeId + 1);
      assert.ok(rest, `the rest of writeId ${p.writeId} is the next call`);
      assert.equal(rest.offsetStart, p.offsetStart + p.bytesReported);
      assert.equal(rest.offsetEnd, p.offsetEnd, 'the next call asks for exactly the rest');
      assert.equal(writeIndexOf(rest), writeIndexOf(p), 'the rest belongs to the same write');
      assert.equal(writeIndexOf(p), Math.floor(p.offsetStart / 65536));
    }
    // short returns do not tear writes on the wire: every tag whole, in order
    const wire = await sentStream(pcap, records[0].flow.srcPort);
    assert.equal(wire.bytes.length, count * 65536);
    const walk = walkTags(wire.bytes);
    assert.equal(walk.brokenAt, null);
    assertTagsMatchRecords(walk.tags, records, Array(count).fill(65536));
  });
});

for (const mode of ['serial', 'overlapped'] as const) {
  test(`a peer reset mid-transfer ends a ${mode} run with a short completion carrying the error name`, async () => {
    const receiver = await startResettingReceiver(300_000);
    try {
      const run = await runCSender({
        kind: 'posix',
        target: `127.0.0.1:${receiver.port}`,
        count: 2000,
        size: 65536,
        mode,
        sndbuf: 16384,
      });
      assert.equal(run.exitCode, 3, 'exit 3: a send failed, records kept');
      const last = run.records[run.records.length - 1];
      assert.match(last.status, /^(ECONNRESET|EPIPE)$/);
      assert.equal(last.bytesReported, 0);
      assert.equal(last.writeReturned, -1);
      assert.ok(isPartial(last));
      assert.equal(run.totals.errors, 1);
      assert.ok(run.records.slice(0, -1).every((r) => r.status === 'ok'));
      assertContiguous(run.records);
      assert.ok(run.records.length < 2000);
    } finally {
      await receiver.close();
    }
  });
}

test('an IPv6 target: the flow carries the IPv6 addresses the capture will see', async () => {
  const sink = await startTestReceiver({ host: '::1' });
  try {
    const run = await runCSender({ kind: 'posix', target: `[::1]:${sink.port}`, count: 3, size: 100, mode: 'overlapped', tag: true });
    assert.deepEqual({ ...run.records[0].flow, srcPort: 0 }, { srcAddr: '::1', srcPort: 0, dstAddr: '::1', dstPort: sink.port });
    await sink.connectionsEnded(1);
    assert.equal(sink.received(), 300);
  } finally {
    await sink.close();
  }
});

test('the binary is where runCSender looks for it', async () => {
  assert.equal(await ensureCSenderBuilt('posix'), cSenderBinary('posix'));
});
