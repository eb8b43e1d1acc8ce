import assert from 'node:assert/strict';
import { DecodedFrame, decodeFrame } from '../../capture/decode/frame.js';
import { FlowTracker, SegmentFacts } from '../../capture/flow/tracker.js';
import type { TagSink } from '../../capture/flow/tags.js';
import { ipv4Tcp, type TcpSpec } from './packets.js';

/**
 * A flow tracker fed built segments: `seg(spec)` tracks one a→b segment (b→a with
 * `reverse`), each 1 µs after the last, and returns what the tracker said of it.
 */
export function trackerHarness(tagSink: TagSink | null = null) {
  const t = new FlowTracker(tagSink);
  const decoded = new DecodedFrame();
  let ts = 1_700_000_000_000_000_000n;
  const seg = (spec: TcpSpec, reverse = false): SegmentFacts => {
    const full = reverse ? { sport: 7000, dport: 40000, src: '10.0.0.2', dst: '10.0.0.1', ...spec } : spec;
    const bytes = ipv4Tcp(full);
    const view = new DataView(bytes.buffer);
    assert.equal(decodeFrame(101, view, 0, bytes.length, bytes.length, decoded), 0);
    const out = new SegmentFacts();
    t.track(decoded, view, (ts += 1000n), out);
    return out;
  };
  return { t, seg };
}
