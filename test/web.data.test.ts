// The page's thinning: pure functions (service/web/timeline.ts, sequence.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { thinWrites, timelineColumns } from '../service/web/timeline.js';
import { SequenceBuilder, thinByBucket, thinSegments } from '../service/web/sequence.js';
import { STAGE_NAMES } from '../service/web/src/shapes.js';
import type { CorrelationRecord } from '../correlate/types.js';
import { NO_KERNEL_WITNESS } from '../correlate/ladder.js';
import { ONE_HOST_CLOCK } from '../correlate/host-clocks.js';

function record(i: number, over: Partial<CorrelationRecord> = {}): CorrelationRecord {
  return {
    ...NO_KERNEL_WITNESS,
    ...ONE_HOST_CLOCK,
    completionId: i + 1, flowId: 1, dataDir: 0, srcAddr: '127.0.0.1', srcPort: 40000, dstAddr: '127.0.0.1', dstPort: 7000,
    writeId: i, api: 'node:socket.write', status: 'ok', buffers: 1, offsetStart: i * 100, offsetEnd: i * 100 + 100,
    bytesReported: 100, submittedNs: 1000 + i * 1000, completedNs: 1500 + i * 1000, tcpBytesSent: null, tcpBytesAcked: null,
    stage: 'wire', reason: null, firstWireNs: 1200 + i * 1000, lastWireNs: 1300 + i * 1000, ackedNs: null, sackedNs: null,
    retransmitted: false, submitToCompleteNs: 500, lastWireMinusCompleteNs: -200, ackedMinusCompleteNs: null,
    decidingGapNs: 200, decidingEvent: 'last-wire', decidingEarliestNs: 1300 + i * 1000, decidingLatestNs: 1300 + i * 1000, decidingDoubt: null, nearBoundary: false, uncertain: false, tcpInfoStage: null, tcpInfoAgrees: null,
    ...over,
  };
}

test('timeline columns: one flow, submission order, µs after the base, stage indexes', () => {
  const records = [record(2, { stage: 'acked', ackedNs: 3400 }), record(0), record(1, { flowId: 2 }), record(3, { flowId: null })];
  const t = timelineColumns(9, records, 1, { baseNs: '1764061234000000500', baseRelNs: 500 });
  assert.equal(t.sessionId, 9);
  assert.deepEqual(t.writeId, [0, 2]);
  assert.equal(t.total, 2);
  assert.equal(t.shown, 2);
  assert.deepEqual(t.submittedUs, [0.5, 2.5]);
  assert.deepEqual(t.completedUs, [1, 3]);
  assert.deepEqual(t.ackedUs, [null, 2.9]);
  assert.deepEqual(t.stage.map((s) => STAGE_NAMES[s]), ['wire', 'acked']);
  assert.deepEqual(timelineColumns(9, records, null, { baseNs: '0', baseRelNs: 0 }).writeId, [3]);
  assert.deepEqual(t.decidedBy, ['capture', 'capture']);
  assert.deepEqual(t.kernelUs, [null, null], 'no kernel witness');
  const traced = record(0, {
    stage: 'qdisc',
    decidedBy: 'kernel',
    kernel: { qdiscInNs: 1250, qdiscOutNs: null, driverNs: 1600, ackArrivedNs: null, ackProcessedNs: null, retransmitted: false },
  });
  const k = timelineColumns(9, [traced], 1, { baseNs: '1764061234000000500', baseRelNs: 500 });
  assert.deepEqual(k.kernelUs, [[0.75, null, 1.1, null, null]], 'the kernel moments, µs after the base, ladder order');
  assert.deepEqual(k.stage.map((s) => STAGE_NAMES[s]), ['qdisc']);
});

test('thinning writes keeps at most max, in order, and keeps the slowest write', () => {
  const records = Array.from({ length: 10_000 }, (_, i) => record(i, { submitToCompleteNs: i === 4321 ? 9e9 : 500 + (i % 7) }));
  const thinned = thinWrites(records, 1000);
  assert.ok(thinned.length <= 1000 && thinned.length > 900, `${thinned.length}`);
  assert.ok(thinned.some((r) => r.writeId === 4321), 'the slowest write survives');
  for (let i = 1; i < thinned.length; i++) assert.ok(thinned[i].submittedNs > thinned[i - 1].submittedNs);
  assert.equal(thinWrites(records.slice(0, 50), 1000).length, 50, 'nothing thinned below the limit');

  // stages: 90% wire, 9.9% acked, 10 queued: the rare stage stays, the shares roughly hold
  const mixed = Array.from({ length: 10_000 }, (_, i) =>
    record(i, { stage: i % 1000 === 500 ? 'queued' : i % 10 === 0 ? 'acked' : 'wire' }),
  );
  const mixedThin = thinWrites(mixed, 1000);
  const count = (stage: string) => mixedThin.filter((r) => r.stage === stage).length;
  assert.ok(mixedThin.length <= 1000);
  assert.equal(count('queued'), 10, 'every write of a rare stage is kept');
  assert.ok(count('wire') > 6 * count('acked') && count('acked') > 50, `wire ${count('wire')}, acked ${count('acked')}`);
  for (let i = 1; i < mixedThin.length; i++) assert.ok(mixedThin[i].submittedNs > mixedThin[i - 1].submittedNs);
  const t = timelineColumns(1, records, 1, { baseNs: '0', baseRelNs: 0 }, 1000);
  assert.equal(t.total, 10_000);
  assert.equal(t.shown, thinned.length);
});

test('time-sequence: data of one direction, advancing ACKs of the other, retransmissions kept when thinned', () => {
  const b = new SequenceBuilder(0, 1_000_000n);
  const frames = [];
  for (let i = 0; i < 5000; i++) {
    frames.push({ rel_ns: i * 1000, dir: 0, seq_off: i * 10, payload_len: 10, ack_off: 0, retransmit: i % 1000 === 7 ? 1 : 0, ack_advanced: 0 });
    frames.push({ rel_ns: 500 + i * 1000, dir: 1, seq_off: 0, payload_len: 0, ack_off: i * 10 + 10, retransmit: 0, ack_advanced: i % 2 });
  }
  frames.push({ rel_ns: 0, dir: 0, seq_off: 0, payload_len: 0, ack_off: 0, retransmit: 0, ack_advanced: 0 }); // bare ACK: not data
  for (const f of frames) b.add(f);
  const all = b.result(3, 4, 100_000);
  assert.equal(all.segmentsTotal, 5000);
  assert.equal(all.acksTotal, 2500);
  assert.equal(all.segments.tUs[1], 1);
  assert.equal(all.segments.endOff[1], 20);
  assert.equal(all.acks.tUs[0], 1.5);
  const thin = b.result(3, 4, 200);
  assert.ok(thin.segments.tUs.length <= 200);
  assert.equal(thin.segments.retransmit.filter(Boolean).length, 5, 'every retransmission kept');
  assert.ok(thin.acks.tUs.length <= 200);
  assert.equal(Math.max(...thin.acks.ackOff), 50_000, 'the highest ACK survives');
  for (let i = 1; i < thin.segments.tUs.length; i++) assert.ok(thin.segments.tUs[i] >= thin.segments.tUs[i - 1]);
});

test('bucket thinning keeps the highest point of each bucket', () => {
  const pts = Array.from({ length: 100 }, (_, i) => ({ tUs: i, v: i % 10 === 3 ? 1000 : i }));
  const kept = thinByBucket(pts, 10, (p) => p.v);
  assert.equal(kept.length, 10);
  assert.ok(kept.every((p) => p.v === 1000));
  assert.equal(thinSegments([], 5).length, 0);
});

test('thinned timelines keep each drawn write with its own kernel moments (the markers are thinned with the writes)', () => {
  const kernelOf = (i: number) => ({ qdiscInNs: 1100 + i * 1000, qdiscOutNs: null, driverNs: 1250 + i * 1000, ackArrivedNs: i % 3 === 0 ? null : 9000 + i * 1000, ackProcessedNs: null, retransmitted: false });
  const records = Array.from({ length: 5000 }, (_, i) => record(i, { kernel: kernelOf(i), kernelStage: 'wire', decidedBy: 'both' }));
  const t = timelineColumns(1, records, 1, { baseNs: '1000', baseRelNs: 1000 }, 700);
  assert.ok(t.shown <= 700 && t.shown < t.total);
  assert.equal(t.kernelUs.length, t.shown);
  t.writeId.forEach((w, row) => {
    const k = kernelOf(w);
    assert.deepEqual(t.kernelUs[row], [(k.qdiscInNs - 1000) / 1000, null, (k.driverNs - 1000) / 1000, k.ackArrivedNs === null ? null : (k.ackArrivedNs - 1000) / 1000, null], `write ${w}`);
  });
});
