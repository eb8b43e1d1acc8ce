/**
 * The flow tracker's memory is bounded: flows that never close (a SYN flood, a 2 GiB
 * import of unanswered SYNs) are forgotten after an idle time in capture time, and past
 * a cap the least recently active are evicted, each counted so the session shows it.
 * No timing assertions: counts only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DecodedFrame, decodeFrame } from '../capture/decode/frame.js';
import { DEFAULT_MAX_FLOWS, FlowTracker, SegmentFacts } from '../capture/flow/tracker.js';
import { openDatabase } from '../db/connection.js';
import { createSession, getSession } from '../db/sessions.js';
import { FrameWriter } from '../db/frame-writer.js';
import { ipv4Tcp, type TcpSpec } from './helpers/packets.js';
import { tempDir } from './helpers/app.js';

const LINKTYPE_RAW = 101;
const T0 = 1_764_000_000_000_000_000n;
const MS = 1_000_000n;

/** A SYN from 10.x.y.z:port to 10.0.0.2:7000, a new 4-tuple for each n (the bytes are rewritten in place). */
function synSource() {
  const bytes = ipv4Tcp({ seq: 1, flags: 'S', src: '10.0.0.1', dst: '10.0.0.2', sport: 1024, dport: 7000 });
  const view = new DataView(bytes.buffer);
  return {
    bytes,
    view,
    set(n: number): void {
      view.setUint16(20, 1024 + (n % 60000)); // source port
      view.setUint16(13, Math.floor(n / 60000) + 1); // source address bytes 2-3
      view.setUint32(24, n); // sequence number
    },
  };
}

test('a million half-open flows: the tracker holds at most its cap and counts every eviction', () => {
  const t = new FlowTracker(null);
  const decoded = new DecodedFrame();
  const out = new SegmentFacts();
  const syn = synSource();
  const total = 1_000_000;
  let most = 0;
  for (let n = 0; n < total; n++) {
    syn.set(n);
    assert.equal(decodeFrame(LINKTYPE_RAW, syn.view, 0, syn.bytes.length, syn.bytes.length, decoded), 0);
    // 1 µs apart: the whole flood lasts one second, far below any idle timeout
    t.track(decoded, syn.view, T0 + BigInt(n) * 1000n, out);
    assert.equal(out.newFlow, true);
    if (t.flowCount > most) most = t.flowCount;
  }
  assert.ok(most <= DEFAULT_MAX_FLOWS, `held ${most} flows, cap ${DEFAULT_MAX_FLOWS}`);
  assert.ok(t.flowCount > 0);
  assert.equal(t.flowsEvicted + t.flowCount, total, 'every flow is held or counted as evicted');
});

function feeder(t: FlowTracker) {
  const decoded = new DecodedFrame();
  const out = new SegmentFacts();
  return (spec: TcpSpec, tsNs: bigint): SegmentFacts => {
    const bytes = ipv4Tcp(spec);
    const view = new DataView(bytes.buffer);
    assert.equal(decodeFrame(LINKTYPE_RAW, view, 0, bytes.length, bytes.length, decoded), 0);
    t.track(decoded, view, tsNs, out);
    return out;
  };
}

test('past the cap the least recently active flow goes first; a connection still talking stays', () => {
  const t = new FlowTracker(null, { maxFlows: 4 });
  const feed = feeder(t);
  const reply = (sport: number) => ({ src: '10.0.0.2', dst: '10.0.0.1', sport: 7000, dport: sport });
  // an established connection on port 1, active throughout
  feed({ sport: 1, seq: 10, flags: 'S' }, T0);
  feed({ ...reply(1), seq: 50, ack: 11, flags: 'SA' }, T0 + 1n);
  for (let p = 2; p <= 20; p++) {
    feed({ sport: p, seq: 10, flags: 'S' }, T0 + BigInt(p) * MS);
    const d = feed({ sport: 1, seq: 11 + p, ack: 51, flags: 'PA', payload: new Uint8Array(1) }, T0 + BigInt(p) * MS + 1n);
    assert.equal(d.newFlow, false, `port 1 still tracked after ${p - 1} other flows`);
    assert.ok(t.flowCount <= 4);
  }
  assert.equal(t.flowsEvicted + t.flowCount, 20);
});

test('open flows idle in capture time are forgotten and counted; half-open ones sooner than established ones', () => {
  const t = new FlowTracker(null);
  const feed = feeder(t);
  const reply = (sport: number) => ({ src: '10.0.0.2', dst: '10.0.0.1', sport: 7000, dport: sport });
  feed({ sport: 1, seq: 10, flags: 'S' }, T0); // never answered
  feed({ sport: 2, seq: 10, flags: 'S' }, T0);
  feed({ ...reply(2), seq: 50, ack: 11, flags: 'SA' }, T0 + 1n); // established, then quiet
  // an hour later a sweep's worth of frames of a third connection
  const later = T0 + 3_600_000n * MS;
  for (let i = 0; i < 65536; i++) feed({ sport: 3, seq: 11 + i, flags: 'A', ack: 1 }, later + BigInt(i));
  assert.equal(t.flowsIdle, 1, 'the unanswered SYN is gone');
  assert.equal(feed({ ...reply(2), seq: 51, ack: 11, flags: 'A' }, later + 70_000n).newFlow, false, 'an hour of quiet is normal for a connection');
  assert.equal(feed({ sport: 1, seq: 11, ack: 1, flags: 'A' }, later + 70_001n).newFlow, true);
});

test('the session shows evicted flows among its skip reasons', () => {
  const dir = tempDir();
  const db = openDatabase(join(dir.dir, 'a.db'));
  try {
    const session = createSession(db, { name: 'flood', kind: 'import' });
    const writer = new FrameWriter(db, session.id, { maxFlows: 10 });
    const syn = synSource();
    for (let n = 0; n < 100; n++) {
      syn.set(n);
      writer.addFrameView(LINKTYPE_RAW, T0 + BigInt(n), syn.bytes.length, syn.bytes.length, syn.view, 0);
    }
    writer.finish();
    const reasons = JSON.parse(getSession(db, session.id)!.skip_reasons!) as Record<string, number>;
    assert.ok(reasons['flows-evicted'] >= 90, JSON.stringify(reasons));
    assert.equal(db.prepare('SELECT count(*) FROM flows WHERE session_id = ?').pluck().get(session.id), 100, 'evicted flows keep their rows');
  } finally {
    db.close();
    dir.cleanup();
  }
});
