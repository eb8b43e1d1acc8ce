import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyCompletion, tcpInfoStage } from '../correlate/classify.js';
import type { CompletionEvidence } from '../correlate/types.js';
import { evidenceFor, type FlowSide } from '../correlate/evidence.js';
import { nearestRank, spread } from '../correlate/percentiles.js';
import { FlowIndex } from '../correlate/flowmatch.js';
import { canonicalAddress } from '../core/completion.js';
import { partialCompletions } from '../correlate/partial.js';
import { decodeCursor, encodeCursor, page, sortRecords } from '../correlate/listing.js';
import { csvLine } from '../correlate/csv.js';
import { NO_KERNEL_WITNESS } from '../correlate/ladder.js';
import { ONE_HOST_CLOCK } from '../correlate/host-clocks.js';

/** A write [1000, 2000) submitted at 100 and completed at 200 (ns), capture watching 0..10000 from the SYN. */
function evidence(over: Partial<CompletionEvidence> = {}): CompletionEvidence {
  return {
    offsetStart: 1000,
    offsetEnd: 2000,
    submittedNs: 100,
    completedNs: 200,
    flowFound: true,
    offsetsAligned: true,
    firstWire: null,
    lastWire: null,
    ackNs: null,
    sackNs: null,
    retransmitted: false,
    coverage: { dataLowOff: 0, dataLowNs: 0, ackLowOff: -1, ackLowNs: 0 },
    captureStartNs: 0,
    captureEndNs: 10_000,
    captureRunning: false,
    kernelDrops: 0,
    clockUncertaintyNs: 0,
    nearMarginNs: 5,
    tcpInfo: null,
    ...over,
  };
}

test('stages from exact observations', () => {
  const queued = classifyCompletion(evidence({ firstWire: { tsNs: 300, seqOff: 1000 }, lastWire: { tsNs: 300, seqOff: 1000 }, ackNs: 400 }));
  assert.equal(queued.stage, 'queued');
  assert.equal(queued.decidingEvent, 'first-wire');
  assert.equal(queued.decidingGapNs, 100);
  assert.equal(queued.lastWireMinusCompleteNs, 100);
  assert.equal(queued.ackedMinusCompleteNs, 200);

  const partial = classifyCompletion(evidence({ firstWire: { tsNs: 150, seqOff: 500 }, lastWire: { tsNs: 260, seqOff: 1500 }, ackNs: 400 }));
  assert.equal(partial.stage, 'partial-wire');
  assert.equal(partial.firstWireNs, 150);
  assert.equal(partial.decidingGapNs, 50);

  const wire = classifyCompletion(evidence({ firstWire: { tsNs: 150, seqOff: 1000 }, lastWire: { tsNs: 198, seqOff: 1000 }, ackNs: 400 }));
  assert.equal(wire.stage, 'wire');
  assert.equal(wire.decidingGapNs, 2);
  assert.equal(wire.decidingEvent, 'last-wire');
  assert.equal(wire.nearBoundary, true, 'gap 2 ns is below the 5 ns margin');

  const acked = classifyCompletion(evidence({ firstWire: { tsNs: 120, seqOff: 1000 }, lastWire: { tsNs: 120, seqOff: 1000 }, ackNs: 200 }));
  assert.equal(acked.stage, 'acked', 'an ACK stamped at the completion instant counts');
  assert.equal(acked.ackedMinusCompleteNs, 0);
  assert.equal(acked.submitToCompleteNs, 100);
});

test('unknown, with the reason the capture cannot tell', () => {
  assert.equal(classifyCompletion(evidence({ flowFound: false })).reason, 'flow-not-found');
  assert.equal(classifyCompletion(evidence({ flowFound: false, captureStartNs: 500 })).reason, 'capture-started-after');
  assert.equal(classifyCompletion(evidence({ flowFound: false, captureEndNs: 50 })).reason, 'capture-stopped-before');
  assert.equal(classifyCompletion(evidence({ offsetsAligned: false })).reason, 'capture-started-after');

  // the last byte was never seen but a later frame was: sent at some unknown time before 300
  const hole = classifyCompletion(evidence({ firstWire: { tsNs: 150, seqOff: 1000 }, lastWire: { tsNs: 300, seqOff: 2500 } }));
  assert.deepEqual([hole.stage, hole.reason], ['unknown', 'bytes-not-captured']);
  assert.equal(hole.lastWireNs, null, 'a bound is not an observation');
  // ... but if that later frame was before the completion, the bytes had certainly left
  const holeBefore = classifyCompletion(evidence({ firstWire: { tsNs: 150, seqOff: 1000 }, lastWire: { tsNs: 190, seqOff: 2500 }, ackNs: 900 }));
  assert.equal(holeBefore.stage, 'wire');

  // capture stopped at 150: bytes seen leaving, no ACK before the stop, completion at 200
  const stopped = classifyCompletion(evidence({ captureEndNs: 150, firstWire: { tsNs: 120, seqOff: 1000 }, lastWire: { tsNs: 130, seqOff: 1000 } }));
  assert.deepEqual([stopped.stage, stopped.reason], ['unknown', 'capture-stopped-before']);
  // capture still running at completion and nothing seen: queued
  assert.equal(classifyCompletion(evidence()).stage, 'queued');

  // drops: "not seen yet" proves nothing, an ACK seen before completion still does
  const dropped = evidence({ kernelDrops: 3, firstWire: { tsNs: 120, seqOff: 1000 }, lastWire: { tsNs: 130, seqOff: 1000 }, ackNs: 400 });
  assert.deepEqual([classifyCompletion(dropped).stage, classifyCompletion(dropped).reason], ['unknown', 'kernel-drops']);
  assert.equal(classifyCompletion({ ...dropped, ackNs: 150 }).stage, 'acked');
});

test('mid-stream capture: bytes before the first data frame are bounded, not observed', () => {
  const coverage = { dataLowOff: 1500, dataLowNs: 160, ackLowOff: 1500, ackLowNs: 170 };
  // the write's first half left before the capture's first frame (at 160), its end in that frame
  const before = classifyCompletion(evidence({ coverage, completedNs: 150, lastWire: { tsNs: 160, seqOff: 1500 }, firstWire: { tsNs: 160, seqOff: 1500 }, ackNs: 400 }));
  assert.deepEqual([before.stage, before.reason], ['unknown', 'capture-started-after']);
  const after = classifyCompletion(evidence({ coverage, completedNs: 165, lastWire: { tsNs: 160, seqOff: 1500 }, firstWire: { tsNs: 160, seqOff: 1500 }, ackNs: 400 }));
  assert.equal(after.stage, 'wire');
  assert.equal(after.firstWireNs, null);
  assert.equal(after.lastWireNs, 160);
  // a write wholly before the capture, its ACK being the first the capture saw
  const old = classifyCompletion(
    evidence({ coverage, offsetStart: 0, offsetEnd: 1000, completedNs: 165, firstWire: { tsNs: 160, seqOff: 1500 }, lastWire: { tsNs: 160, seqOff: 1500 }, ackNs: 170 }),
  );
  assert.deepEqual([old.stage, old.reason], ['unknown', 'capture-started-after']);
  assert.equal(classifyCompletion(evidence({ coverage, offsetStart: 0, offsetEnd: 1000, completedNs: 175, ackNs: 170, firstWire: { tsNs: 160, seqOff: 1500 }, lastWire: { tsNs: 160, seqOff: 1500 } })).stage, 'acked');
});

test('an empty write stands where the byte before it stands', () => {
  const seen = { firstWire: { tsNs: 150, seqOff: 1000 }, lastWire: { tsNs: 150, seqOff: 1000 } };
  const empty = { offsetStart: 2000, offsetEnd: 2000 };
  assert.equal(classifyCompletion(evidence({ ...empty, ...seen, ackNs: 400 })).stage, 'wire');
  assert.equal(classifyCompletion(evidence({ ...empty, ...seen, ackNs: 180 })).stage, 'acked');
  assert.equal(classifyCompletion(evidence({ ...empty, firstWire: { tsNs: 300, seqOff: 1500 }, lastWire: { tsNs: 300, seqOff: 1500 } })).stage, 'queued');
  // at the start of the stream nothing stands for it: no evidence, so no stage (it was 'acked')
  const atZero = classifyCompletion(evidence({ offsetStart: 0, offsetEnd: 0 }));
  assert.deepEqual([atZero.stage, atZero.reason], ['unknown', 'no-bytes']);
});

test('while the capture runs, what it has not seen yet is capture-running, not capture-stopped-before', () => {
  // the write completed after the last frame seen so far; none of its bytes seen yet
  const late = { submittedNs: 20_000, completedNs: 20_100 };
  const stopped = classifyCompletion(evidence({ ...late }));
  assert.deepEqual([stopped.stage, stopped.reason], ['unknown', 'capture-stopped-before']);
  const running = classifyCompletion(evidence({ ...late, captureRunning: true }));
  assert.deepEqual([running.stage, running.reason], ['unknown', 'capture-running']);
  const noFlow = classifyCompletion(evidence({ ...late, flowFound: false, captureRunning: true }));
  assert.equal(noFlow.reason, 'capture-running');
});

test('clock uncertainty larger than the deciding gap marks the stage uncertain', () => {
  const ev = evidence({ firstWire: { tsNs: 150, seqOff: 1000 }, lastWire: { tsNs: 180, seqOff: 1000 }, ackNs: 260 });
  assert.equal(classifyCompletion(ev).uncertain, false);
  const unsure = classifyCompletion({ ...ev, clockUncertaintyNs: 30 });
  assert.equal(unsure.stage, 'wire');
  assert.equal(unsure.decidingGapNs, 20);
  assert.equal(unsure.uncertain, true);
  assert.equal(classifyCompletion({ ...ev, clockUncertaintyNs: 20 }).uncertain, false, 'equal is not larger');
});

test('SACK is reported only when earlier than the cumulative ACK', () => {
  const ev = evidence({ firstWire: { tsNs: 120, seqOff: 1000 }, lastWire: { tsNs: 120, seqOff: 1000 }, ackNs: 400, sackNs: 180 });
  assert.equal(classifyCompletion(ev).sackedNs, 180);
  assert.equal(classifyCompletion(ev).stage, 'wire', 'a SACK is not a cumulative ACK');
  assert.equal(classifyCompletion({ ...ev, sackNs: 450 }).sackedNs, null);
});

test('TCP info stage and agreement', () => {
  assert.equal(tcpInfoStage(1000, 2000, { bytesSent: 2000, bytesAcked: 2000 }), 'acked');
  assert.equal(tcpInfoStage(1000, 2000, { bytesSent: 2000, bytesAcked: 1999 }), 'wire');
  assert.equal(tcpInfoStage(1000, 2000, { bytesSent: 1500, bytesAcked: 0 }), 'partial-wire');
  assert.equal(tcpInfoStage(1000, 2000, { bytesSent: 1000, bytesAcked: 0 }), 'queued');
  const seen = { firstWire: { tsNs: 150, seqOff: 1000 }, lastWire: { tsNs: 180, seqOff: 1000 }, ackNs: 260 };
  const agree = classifyCompletion(evidence({ ...seen, tcpInfo: { bytesSent: 2000, bytesAcked: 1000 } }));
  assert.deepEqual([agree.tcpInfoStage, agree.tcpInfoAgrees], ['wire', true]);
  const disagree = classifyCompletion(evidence({ ...seen, tcpInfo: { bytesSent: 2000, bytesAcked: 2000 } }));
  assert.deepEqual([disagree.stage, disagree.tcpInfoStage, disagree.tcpInfoAgrees], ['wire', 'acked', false]);
  assert.equal(classifyCompletion(evidence({ flowFound: false, tcpInfo: { bytesSent: 0, bytesAcked: 0 } })).tcpInfoAgrees, null);
});

test('percentiles by nearest rank', () => {
  assert.equal(nearestRank([], 50), null);
  const values = Array.from({ length: 100 }, (_, i) => 100 - i);
  const s = spread(values);
  assert.deepEqual([s.count, s.p50, s.p90, s.p99, s.max], [100, 50, 90, 99, 100]);
  assert.deepEqual(spread([-5]), { count: 1, p50: -5, p90: -5, p99: -5, max: -5 });
});

test('flow matching: either orientation, address spellings, port reuse by time', () => {
  assert.equal(canonicalAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalAddress('0:0:0:0:0:0:0:1'), '::1');
  assert.equal(canonicalAddress('FE80::0001'), 'fe80::1');
  const index = new FlowIndex([
    { id: 1, aAddr: '10.0.0.1', aPort: 4000, bAddr: '10.0.0.2', bPort: 80, firstNs: 0, lastNs: 100 },
    { id: 2, aAddr: '10.0.0.2', aPort: 80, bAddr: '10.0.0.1', bPort: 4000, firstNs: 1000, lastNs: 1100 },
    { id: 3, aAddr: '::1', aPort: 5000, bAddr: '::1', bPort: 7000, firstNs: 0, lastNs: 100 },
  ]);
  const e = { srcAddr: '10.0.0.1', srcPort: 4000, dstAddr: '10.0.0.2', dstPort: 80 };
  assert.deepEqual([index.match(e, 50, 60)?.flow.id, index.match(e, 50, 60)?.dataDir], [1, 0]);
  assert.deepEqual([index.match(e, 1050, 1060)?.flow.id, index.match(e, 1050, 1060)?.dataDir], [2, 1]);
  assert.equal(index.match(e, 500, 1010)?.flow.id, 2, 'latest connection begun before the completion');
  assert.equal(index.match({ srcAddr: '::ffff:10.0.0.2', srcPort: 80, dstAddr: '10.0.0.1', dstPort: 4000 }, 50, 60)?.dataDir, 1);
  assert.equal(index.match({ srcAddr: '0::1', srcPort: 7000, dstAddr: '::1', dstPort: 5000 }, 5, 6)?.dataDir, 1);
  assert.equal(index.match({ ...e, dstPort: 81 }, 50, 60), null);
});

test('partial completions: count and examples', () => {
  const rows = [
    { writeId: 0, offsetStart: 0, offsetEnd: 100, bytesReported: 100, status: 'ok' },
    { writeId: 1, offsetStart: 100, offsetEnd: 200, bytesReported: 40, status: 'ok' },
    { writeId: 2, offsetStart: 200, offsetEnd: 300, bytesReported: 0, status: 'EPIPE' },
  ];
  const r = partialCompletions(rows, 1);
  assert.deepEqual([r.verdict, r.completions, r.partial], ['found', 3, 2]);
  assert.deepEqual(r.examples, [{ writeId: 1, length: 100, bytesReported: 40, status: 'ok' }]);
  assert.equal(partialCompletions(rows.slice(0, 1)).verdict, 'none');
});

test('listing: sort with nulls last, cursor pages cover every record once', () => {
  const base = classifyCompletion(evidence());
  const records = [5, null, 3, 3, null, 9, 1].map((gap, i) => ({
    ...base,
    decidingGapNs: gap,
    completionId: i + 1,
    flowId: 1,
    dataDir: 0 as const,
    srcAddr: 'a', srcPort: 1, dstAddr: 'b', dstPort: 2,
    writeId: i, api: 'x', status: 'ok', buffers: 1, offsetStart: 0, offsetEnd: 1, bytesReported: 1,
    submittedNs: 0, completedNs: i, tcpBytesSent: null, tcpBytesAcked: null,
    ...NO_KERNEL_WITNESS,
    ...ONE_HOST_CLOCK,
  }));
  for (const order of ['asc', 'desc'] as const) {
    const sorted = sortRecords(records, 'decidingGap', order);
    const ids: number[] = [];
    let after = null;
    do {
      const p = page(sorted, 'decidingGap', order, 2, after);
      ids.push(...p.items.map((r) => r.completionId));
      after = p.next ? decodeCursor(encodeCursor(p.next)) : null;
    } while (after);
    assert.deepEqual(ids, order === 'asc' ? [7, 3, 4, 1, 6, 2, 5] : [6, 1, 3, 4, 7, 2, 5]);
  }
  assert.equal(decodeCursor('not-a-cursor'), null);
});

test('csv quoting', () => {
  assert.equal(csvLine(['a', 'b,c', 'say "hi"', null, 3, true]), 'a,"b,c","say ""hi""",,3,true\r\n');
});

test('issue 12 counter-example: a drop turns the ACK into a window, and the window still carries the doubt', () => {
  // pcap_dropped=1, clock uncertainty 1 ms, the covering ACK 100 ns before the completion
  const seen = { completedNs: 1000, firstWire: { tsNs: 120, seqOff: 1000 }, lastWire: { tsNs: 120, seqOff: 1000 }, ackNs: 900 };
  const withoutDrop = classifyCompletion(evidence({ ...seen, clockUncertaintyNs: 1_000_000 }));
  assert.deepEqual([withoutDrop.stage, withoutDrop.decidingGapNs, withoutDrop.uncertain], ['acked', 100, true]);
  const withDrop = classifyCompletion(evidence({ ...seen, clockUncertaintyNs: 1_000_000, kernelDrops: 1 }));
  assert.equal(withDrop.stage, 'acked', 'an ACK seen before the completion holds whatever was dropped');
  assert.equal(withDrop.ackedNs, null, 'an earlier ACK may have been dropped: not an exact observation');
  assert.equal(withDrop.decidingEvent, 'ack');
  assert.equal(withDrop.decidingGapNs, 100, 'measured to the window edge nearest the completion');
  assert.equal(withDrop.uncertain, true);
  assert.equal(withDrop.nearBoundary, false);
  assert.deepEqual([withDrop.decidingEarliestNs, withDrop.decidingLatestNs, withDrop.decidingDoubt], [100, 900, 'kernel-drops'],
    'the ACK happened between the send call (100) and the captured ACK (900, 100 ns before the completion)');
  assert.equal(classifyCompletion(evidence({ ...seen, kernelDrops: 1, nearMarginNs: 101 })).nearBoundary, true);
});

test('a window decides a stage only with its doubt attached (capture hole right before the completion)', () => {
  // the last byte was never captured; a later frame, 30 ns before the completion, passed it
  const hole = classifyCompletion(
    evidence({ firstWire: { tsNs: 150, seqOff: 1000 }, lastWire: { tsNs: 170, seqOff: 2500 }, ackNs: 900, clockUncertaintyNs: 50 }),
  );
  assert.equal(hole.stage, 'wire');
  assert.equal(hole.lastWireNs, null);
  assert.deepEqual([hole.decidingEvent, hole.decidingGapNs, hole.decidingEarliestNs, hole.decidingLatestNs, hole.decidingDoubt],
    ['last-wire', 30, 150, 170, 'bytes-not-captured'], 'after the first byte left (150), by the later frame (170)');
  assert.equal(hole.uncertain, true, 'a 50 ns clock error exceeds the 30 ns to the window edge');
  // exact observations carry a zero-width window and no doubt
  const exactWire = classifyCompletion(evidence({ firstWire: { tsNs: 150, seqOff: 1000 }, lastWire: { tsNs: 180, seqOff: 1000 }, ackNs: 900 }));
  assert.deepEqual([exactWire.decidingEarliestNs, exactWire.decidingLatestNs, exactWire.decidingDoubt], [180, 180, null]);
});

test('when a drop could hide the deciding event the stage is unknown (kernel-drops), with the window', () => {
  // last byte seen at 180 (before completion at 200), an ACK seen only at 400: with a drop,
  // an earlier ACK may have been lost, so "not acked yet" is not known
  const ev = evidence({ kernelDrops: 1, firstWire: { tsNs: 150, seqOff: 1000 }, lastWire: { tsNs: 180, seqOff: 1000 }, ackNs: 400 });
  const k = classifyCompletion(ev);
  assert.deepEqual([k.stage, k.reason, k.decidingEvent, k.decidingDoubt], ['unknown', 'kernel-drops', 'ack', 'kernel-drops']);
  assert.deepEqual([k.decidingEarliestNs, k.decidingLatestNs], [100, 400], 'the ACK came after the send call (100) and by 400');
  assert.equal(k.decidingGapNs, null, 'the completion lies inside the window: no gap');
});

test('mid-stream: TCP info counters are shifted into the capture\'s offsets with the write (the tag told the shift)', () => {
  // the capture began 1,000,000 sender bytes into the stream: capture offset = sender offset − 1,000,000
  const shift = 1_000_000;
  const lookup = (tsNs: number) => ({ find: () => ({ tsNs, seqOff: 0 }), queries: 0 });
  const side: FlowSide = {
    flowId: 1, dataDir: 0, ackDir: 1, shift,
    coverage: { dataLowOff: 0, dataLowNs: 50, ackLowOff: 0, ackLowNs: 60 },
    sent: lookup(150), acked: lookup(400),
    sacks: { ts: [], left: [], right: [] }, retransmits: { seq: [], len: [], maxLen: 0 },
  };
  const facts = { captureStartNs: 0, captureEndNs: 10_000, captureRunning: false, kernelDrops: 0, clockUncertaintyNs: 0, nearMarginNs: 5 };
  // write [1,001,000, 1,002,000) in sender offsets; the kernel says all sent, none of it acked
  const ev = evidenceFor(side, 1_001_000, 1_002_000, 100, 200, 1_002_000, 1_001_000, facts);
  assert.deepEqual([ev.offsetStart, ev.offsetEnd], [1000, 2000]);
  const k = classifyCompletion(ev);
  assert.equal(k.stage, 'wire');
  assert.deepEqual([k.tcpInfoStage, k.tcpInfoAgrees], ['wire', true], 'kernel counters compared in the same offsets as the write');
});
