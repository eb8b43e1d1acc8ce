import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockErrorBetween } from '../correlate/host-clocks.js';
import { classifyCompletion } from '../correlate/classify.js';
import { summarise } from '../correlate/summary.js';
import { SessionSummaryFold } from '../correlate/summary-stream.js';
import { NO_KERNEL_WITNESS } from '../correlate/ladder.js';
import { ONE_HOST_CLOCK } from '../correlate/host-clocks.js';
import type { CompletionEvidence, CorrelationRecord } from '../correlate/types.js';

const claimed = new Map([
  ['host-a', 40_000],
  ['host-b', 250_000],
  ['host-c', 0],
]);

test('clock error between hosts: same host or a store without hosts keeps the session uncertainty; two hosts add both claims', () => {
  // one host: what the session states, whatever the host claims
  assert.deepEqual(clockErrorBetween(1000, 'host-a', 'host-a', claimed), { clockErrorNs: 1000, crossHost: false });
  assert.deepEqual(clockErrorBetween(0, 'host-b', 'host-b', claimed), { clockErrorNs: 0, crossHost: false });
  // SQLite keeps no host: never across hosts
  assert.deepEqual(clockErrorBetween(7, null, 'host-a', claimed), { clockErrorNs: 7, crossHost: false });
  assert.deepEqual(clockErrorBetween(7, 'host-a', null, claimed), { clockErrorNs: 7, crossHost: false });
  // B's completion against A's frames: 1000 + 250 000 + 40 000, in either direction
  assert.deepEqual(clockErrorBetween(1000, 'host-b', 'host-a', claimed), { clockErrorNs: 291_000, crossHost: true });
  assert.deepEqual(clockErrorBetween(1000, 'host-a', 'host-b', claimed), { clockErrorNs: 291_000, crossHost: true });
  // a host that stated nothing counts 0, and the record still says it was across hosts
  assert.deepEqual(clockErrorBetween(1000, 'host-x', 'host-a', claimed), { clockErrorNs: 41_000, crossHost: true });
  assert.deepEqual(clockErrorBetween(0, 'host-x', 'host-y', claimed), { clockErrorNs: 0, crossHost: true });
  assert.deepEqual(clockErrorBetween(5, 'host-c', 'host-b', claimed), { clockErrorNs: 250_005, crossHost: true });
  // names are compared as given (two spellings are two hosts)
  assert.deepEqual(clockErrorBetween(0, 'Host-A', 'host-a', claimed), { clockErrorNs: 40_000, crossHost: true });
});

/** An acked completion: the ACK captured 290 µs before the completion at 1 000 000 ns (hand-placed, so the gap is 290 000). */
function ackedEvidence(clockUncertaintyNs: number): CompletionEvidence {
  return {
    offsetStart: 0, offsetEnd: 100, submittedNs: 500_000, completedNs: 1_000_000, flowFound: true, offsetsAligned: true,
    firstWire: { tsNs: 600_000, seqOff: 0 }, lastWire: { tsNs: 600_000, seqOff: 0 }, ackNs: 710_000, sackNs: null,
    retransmitted: false, coverage: { dataLowOff: 0, dataLowNs: 0, ackLowOff: -1, ackLowNs: 0 }, captureStartNs: 0,
    captureEndNs: 5_000_000, captureRunning: false, kernelDrops: 0, clockUncertaintyNs, nearMarginNs: 0, tcpInfo: null,
  };
}

test('a stage decided across hosts is uncertain exactly when the gap is under the summed errors (hand-computed)', () => {
  // gap 290 000 ns; B (250 000) + A (40 000) = 290 000: not under it, so certain
  const equal = classifyCompletion(ackedEvidence(clockErrorBetween(0, 'host-b', 'host-a', claimed).clockErrorNs));
  assert.equal(equal.stage, 'acked');
  assert.equal(equal.decidingGapNs, 290_000);
  assert.equal(equal.uncertain, false);
  // one more ns of the session's own uncertainty: 290 001 > 290 000
  assert.equal(classifyCompletion(ackedEvidence(clockErrorBetween(1, 'host-b', 'host-a', claimed).clockErrorNs)).uncertain, true);
  // the same completion on one host: only the session's 1 ns
  assert.equal(classifyCompletion(ackedEvidence(clockErrorBetween(1, 'host-a', 'host-a', claimed).clockErrorNs)).uncertain, false);
});

test('the summary counts records decided across hosts, and the uncertain ones among them', () => {
  const base: CorrelationRecord = {
    ...classifyCompletion(ackedEvidence(0)), ...NO_KERNEL_WITNESS, ...ONE_HOST_CLOCK,
    completionId: 1, flowId: 1, dataDir: 0, srcAddr: 'a', srcPort: 1, dstAddr: 'b', dstPort: 2, writeId: 0, api: 'x', status: 'ok',
    buffers: 1, offsetStart: 0, offsetEnd: 100, bytesReported: 100, submittedNs: 500_000, completedNs: 1_000_000, tcpBytesSent: null, tcpBytesAcked: null,
  };
  const cross = { crossHost: true, completionHost: 'host-b', captureHost: 'host-a' };
  const records: CorrelationRecord[] = [
    { ...base, completionId: 1 },
    { ...base, completionId: 2, ...cross, clockErrorNs: 290_000 },
    { ...base, completionId: 3, ...cross, clockErrorNs: 290_001, uncertain: true },
    { ...base, completionId: 4, clockErrorNs: 300_000, uncertain: true },
  ];
  const exact = summarise(records);
  assert.equal(exact.crossHost, 2);
  assert.equal(exact.crossHostUncertain, 1);
  assert.equal(exact.uncertain, 2);
  const fold = new SessionSummaryFold();
  for (const r of records) fold.add(r);
  const streamed = fold.summary([], []);
  assert.equal(streamed.overall.crossHost, 2);
  assert.equal(streamed.overall.crossHostUncertain, 1);
});
