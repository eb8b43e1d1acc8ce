import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kernelStage, ladderStage, type KernelMoments } from '../correlate/ladder.js';

// Moments of one write's last byte, µs-scale numbers as in KERNEL-TRACE's veth+tbf table
// (qdisc in 103, out 374, driver 375, ACK arrived 391, processed 393).
const k: KernelMoments = { qdiscInNs: 103, qdiscOutNs: 374, driverNs: 375, ackArrivedNs: 391, ackProcessedNs: 393, retransmitted: false };

test('kernel stage at each point of the ladder', () => {
  assert.equal(kernelStage(50, k), 'socket');
  assert.equal(kernelStage(103, k), 'qdisc');
  assert.equal(kernelStage(374, k), 'qdisc');
  assert.equal(kernelStage(375, k), 'wire');
  assert.equal(kernelStage(391, k), 'acked');
});

test('a missing moment is never invented: no qdisc entry seen, nothing before the completion → no kernel stage', () => {
  assert.equal(kernelStage(50, { ...k, qdiscInNs: null }), null);
  // the driver moment alone still proves the byte had left
  assert.equal(kernelStage(380, { ...k, qdiscInNs: null }), 'wire');
});

test('capture `queued` is told apart into socket and qdisc; the capture still decides wire and acked', () => {
  assert.equal(ladderStage('queued', 50, null, null, k).stage, 'socket');
  assert.equal(ladderStage('queued', 200, null, null, k).stage, 'qdisc');
  assert.equal(ladderStage('queued', 200, null, null, k).decidedBy, 'both');
  // disagreement (kernel: wire; capture: queued): the capture's stage stays, the difference is shown
  const r = ladderStage('queued', 380, 376, null, k);
  assert.equal(r.stage, 'queued');
  assert.equal(r.kernelStage, 'wire');
  assert.equal(r.driverMinusWireNs, -1);
  assert.equal(ladderStage('wire', 380, 376, 392, k).stage, 'wire');
});

test('where the capture cannot tell, the kernel witness decides alone', () => {
  const r = ladderStage('unknown', 392, null, null, k);
  assert.equal(r.stage, 'acked');
  assert.equal(r.decidedBy, 'kernel');
  assert.equal(ladderStage('unknown', 392, null, null, null).stage, 'unknown');
});
