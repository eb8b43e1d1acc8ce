/**
 * Flow tracking on hand-built segments: handshake offsets, retransmissions, 32-bit wrap
 * past 4 GiB, port reuse, mid-stream starts, SACK blocks, write tags (also split
 * across segments), and the unwrap function alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodedFrame, decodeFrame } from '../capture/decode/frame.js';
import { encodeTag, TAG_BYTES, type WriteTag } from '../capture/decode/tag.js';
import { FlowTracker, SegmentFacts, type FlowState } from '../capture/flow/tracker.js';
import { unwrapOffset } from '../capture/flow/unwrap.js';
import { ipv4Tcp, sackOption, concat, type TcpSpec } from './helpers/packets.js';

interface TagRow {
  flow: FlowState;
  dir: number;
  off: number;
  tag: WriteTag | null;
}

function tracker(withTags = false) {
  const tags: TagRow[] = [];
  const t = new FlowTracker(withTags ? (flow, dir, off, tag) => tags.push({ flow: flow as FlowState, dir, off, tag: tag && { ...tag } }) : null);
  const decoded = new DecodedFrame();
  let ts = 1_700_000_000_000_000_000n;
  /** Tracks one segment; a→b unless `reverse`. */
  const seg = (spec: TcpSpec, reverse = false): SegmentFacts => {
    const full = reverse ? { sport: 7000, dport: 40000, src: '10.0.0.2', dst: '10.0.0.1', ...spec } : spec;
    const bytes = ipv4Tcp(full);
    const view = new DataView(bytes.buffer);
    const r = decodeFrame(101, view, 0, bytes.length, bytes.length, decoded);
    assert.equal(r, 0);
    const out = new SegmentFacts();
    t.track(decoded, view, (ts += 1000n), out);
    return out;
  };
  return { t, seg, tags };
}

const payload = (n: number, fill = 0x61) => new Uint8Array(n).fill(fill);

test('handshake, data, ACKs: offsets from ISN + 1, running maxima and their advances', () => {
  const { seg } = tracker();
  const syn = seg({ seq: 1000, flags: 'S', options: Uint8Array.of(3, 3, 7, 4, 2) });
  assert.equal(syn.newFlow, true);
  assert.equal(syn.dir, 0);
  assert.equal(syn.seqOff, 0);
  assert.ok(Number.isNaN(syn.ackOff));
  const synAck = seg({ seq: 5000, ack: 1001, flags: 'SA', options: Uint8Array.of(3, 3, 2, 4, 2) }, true);
  assert.equal(synAck.newFlow, false);
  assert.equal(synAck.dir, 1);
  assert.equal(synAck.ackOff, 0);
  assert.equal(synAck.ackAdvanced, true);
  const d1 = seg({ seq: 1001, ack: 5001, flags: 'PA', payload: payload(100), window: 10 });
  assert.equal(d1.seqOff, 0);
  assert.equal(d1.sentMax, 100);
  assert.equal(d1.sentAdvanced, true);
  assert.equal(d1.retransmit, false);
  assert.equal(d1.window, 10 * 128, 'scaled by the shift its sender announced (7) once both SYNs offered scaling');
  const d2 = seg({ seq: 1101, ack: 5001, flags: 'PA', payload: payload(50) });
  assert.equal(d2.seqOff, 100);
  assert.equal(d2.sentMax, 150);
  const ack = seg({ seq: 5001, ack: 1151, flags: 'A' }, true);
  assert.equal(ack.ackOff, 150);
  assert.equal(ack.ackedMax, 150);
  assert.equal(ack.ackAdvanced, true);
  assert.equal(ack.sentAdvanced, false);
  const dupAck = seg({ seq: 5001, ack: 1151, flags: 'A' }, true);
  assert.equal(dupAck.ackAdvanced, false);
  assert.equal(dupAck.ackedMax, 150);
  const rtx = seg({ seq: 1101, ack: 5001, flags: 'PA', payload: payload(50) });
  assert.equal(rtx.retransmit, true, 'a segment repeating sent bytes is a retransmission');
  assert.equal(rtx.sentAdvanced, false);
  assert.equal(rtx.sentMax, 150);
  const overlap = seg({ seq: 1131, ack: 5001, flags: 'PA', payload: payload(40) });
  assert.equal(overlap.retransmit, true);
  assert.equal(overlap.sentAdvanced, true, 'its new tail is still a first transmission');
  assert.equal(overlap.sentMax, 170);
  const fin = seg({ seq: 1171, ack: 5001, flags: 'FA' });
  assert.equal(fin.sentMax, 170, 'a FIN adds no stream byte');
  const finAck = seg({ seq: 5001, ack: 1172, flags: 'FA' }, true);
  assert.equal(finAck.ackOff, 171);
  const flow = finAck.flow!;
  assert.equal(flow.retransmits, 2);
  assert.equal(flow.closed, true);
  assert.deepEqual(flow.sentMax, [170, 0]);
  assert.equal(flow.sackPermitted, true);
});

test('sequence numbers wrap: offsets keep growing past 4 GiB (payload length from IP headers)', () => {
  const { seg } = tracker();
  const isn = 0xffff_ff00;
  seg({ seq: isn, flags: 'S' });
  seg({ seq: 77, ack: isn + 1, flags: 'SA' }, true);
  const segmentBytes = 65000;
  const total = 4.5 * 2 ** 30;
  let off = 0;
  let last: SegmentFacts | null = null;
  for (; off + segmentBytes <= total; off += segmentBytes) {
    // headers only in the capture: the IP header claims the payload
    last = seg({ seq: (isn + 1 + off) >>> 0, ack: 78, flags: 'A', claimedPayload: segmentBytes });
    assert.equal(last.retransmit, false);
  }
  assert.ok(off > 2 ** 32);
  assert.equal(last!.seqOff, off - segmentBytes);
  assert.equal(last!.sentMax, off);
  const ack = seg({ seq: 78, ack: (isn + 1 + off) >>> 0, flags: 'A' }, true);
  assert.equal(ack.ackOff, off);
  const rtx = seg({ seq: (isn + 1 + off - segmentBytes) >>> 0, ack: 78, flags: 'A', claimedPayload: segmentBytes });
  assert.equal(rtx.retransmit, true);
  assert.equal(rtx.seqOff, off - segmentBytes);
});

test('unwrapOffset picks the candidate nearest the reference', () => {
  assert.equal(unwrapOffset(10, 0, 0), 10);
  assert.equal(unwrapOffset(5, 10, 0), -5);
  assert.equal(unwrapOffset(0x10, 0xfffffff0, 0), 0x20);
  assert.equal(unwrapOffset(100, 0, 2 ** 32 + 50), 2 ** 32 + 100);
  assert.equal(unwrapOffset(0xffffff00, 0, 2 ** 33 + 10), 2 ** 33 - 256);
});

test('a new SYN with another ISN on a reused 4-tuple is a new flow; a repeated SYN is a retransmission', () => {
  const { seg } = tracker();
  const first = seg({ seq: 1000, flags: 'S' });
  const again = seg({ seq: 1000, flags: 'S' });
  assert.equal(again.newFlow, false);
  assert.equal(again.retransmit, true);
  seg({ seq: 9000, ack: 1001, flags: 'SA' }, true);
  seg({ seq: 1001, ack: 9001, flags: 'FA' });
  const reused = seg({ seq: 777777, flags: 'S' });
  assert.equal(reused.newFlow, true);
  assert.notEqual(reused.flow, first.flow);
  const synAck = seg({ seq: 1, ack: 777778, flags: 'SA' }, true);
  assert.equal(synAck.flow, reused.flow, 'later segments go to the newest flow of the 4-tuple');
});

test('a flow whose handshake was not captured counts from the first sequence number seen', () => {
  const { seg } = tracker();
  const d = seg({ seq: 123456, ack: 999, flags: 'PA', payload: payload(10) });
  assert.equal(d.newFlow, true);
  assert.equal(d.seqOff, 0);
  assert.equal(d.ackOff, 0, 'the other direction counts from the first ACK seen');
  const flow = d.flow!;
  assert.deepEqual(flow.synSeen, [false, false]);
  assert.equal(flow.isn[0], 123455);
  const reply = seg({ seq: 999, ack: 123466, flags: 'PA', payload: payload(5) }, true);
  assert.equal(reply.seqOff, 0);
  assert.equal(reply.ackOff, 10);
});

test('a SYN-ACK seen without its SYN makes its receiver side a', () => {
  const { seg } = tracker();
  const sa = seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  assert.equal(sa.dir, 1);
  assert.equal(sa.flow!.aPort, 40000);
  assert.equal(sa.flow!.isn[0], 1000, 'the ACK gives a’s ISN');
  const d = seg({ seq: 1001, ack: 5001, flags: 'PA', payload: payload(3) });
  assert.equal(d.dir, 0);
  assert.equal(d.seqOff, 0);
});

test('SACK blocks become offsets of the acknowledged direction', () => {
  const { seg } = tracker();
  seg({ seq: 1000, flags: 'S' });
  seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  seg({ seq: 1001, ack: 5001, flags: 'A', payload: payload(300) });
  const sack = seg({ seq: 5001, ack: 1101, flags: 'A', options: concat(Uint8Array.of(1, 1), sackOption([[1201, 1301], [1151, 1181]])) }, true);
  assert.equal(sack.sackCount, 2);
  assert.deepEqual([...sack.sackLeftOff.subarray(0, 2)], [200, 150]);
  assert.deepEqual([...sack.sackRightOff.subarray(0, 2)], [300, 180]);
  assert.equal(sack.ackOff, 100);
});

function tagged(writeId: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length).fill(0x2e);
  encodeTag(out, 0, { writeId, offset, length });
  return out;
}

test('write tags: found in order, split across two segments, a missing header recorded once', () => {
  const { seg, tags } = tracker(true);
  seg({ seq: 1000, flags: 'S' });
  seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  const stream = concat(tagged(0, 0, 100), tagged(1, 100, 60), tagged(2, 160, 40), new Uint8Array(50).fill(0x41));
  // segment 1: write 0 and the first 10 bytes of write 1's header
  seg({ seq: 1001, ack: 5001, flags: 'A', payload: stream.subarray(0, 110) });
  // a retransmission of segment 1 changes nothing
  seg({ seq: 1001, ack: 5001, flags: 'A', payload: stream.subarray(0, 110) });
  // segment 2: the rest of write 1 and all of write 2 (two headers in one segment), then untagged bytes
  seg({ seq: 1111, ack: 5001, flags: 'A', payload: stream.subarray(110) });
  assert.deepEqual(
    tags.map((t) => [t.dir, t.off, t.tag?.writeId ?? null, t.tag?.offset ?? null, t.tag?.length ?? null]),
    [
      [0, 0, 0, 0, 100],
      [0, 100, 1, 100, 60],
      [0, 160, 2, 160, 40],
      [0, 200, null, null, null],
    ],
  );
  assert.equal(TAG_BYTES, 24);
});

test('write tags across reordered segments: the walk goes on past a gap, and the headers in the gap are read when its bytes arrive', () => {
  const { seg, tags } = tracker(true);
  seg({ seq: 1000, flags: 'S' });
  seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  const stream = concat(tagged(0, 0, 100), tagged(1, 100, 100), tagged(2, 200, 100), tagged(3, 300, 100));
  seg({ seq: 1001, ack: 5001, flags: 'A', payload: stream.subarray(0, 100) }); // write 0
  seg({ seq: 1201, ack: 5001, flags: 'A', payload: stream.subarray(200, 400) }); // writes 2 and 3, before write 1
  seg({ seq: 1101, ack: 5001, flags: 'A', payload: stream.subarray(100, 200) }); // write 1, late
  const found = tags.map((t) => [t.off, t.tag?.writeId ?? null]).sort((a, b) => (a[0] as number) - (b[0] as number));
  assert.deepEqual(found, [[0, 0], [100, 1], [200, 2], [300, 3]], 'every header once, none recorded as missing');
});

test('an untagged direction records no tag rows', () => {
  const { seg, tags } = tracker(true);
  seg({ seq: 1000, flags: 'S' });
  seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  seg({ seq: 1001, ack: 5001, flags: 'A', payload: payload(500) });
  seg({ seq: 5001, ack: 1501, flags: 'A', payload: payload(30) }, true);
  assert.deepEqual(tags, []);
});

test('closed flows are forgotten a while after their last segment; open ones are kept', () => {
  const t = new FlowTracker(null);
  const decoded = new DecodedFrame();
  const out = new SegmentFacts();
  const feed = (spec: TcpSpec, tsNs: bigint) => {
    const bytes = ipv4Tcp(spec);
    const view = new DataView(bytes.buffer);
    assert.equal(decodeFrame(101, view, 0, bytes.length, bytes.length, decoded), 0);
    t.track(decoded, view, tsNs, out);
  };
  feed({ sport: 1, seq: 10, flags: 'S' }, 0n);
  feed({ sport: 1, seq: 11, flags: 'FA', ack: 5 }, 1n);
  feed({ sport: 2, seq: 10, flags: 'S' }, 2n);
  assert.equal(t.flowCount, 2);
  // two minutes later, a sweep's worth of frames of the open flow
  for (let i = 0; i < 65536; i++) feed({ sport: 2, seq: 11 + i, flags: 'A', ack: 1 }, 200_000_000_000n + BigInt(i));
  assert.equal(t.flowCount, 1);
  feed({ sport: 1, seq: 12, flags: 'A', ack: 5 }, 300_000_000_000n);
  assert.equal(out.newFlow, true, 'a late segment of a forgotten flow starts a new one');
});

test('one forged RST far ahead does not move later offsets by 2^32', () => {
  const { seg } = tracker();
  seg({ seq: 1000, flags: 'S' });
  seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  seg({ seq: 1001, ack: 5001, flags: 'A', payload: payload(100) });
  const rst = seg({ seq: 1001 + 2 ** 31 - 10, flags: 'R' });
  assert.equal(rst.seqOff, 2 ** 31 - 10);
  seg({ seq: (1001 + 2 ** 32 - 20) >>> 0, flags: 'R' }); // had the first moved the reference, this one would too
  const next = seg({ seq: 1101, ack: 5001, flags: 'A', payload: payload(100) });
  assert.equal(next.seqOff, 100);
  assert.equal(next.retransmit, false);
});
