/**
 * What the flow tracker must not believe: a SYN-ACK of a new connection on a reused
 * 4-tuple (its SYN missed) is not the old flow; an ACK beyond every byte the other side
 * was seen sending does not acknowledge anything; an RST carrying payload does not move
 * the stream. Expected values are the segments the test put on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trackerHarness } from './helpers/tracker.js';

const tracker = () => trackerHarness();

const payload = (n: number) => new Uint8Array(n).fill(0x61);

test('a SYN-ACK with a new ISN on a reused 4-tuple starts a new flow though its SYN was missed', () => {
  const { seg } = tracker();
  const old = seg({ seq: 1000, flags: 'S' }).flow;
  seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  seg({ seq: 1001, ack: 5001, flags: 'PA', payload: payload(100) });
  seg({ seq: 5001, ack: 1101, flags: 'FA' }, true);
  seg({ seq: 1101, ack: 5002, flags: 'FA' });
  // the next connection on the same ports: the capture missed its SYN
  const synAck = seg({ seq: 90000, ack: 777778, flags: 'SA' }, true);
  assert.equal(synAck.newFlow, true);
  assert.notEqual(synAck.flow, old);
  assert.equal(synAck.flow!.aPort, 40000, 'the SYN-ACK’s receiver connected');
  const data = seg({ seq: 777778, ack: 90001, flags: 'PA', payload: payload(10) });
  assert.equal(data.flow, synAck.flow);
  assert.equal(data.seqOff, 0, 'offsets of the new connection');
  assert.equal(data.retransmit, false);
});

test('a SYN-ACK on a reused 4-tuple whose old flow never closed (FIN missed) is a new flow too; a repeated one is not', () => {
  const { seg } = tracker();
  const old = seg({ seq: 1000, flags: 'S' }).flow;
  const first = seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  assert.equal(first.flow, old);
  const again = seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  assert.equal(again.flow, old, 'a retransmitted SYN-ACK');
  assert.equal(again.retransmit, true);
  seg({ seq: 5001, ack: 1001, flags: 'PA', payload: payload(50) }, true);
  const next = seg({ seq: 123, ack: 4444, flags: 'SA' }, true);
  assert.equal(next.newFlow, true);
});

test('a SYN-ACK acknowledging the data of a Fast Open SYN belongs to that SYN’s flow', () => {
  const { seg } = tracker();
  const syn = seg({ seq: 1000, flags: 'S', payload: payload(30) });
  assert.equal(syn.sentMax, 30);
  const synAck = seg({ seq: 5000, ack: 1031, flags: 'SA' }, true);
  assert.equal(synAck.flow, syn.flow);
  assert.equal(synAck.ackedMax, 30);
  const other = seg({ seq: 6000, ack: 1500, flags: 'SA' }, true);
  assert.equal(other.newFlow, true, 'one acknowledging bytes never sent is another connection');
});

test('an ACK beyond every byte the other side was seen sending is not an advance', () => {
  const { t, seg } = tracker();
  seg({ seq: 1000, flags: 'S' });
  seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  seg({ seq: 1001, ack: 5001, flags: 'PA', payload: payload(100) });
  const good = seg({ seq: 5001, ack: 1101, flags: 'A' }, true);
  assert.equal(good.ackAdvanced, true);
  assert.equal(good.ackedMax, 100);
  const wild = seg({ seq: 5001, ack: 1001 + 1_000_000, flags: 'A' }, true);
  assert.equal(wild.ackAdvanced, false, 'byte 1,000,000 was never sent');
  assert.equal(wild.ackedMax, 100);
  assert.equal(t.acksBeyondSent, 1);
  seg({ seq: 1101, ack: 5001, flags: 'PA', payload: payload(100) });
  const next = seg({ seq: 5001, ack: 1201, flags: 'A' }, true);
  assert.equal(next.ackAdvanced, true);
  assert.equal(next.ackedMax, 200);
  seg({ seq: 1201, ack: 5001, flags: 'FA' });
  assert.equal(seg({ seq: 5001, ack: 1202, flags: 'A' }, true).ackedMax, 201, 'the FIN’s sequence number may be acknowledged');
});

test('an RST carrying payload far ahead neither moves the stream nor the unwrap reference', () => {
  const { seg } = tracker();
  seg({ seq: 1000, flags: 'S' });
  seg({ seq: 5000, ack: 1001, flags: 'SA' }, true);
  seg({ seq: 1001, ack: 5001, flags: 'A', payload: payload(100) });
  const rst = seg({ seq: 1001 + 2 ** 31 - 10, flags: 'R', payload: payload(20) });
  assert.equal(rst.sentAdvanced, false, 'an RST’s payload is not stream data');
  assert.equal(rst.sentMax, 100);
  seg({ seq: (1001 + 2 ** 32 - 20) >>> 0, flags: 'R', payload: payload(20) });
  const next = seg({ seq: 1101, ack: 5001, flags: 'A', payload: payload(100) });
  assert.equal(next.seqOff, 100);
  assert.equal(next.retransmit, false);
  assert.equal(next.sentMax, 200);
});
