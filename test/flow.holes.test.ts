/**
 * Reordered segments in the flow tracker: bytes never seen before are a first
 * transmission wherever they fall (a hole below the highest byte seen is filled, not
 * retransmitted), only bytes seen before count as retransmitted, and the hole list is
 * bounded with its overflow counted. Expected values are the byte ranges the test put on
 * the wire, in the order it put them there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_HOLES_PER_DIRECTION, SegmentFacts } from '../capture/flow/tracker.js';
import { trackerHarness } from './helpers/tracker.js';

const ISN = 1000;

function tracker() {
  const { t, seg } = trackerHarness();
  /** Stream bytes [from, to) of side a, after a handshake. */
  const data = (from: number, to: number) =>
    seg({ seq: (ISN + 1 + from) >>> 0, ack: 5001, flags: 'A', claimedPayload: to - from });
  seg({ seq: ISN, flags: 'S' });
  seg({ seq: 5000, ack: ISN + 1, flags: 'SA' }, true);
  return { t, seg, data };
}

/** The hole portions a segment filled, as [start, end) pairs. */
const fills = (f: SegmentFacts) => Array.from({ length: f.fill.count }, (_, i) => [f.fill.start[i], f.fill.end[i]]);
const retransmitted = (f: SegmentFacts) => (f.retransmit ? [f.retransmitStart, f.retransmitEnd] : null);

test('a segment that arrives after a later one fills the hole: a first transmission, not a retransmission', () => {
  const { data } = tracker();
  const later = data(100, 200);
  assert.equal(later.sentAdvanced, true);
  assert.equal(later.sentMax, 200);
  const earlier = data(0, 100);
  assert.equal(earlier.retransmit, false, 'bytes [0, 100) were never seen before');
  assert.deepEqual(fills(earlier), [[0, 100]]);
  assert.equal(earlier.sentAdvanced, false, 'the running maximum stays 200');
  const again = data(0, 100);
  assert.equal(again.retransmit, true, 'now they were');
  assert.deepEqual(retransmitted(again), [0, 100]);
  assert.deepEqual(fills(again), []);
  assert.equal(again.flow!.retransmits, 1);
});

test('a hole filled piece by piece, and one segment spanning seen bytes and two holes', () => {
  const { data } = tracker();
  data(0, 100);
  data(200, 300); // hole [100, 200)
  data(400, 500); // hole [300, 400)
  const middle = data(150, 170);
  assert.equal(middle.retransmit, false);
  assert.deepEqual(fills(middle), [[150, 170]]);
  // [120, 420): fills [120, 150), [170, 200), [300, 400); bytes [150, 170), [200, 300) and [400, 420) were seen
  const wide = data(120, 420);
  assert.deepEqual(fills(wide), [[120, 150], [170, 200], [300, 400]]);
  assert.equal(wide.retransmit, true);
  assert.deepEqual(retransmitted(wide), [150, 420], 'from the first to the last byte seen before');
  const first = data(100, 120);
  assert.deepEqual(fills(first), [[100, 120]]);
  assert.equal(first.retransmit, false);
  assert.equal(data(0, 500).retransmit, true, 'every byte is known now');
});

test('only the bytes sent before count as retransmitted when a segment overlaps the highest byte sent', () => {
  const { data } = tracker();
  data(0, 100);
  const overlap = data(90, 110);
  assert.equal(overlap.retransmit, true);
  assert.deepEqual(retransmitted(overlap), [90, 100]);
  assert.equal(overlap.sentAdvanced, true);
  assert.equal(overlap.sentMax, 110);
});

test('the hole list is bounded: the oldest hole is forgotten and counted', () => {
  const { t, data } = tracker();
  // holes [100k + 50, 100k + 100) for k = 0 … MAX + 1
  for (let k = 0; k <= MAX_HOLES_PER_DIRECTION + 2; k++) data(100 * k, 100 * k + 50);
  assert.equal(t.holesForgotten, 2);
  const oldest = data(50, 100);
  assert.equal(oldest.retransmit, true, 'a forgotten hole reads as bytes seen before (as without hole tracking)');
  const kept = data(250, 300);
  assert.equal(kept.retransmit, false);
  assert.deepEqual(fills(kept), [[250, 300]]);
});
