import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderingVerdict, offsetShiftFromTags, type TagRow } from '../correlate/ordering.js';
import { buildTrace } from '../correlate/trace.js';
import { classifyCompletion } from '../correlate/classify.js';
import type { CorrelationRecord } from '../correlate/types.js';
import { NO_KERNEL_WITNESS } from '../correlate/ladder.js';
import { ONE_HOST_CLOCK } from '../correlate/host-clocks.js';

const tag = (streamOff: number, writeId: number | null, claimedOff: number | null, claimedLen: number | null): TagRow => ({
  streamOff,
  writeId,
  claimedOff,
  claimedLen,
  tsNs: streamOff,
});

test('ordering: in order, whole writes back to back', () => {
  const r = orderingVerdict([tag(0, 0, 0, 100), tag(100, 1, 100, 50), tag(150, 2, 150, 10)], 0);
  assert.deepEqual([r.verdict, r.writesSeen, r.firstViolation], ['in-order', 3, null]);
});

test('ordering: interleaved — a header missing where one was due, or inside another write', () => {
  // write 0 [0, 100) and write 1 [100, 200) posted in order; the wire carried 60 bytes of
  // write 0, then write 1 whole, then write 0's last 40: at 100, where write 1's header
  // was due, the capture found none
  const missing = orderingVerdict([tag(0, 0, 0, 100), tag(100, null, null, null)], 0);
  assert.equal(missing.verdict, 'interleaved');
  assert.equal(missing.firstViolation?.streamOff, 100, 'the first violation is shown');
  assert.match(missing.firstViolation!.message, /after write 0 ended/);
  const inside = orderingVerdict([tag(0, 0, 0, 100), tag(60, 1, 100, 100)], 0);
  assert.equal(inside.verdict, 'interleaved');
  assert.match(inside.firstViolation!.message, /inside write 0/);
  // a header claiming another offset than where it was found, with the order intact
  const shifted = orderingVerdict([tag(0, 0, 0, 100), tag(100, 1, 90, 100)], 0);
  assert.equal(shifted.verdict, 'interleaved');
});

test('ordering: reordered — a later write reached the wire first', () => {
  const swapped = orderingVerdict([tag(0, 1, 100, 50), tag(50, 0, 0, 100)], 0);
  assert.equal(swapped.verdict, 'reordered');
  assert.equal(swapped.firstViolation?.writeId, 1);
  const skipped = orderingVerdict([tag(0, 0, 0, 100), tag(100, 2, 150, 10), tag(110, 1, 100, 50)], 0);
  assert.equal(skipped.verdict, 'reordered');
  assert.equal(skipped.firstViolation?.writeId, 2);
});

test('ordering: mid-stream capture — the shift comes from the first header', () => {
  const rows = [tag(500, 101, 101_000, 1000), tag(1500, 102, 102_000, 1000)];
  assert.equal(offsetShiftFromTags(rows), 100_500);
  assert.equal(orderingVerdict(rows).verdict, 'in-order');
  assert.equal(orderingVerdict([]).verdict, 'no-tags');
});

function record(over: Partial<CorrelationRecord>): CorrelationRecord {
  const c = classifyCompletion({
    offsetStart: 0, offsetEnd: 10, submittedNs: 0, completedNs: 1, flowFound: true, offsetsAligned: true,
    firstWire: { tsNs: 1500, seqOff: 0 }, lastWire: { tsNs: 1500, seqOff: 0 }, ackNs: 2500, sackNs: null,
    retransmitted: false, coverage: { dataLowOff: 0, dataLowNs: 0, ackLowOff: -1, ackLowNs: 0 }, captureRunning: false,
    captureStartNs: 0, captureEndNs: 1e9, kernelDrops: 0, clockUncertaintyNs: 0, nearMarginNs: 0, tcpInfo: null,
  });
  return {
    ...c, ...NO_KERNEL_WITNESS, ...ONE_HOST_CLOCK, completionId: 1, flowId: 7, dataDir: 0, srcAddr: 'a', srcPort: 1, dstAddr: 'b', dstPort: 2, writeId: 0,
    api: 'node:socket.write', status: 'ok', buffers: 1, offsetStart: 0, offsetEnd: 10, bytesReported: 10,
    submittedNs: 0, completedNs: 1000, tcpBytesSent: null, tcpBytesAcked: null, ...over,
  };
}

/** The Chrome trace-event JSON object format, as chrome://tracing and Perfetto read it. */
function assertTraceEventFormat(doc: unknown): asserts doc is { traceEvents: Record<string, unknown>[] } {
  assert.ok(doc && typeof doc === 'object' && Array.isArray((doc as { traceEvents: unknown }).traceEvents));
  for (const e of (doc as { traceEvents: Record<string, unknown>[] }).traceEvents) {
    for (const key of ['ph', 'ts', 'pid', 'tid', 'name']) assert.ok(key in e, `${JSON.stringify(e)} has ${key}`);
    assert.ok(['X', 'i', 'M'].includes(e.ph as string));
    assert.equal(typeof e.ts, 'number');
    assert.ok(Number.isFinite(e.ts));
    if (e.ph === 'X') assert.ok(typeof e.dur === 'number' && (e.dur as number) >= 0);
    if (e.ph === 'i') assert.ok(['t', 'p', 'g'].includes(e.s as string));
    if (e.ph === 'M') assert.ok(['process_name', 'thread_name', 'process_sort_index'].includes(e.name as string));
  }
}

test('trace export: trace-event format, one named process per flow, microsecond ts, nested lanes', () => {
  const records = [
    // write 0 and 1 overlap without nesting (pipelined): they need two lanes
    record({ completionId: 1, writeId: 0, submittedNs: 0, completedNs: 2000 }),
    record({ completionId: 2, writeId: 1, submittedNs: 1000, completedNs: 3000 }),
    record({ completionId: 3, writeId: 0, flowId: 8, submittedNs: 500, completedNs: 700 }),
    record({ completionId: 4, writeId: 0, flowId: null, dataDir: null, submittedNs: 0, completedNs: 10 }),
  ];
  const doc = JSON.parse(JSON.stringify(buildTrace(records, [{ id: 7, label: 'flow 7' }, { id: 8, label: 'flow 8' }], 1_000_000n, String)));
  assertTraceEventFormat(doc);
  const events = doc.traceEvents;
  const names = events.filter((e) => e.name === 'process_name');
  assert.deepEqual(names.map((e) => [e.pid, (e.args as { name: string }).name]), [
    [1, 'flow 7'],
    [2, 'flow 8'],
    [3, 'completions without a captured flow'],
  ]);
  const slices = events.filter((e) => e.ph === 'X');
  const w1 = slices.find((e) => e.pid === 1 && e.name === 'write 1')!;
  assert.equal(w1.ts, 1, '1000 ns after the base is 1 µs');
  assert.equal(w1.dur, 2);
  // every (pid, tid) with events has a thread name, and slices on one thread never overlap
  const threads = new Set(events.filter((e) => e.name === 'thread_name').map((e) => `${e.pid}/${e.tid}`));
  for (const s of slices) assert.ok(threads.has(`${s.pid}/${s.tid}`));
  const byThread = new Map<string, { ts: number; end: number }[]>();
  for (const s of slices) {
    const k = `${s.pid}/${s.tid}`;
    byThread.set(k, [...(byThread.get(k) ?? []), { ts: s.ts as number, end: (s.ts as number) + (s.dur as number) }]);
  }
  for (const list of byThread.values()) {
    list.sort((a, b) => a.ts - b.ts);
    for (let i = 1; i < list.length; i++) assert.ok(list[i].ts >= list[i - 1].end, 'slices on a thread must not overlap');
  }
  assert.equal(threads.size, 4, 'flow 7 needs two lanes, flow 8 and the unmatched group one each');
  const instants = events.filter((e) => e.ph === 'i' && e.pid === 2);
  assert.deepEqual(instants.map((e) => [e.name, e.ts]), [['first wire w0', 1.5], ['last wire w0', 1.5], ['ack w0', 2.5]]);
});
