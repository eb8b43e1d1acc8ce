/**
 * Flow tracking, pure (no I/O): which connection a decoded TCP segment belongs to, its
 * direction, stream offsets, retransmission mark and the running maxima docs/design-notes.md
 * stores per frame. A flow is its 4-tuple plus initial sequence numbers: a SYN with a
 * new ISN on a known 4-tuple starts a new flow. Side a sent the SYN (or is the SYN-ACK's
 * receiver; or, with no handshake captured, the first sender seen). Without a captured
 * SYN, offsets count from the first sequence (or ACK) number seen, and syn_seen stays 0.
 */
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type DecodedFrame } from '../decode/frame.js';
import { MAX_SACK_BLOCKS } from '../decode/tcp.js';
import { HoleFill, SentHoles } from './holes.js';
import { TagScanner, type TagSink } from './tags.js';
import { unwrapOffset } from './unwrap.js';

export { MAX_HOLES_PER_DIRECTION } from './holes.js';

export class FlowState {
  /** Database id; the writer sets it when it stores the flow. */
  id = 0;
  readonly ipVersion: number;
  readonly addrLen: number;
  readonly aAddr: Uint8Array;
  readonly bAddr: Uint8Array;
  readonly aPort: number;
  readonly bPort: number;
  readonly hash: number;
  /** Per direction (0: a→b, 1: b→a), about the sequence space that direction sends in. */
  readonly baseKnown = [false, false];
  readonly synSeen = [false, false];
  readonly finSeen = [false, false];
  /** The direction has sent a segment the capture saw. */
  readonly sent = [false, false];
  /** Highest sequence offset the direction's own segments reached (a FIN's included): what an ACK of it may cover. */
  readonly segmentHigh = [0, 0];
  /** Raw ISN (offset 0 is isn + 1), as stored in flows.a_isn/b_isn. */
  readonly isn = [0, 0];
  /** Highest first-transmission end offset (flows.a_bytes/b_bytes). */
  readonly sentMax = [0, 0];
  /** Ranges below sentMax never seen (capture/flow/holes.ts); null until the first hole. */
  readonly holes: [SentHoles | null, SentHoles | null] = [null, null];
  /** Highest offset known in the sequence space, from segments and ACKs: the unwrap reference. */
  readonly highWater = [0, 0];
  readonly hasAcked = [false, false];
  /** Highest cumulative ACK sent by the direction, as an offset of the other direction's stream. */
  readonly ackedMax = [0, 0];
  readonly mss = [-1, -1];
  readonly wscale = [-1, -1];
  readonly sackOffered = [false, false];
  firstNs = 0n;
  lastNs = 0n;
  frames = 0;
  retransmits = 0;
  closed = false;
  /** Changed since the writer last stored it. */
  dirty = true;
  readonly tags: [TagScanner, TagScanner];

  constructor(frame: DecodedFrame, view: DataView, aIsSource: boolean, hash: number) {
    this.ipVersion = frame.ipVersion;
    this.addrLen = frame.addrLen;
    const src = copyBytes(view, frame.srcAddrAt, frame.addrLen);
    const dst = copyBytes(view, frame.dstAddrAt, frame.addrLen);
    this.aAddr = aIsSource ? src : dst;
    this.bAddr = aIsSource ? dst : src;
    this.aPort = aIsSource ? frame.srcPort : frame.dstPort;
    this.bPort = aIsSource ? frame.dstPort : frame.srcPort;
    this.hash = hash;
    this.tags = [new TagScanner(), new TagScanner()];
  }

  /** 0 when the frame goes a→b, 1 when b→a, -1 when it is not this 4-tuple. */
  directionOf(frame: DecodedFrame, view: DataView): number {
    if (frame.addrLen !== this.addrLen) return -1;
    if (
      frame.srcPort === this.aPort &&
      frame.dstPort === this.bPort &&
      sameBytes(view, frame.srcAddrAt, this.aAddr) &&
      sameBytes(view, frame.dstAddrAt, this.bAddr)
    ) {
      return 0;
    }
    if (
      frame.srcPort === this.bPort &&
      frame.dstPort === this.aPort &&
      sameBytes(view, frame.srcAddrAt, this.bAddr) &&
      sameBytes(view, frame.dstAddrAt, this.aAddr)
    ) {
      return 1;
    }
    return -1;
  }

  /** Window scaling is in force once both SYNs offered it. */
  get windowScaling(): boolean {
    return this.wscale[0] >= 0 && this.wscale[1] >= 0;
  }

  get sackPermitted(): boolean {
    if (this.synSeen[0] && this.synSeen[1]) return this.sackOffered[0] && this.sackOffered[1];
    return this.sackOffered[0] || this.sackOffered[1];
  }
}

/** What the tracker concluded about one segment (a record the caller owns, overwritten each time). */
export class SegmentFacts {
  flow: FlowState | null = null;
  newFlow = false;
  dir = 0;
  /** Stream offset of the first payload byte. */
  seqOff = 0;
  /** Cumulative ACK as an offset of the other direction; NaN when the segment has no ACK. */
  ackOff = NaN;
  /** Some payload byte was seen before; [retransmitStart, retransmitEnd) spans those bytes (NaN when none). */
  retransmit = false;
  retransmitStart = NaN;
  retransmitEnd = NaN;
  /** Bytes below sentMax never seen before that this segment carried: first transmissions out of order. */
  readonly fill = new HoleFill();
  sentMax = 0;
  /** NaN until the direction has sent an ACK. */
  ackedMax = NaN;
  sentAdvanced = false;
  ackAdvanced = false;
  /** Window field scaled by the sender's shift when scaling is in force. */
  window = 0;
  sackCount = 0;
  readonly sackLeftOff = new Float64Array(MAX_SACK_BLOCKS);
  readonly sackRightOff = new Float64Array(MAX_SACK_BLOCKS);
}

/** Longer than TIME_WAIT (60 s on Linux), so final ACKs and retransmitted FINs still find their flow. */
const CLOSED_FLOW_LINGER_NS = 120_000_000_000n;
/**
 * A flow only one side of which ever spoke (an unanswered SYN, a scan): Linux gives up a
 * SYN after ~127 s of retries (tcp_syn_retries = 6), so 5 minutes of capture time without
 * a segment ends it.
 */
const HALF_OPEN_IDLE_NS = 300_000_000_000n;
/**
 * An established flow without a segment for this long is forgotten: longer than Linux's
 * keepalive time (7200 s), so a connection that is merely quiet keeps its offsets.
 */
const OPEN_IDLE_NS = 7_200_000_000_000n;
const SWEEP_EVERY_FRAMES = 65536;
/**
 * Flows held at most: a half-open FlowState takes ~1.7 KB of heap (measured: 100k SYN-only
 * flows, heapUsed after gc), so ~110 MB at the cap. Past it the least recently active go
 * first, closed and half-open ones before established ones, in rounds of a tenth of the
 * cap so a flood costs one sort per round, not per flow.
 */
export const DEFAULT_MAX_FLOWS = 65536;

export interface FlowTrackerOptions {
  /** Flows held at most; default DEFAULT_MAX_FLOWS. */
  maxFlows?: number;
}
/**
 * A segment without payload (an RST, a bare ACK) or an RST's ACK number moves the unwrap
 * reference forward by less than 1 GiB only: one forged RST must not shift every later
 * offset by 2^32. Data and ordinary ACKs move it freely (a capture gap may be large).
 */
const MAX_REFERENCE_JUMP = 2 ** 30;

export class FlowTracker {
  private readonly buckets = new Map<number, FlowState[]>();
  private last: FlowState | null = null;
  /** Flows known now (closed ones are forgotten a while after their last segment). */
  private live = 0;
  private framesSinceSweep = 0;
  /** Flows changed since the writer last took this list (takeDirty). */
  private dirtyFlows: FlowState[] = [];
  private readonly tagSink: TagSink | null;
  private readonly maxFlows: number;
  /** Holes dropped from a full hole list: their bytes, if they come, read as retransmitted. */
  holesForgotten = 0;
  /** Open flows forgotten to stay within maxFlows; a later segment of one starts a new flow without handshake. */
  flowsEvicted = 0;
  /** Open flows forgotten after HALF_OPEN_IDLE_NS / OPEN_IDLE_NS of capture time without a segment. */
  flowsIdle = 0;
  /** ACKs beyond every byte their flow's other side was seen sending: not taken as advances. */
  acksBeyondSent = 0;

  /** `tagSink` receives write tags found on the wire; null turns tag detection off. */
  constructor(tagSink: TagSink | null = null, options: FlowTrackerOptions = {}) {
    this.tagSink = tagSink;
    this.maxFlows = Math.max(1, options.maxFlows ?? DEFAULT_MAX_FLOWS);
  }

  /** Tracks one decoded TCP segment captured at tsNs; fills `out`. */
  track(frame: DecodedFrame, view: DataView, tsNs: bigint, out: SegmentFacts): void {
    const flags = frame.flags;
    const isSyn = (flags & TCP_SYN) !== 0;
    const pureSyn = isSyn && (flags & TCP_ACK) === 0;
    let flow: FlowState | null = null;
    let dir = -1;
    const last = this.last;
    if (last !== null) {
      dir = last.directionOf(frame, view);
      if (dir >= 0) flow = last;
    }
    const hash = flow === null ? tupleHash(frame, view) : flow.hash;
    if (flow === null) {
      const bucket = this.buckets.get(hash);
      if (bucket !== undefined) {
        for (let i = bucket.length - 1; i >= 0; i--) {
          dir = bucket[i].directionOf(frame, view);
          if (dir >= 0) {
            flow = bucket[i];
            break;
          }
        }
      }
    }
    out.newFlow = false;
    if (flow !== null && pureSyn && !this.sameConnection(flow, dir, frame.seq)) {
      this.retire(flow);
      flow = null;
    }
    if (flow !== null && isSyn && !pureSyn && !this.sameConnectionSynAck(flow, dir, frame.seq, frame.ack)) {
      this.retire(flow); // a new connection whose SYN the capture missed
      flow = null;
    }
    if (flow === null) {
      if (this.live >= this.maxFlows) this.evict();
      // a SYN-ACK without its SYN: the receiver is the side that connected
      const aIsSource = !(isSyn && !pureSyn);
      flow = new FlowState(frame, view, aIsSource, hash);
      flow.firstNs = tsNs;
      flow.lastNs = tsNs;
      dir = aIsSource ? 0 : 1;
      const bucket = this.buckets.get(hash);
      if (bucket) bucket.push(flow);
      else this.buckets.set(hash, [flow]);
      this.live++;
      this.dirtyFlows.push(flow);
      out.newFlow = true;
    }
    this.last = flow;
    out.flow = flow;
    out.dir = dir;
    this.advance(flow, dir, frame, view, tsNs, out);
    if (++this.framesSinceSweep >= SWEEP_EVERY_FRAMES) this.sweep(tsNs);
  }

  /** Number of flows the tracker still holds. */
  get flowCount(): number {
    return this.live;
  }

  /**
   * Forgets flows closed (FIN/RST) longer than CLOSED_FLOW_LINGER_NS ago, so a long live
   * capture of many short connections does not keep them all. A late segment of a
   * forgotten flow starts a new flow without handshake, as after a capture gap.
   */
  private sweep(nowNs: bigint): void {
    this.framesSinceSweep = 0;
    for (const [hash, bucket] of this.buckets) {
      const kept = bucket.filter((f) => {
        const idle = nowNs - f.lastNs;
        if (f.closed) return idle <= CLOSED_FLOW_LINGER_NS;
        if (idle <= (isHalfOpen(f) ? HALF_OPEN_IDLE_NS : OPEN_IDLE_NS)) return true;
        this.flowsIdle++;
        return false;
      });
      if (kept.length === bucket.length) continue;
      this.live -= bucket.length - kept.length;
      if (kept.length === 0) this.buckets.delete(hash);
      else this.buckets.set(hash, kept);
      if (this.last && !kept.includes(this.last) && bucket.includes(this.last)) this.last = null;
    }
  }

  /**
   * Makes room for a new flow: forgets a tenth of the cap (at least one), closed flows
   * first, then half-open ones, then established ones, each the least recently active
   * first. Forgotten open flows are counted in flowsEvicted; the writer keeps their rows.
   */
  private evict(): void {
    const all: FlowState[] = [];
    for (const bucket of this.buckets.values()) for (const f of bucket) all.push(f);
    // numbers, not BigInt comparisons (10× faster to sort); epoch ns as a double is
    // exact to 256 ns, plenty to tell the least recently active apart
    const rank = new Float64Array(all.length);
    const when = new Float64Array(all.length);
    for (let i = 0; i < all.length; i++) {
      const f = all[i];
      rank[i] = f.closed ? 0 : isHalfOpen(f) ? 1 : 2;
      when[i] = Number(f.lastNs);
    }
    const order = new Uint32Array(all.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((x, y) => rank[x] - rank[y] || when[x] - when[y]);
    const count = Math.min(all.length, Math.max(1, Math.floor(this.maxFlows / 10)));
    for (let i = 0; i < count; i++) {
      const f = all[order[i]];
      if (!f.closed) this.flowsEvicted++;
      this.retire(f);
    }
  }

  /** The flows changed since the last call, each marked clean again. */
  takeDirty(): FlowState[] {
    const dirty = this.dirtyFlows;
    this.dirtyFlows = [];
    for (const flow of dirty) flow.dirty = false;
    return dirty;
  }

  /** A pure SYN belongs to the known connection only as a retransmitted SYN or a simultaneous open. */
  private sameConnection(flow: FlowState, dir: number, seq: number): boolean {
    if (flow.synSeen[dir]) return flow.isn[dir] === seq;
    const other = 1 - dir;
    return flow.synSeen[other] && !flow.baseKnown[dir] && flow.sentMax[other] === 0 && !flow.closed;
  }

  /**
   * A SYN-ACK belongs to the known connection only as a repeat of its SYN-ACK, or as the
   * first one of a connection still opening: not closed, its sender silent so far, and
   * acknowledging the SYN seen (if one was) or the data it carried (TCP Fast Open).
   */
  private sameConnectionSynAck(flow: FlowState, dir: number, seq: number, ack: number): boolean {
    if (flow.synSeen[dir]) return flow.isn[dir] === seq;
    if (flow.closed || flow.sent[dir]) return false;
    const other = 1 - dir;
    // with TCP Fast Open the SYN carried data, and the SYN-ACK may acknowledge it too
    return !flow.synSeen[other] || ((ack - flow.isn[other] - 1) >>> 0) <= flow.sentMax[other];
  }

  /** Forgets a flow whose 4-tuple was reused (the writer keeps its row). */
  private retire(flow: FlowState): void {
    const bucket = this.buckets.get(flow.hash);
    if (bucket) {
      const i = bucket.indexOf(flow);
      if (i >= 0) {
        bucket.splice(i, 1);
        this.live--;
      }
      if (bucket.length === 0) this.buckets.delete(flow.hash);
    }
    if (this.last === flow) this.last = null;
  }

  private advance(flow: FlowState, dir: number, f: DecodedFrame, view: DataView, tsNs: bigint, out: SegmentFacts): void {
    const other = 1 - dir;
    const flags = f.flags;
    const isSyn = (flags & TCP_SYN) !== 0;
    const isFin = (flags & TCP_FIN) !== 0;
    const isRst = (flags & TCP_RST) !== 0;
    // An RST's payload (diagnostic text, RFC 1122 4.2.2.12) is not stream data: counted as
    // such, one forged RST far ahead would move the first-transmission mark by gigabytes.
    const payloadLen = isRst ? 0 : f.payloadLen;
    flow.frames++;
    flow.sent[dir] = true;
    if (tsNs > flow.lastNs) flow.lastNs = tsNs;
    if (!flow.dirty) {
      flow.dirty = true;
      this.dirtyFlows.push(flow);
    }
    if ((flags & (TCP_FIN | TCP_RST)) !== 0) flow.closed = true;

    let retransmit = false;
    if (isSyn) {
      if (flow.synSeen[dir] && flow.isn[dir] === f.seq) retransmit = true;
      if (!flow.synSeen[dir]) {
        flow.synSeen[dir] = true;
        flow.baseKnown[dir] = true;
        flow.isn[dir] = f.seq;
      }
      flow.mss[dir] = f.mss;
      flow.wscale[dir] = f.wscale;
      flow.sackOffered[dir] = f.sackPermitted;
    } else if (!flow.baseKnown[dir]) {
      flow.baseKnown[dir] = true;
      flow.isn[dir] = (f.seq - 1) >>> 0; // offsets from the first sequence number seen
    }

    const base = (flow.isn[dir] + 1) >>> 0;
    const seqOff = unwrapOffset(f.seq, base, flow.highWater[dir]) + (isSyn ? 1 : 0);
    const end = seqOff + payloadLen;
    const sentBefore = flow.sentMax[dir];
    const fill = out.fill;
    fill.count = 0;
    out.retransmitStart = NaN;
    out.retransmitEnd = NaN;
    if (payloadLen > 0 && seqOff < sentBefore) {
      // below the highest byte seen: a retransmission only of the bytes seen before
      const below = Math.min(end, sentBefore);
      const holes = flow.holes[dir];
      if (holes === null || holes.count === 0) {
        out.retransmitStart = seqOff;
        out.retransmitEnd = below;
      } else {
        this.holesForgotten += holes.fill(seqOff, below, fill);
        out.retransmitStart = fill.seenStart;
        out.retransmitEnd = fill.seenEnd;
        if (this.tagSink !== null && fill.count > 0) {
          // a gap's bytes arrived late: the headers in them (the walk went on past the gap)
          for (let i = 0; i < fill.count; i++) {
            flow.tags[dir].scanFilled(flow, dir, seqOff, fill.start[i], fill.end[i], view, f.payloadAt, f.payloadCaptured, tsNs, this.tagSink);
          }
        }
      }
      if (!Number.isNaN(out.retransmitStart)) retransmit = true;
    } else if (payloadLen > 0 && seqOff > sentBefore && (sentBefore > 0 || flow.synSeen[dir])) {
      // bytes skipped: not seen yet (reordered) or never (a capture gap). Below the first
      // data of a flow caught mid-stream they were sent before the capture: no hole.
      const holes = (flow.holes[dir] ??= new SentHoles());
      this.holesForgotten += holes.open(sentBefore, seqOff);
    }
    if (isFin && payloadLen === 0 && flow.finSeen[dir] && end <= sentBefore) retransmit = true;
    if (isFin) flow.finSeen[dir] = true;
    let sentAdvanced = false;
    // only payload counts: the sequence numbers a SYN or FIN consumes are not stream bytes
    if (payloadLen > 0 && end > sentBefore) {
      flow.sentMax[dir] = end;
      sentAdvanced = true;
      if (this.tagSink !== null && flow.tags[dir].active) {
        // without the SYN the capture began mid-stream: the scanner searches for a first header
        const midStream = !flow.synSeen[dir];
        flow.tags[dir].scan(flow, dir, seqOff, end, sentBefore, view, f.payloadAt, f.payloadCaptured, tsNs, this.tagSink, midStream);
      }
    }
    if (end > flow.highWater[dir] && (payloadLen > 0 || end - flow.highWater[dir] < MAX_REFERENCE_JUMP)) {
      flow.highWater[dir] = end;
    }
    if (!isRst) {
      const reach = end + (isFin ? 1 : 0);
      if (reach > flow.segmentHigh[dir]) flow.segmentHigh[dir] = reach;
    }
    if (retransmit) flow.retransmits++;

    let ackOff = NaN;
    let ackAdvanced = false;
    if ((flags & TCP_ACK) !== 0) {
      if (!flow.baseKnown[other]) {
        flow.baseKnown[other] = true;
        flow.isn[other] = (f.ack - 1) >>> 0;
      }
      ackOff = unwrapOffset(f.ack, (flow.isn[other] + 1) >>> 0, flow.highWater[other]);
      // An ACK of bytes the other side was never seen sending acknowledges nothing we can
      // place (a forged or corrupt ACK, or data the capture missed): no advance, counted.
      // A direction never seen sending (a one-sided capture) has no bound to check.
      const beyondSent = flow.sent[other] && ackOff > flow.segmentHigh[other];
      if (beyondSent) this.acksBeyondSent++;
      else if (!flow.hasAcked[dir] || ackOff > flow.ackedMax[dir]) {
        flow.hasAcked[dir] = true;
        flow.ackedMax[dir] = ackOff;
        ackAdvanced = true;
      }
      if (!beyondSent && ackOff > flow.highWater[other] && (!isRst || ackOff - flow.highWater[other] < MAX_REFERENCE_JUMP)) {
        flow.highWater[other] = ackOff;
      }
    }

    out.seqOff = seqOff;
    out.ackOff = ackOff;
    out.retransmit = retransmit;
    out.sentMax = flow.sentMax[dir];
    out.ackedMax = flow.hasAcked[dir] ? flow.ackedMax[dir] : NaN;
    out.sentAdvanced = sentAdvanced;
    out.ackAdvanced = ackAdvanced;
    const shift = flow.wscale[dir];
    out.window = !isSyn && flow.windowScaling ? f.window * 2 ** shift : f.window;
    out.sackCount = 0;
    if (f.sackCount > 0 && flow.baseKnown[other]) {
      const otherBase = (flow.isn[other] + 1) >>> 0;
      for (let i = 0; i < f.sackCount; i++) {
        out.sackLeftOff[i] = unwrapOffset(f.sackLeft[i], otherBase, flow.highWater[other]);
        out.sackRightOff[i] = unwrapOffset(f.sackRight[i], otherBase, flow.highWater[other]);
      }
      out.sackCount = f.sackCount;
    }
  }
}

/** Only one side ever spoke: an unanswered SYN, a scan, or a capture that sees one direction. */
function isHalfOpen(f: FlowState): boolean {
  return !(f.sent[0] && f.sent[1]);
}

/** Symmetric hash of the 4-tuple: both directions of a connection hash alike. */
function tupleHash(f: DecodedFrame, view: DataView): number {
  return (endpointHash(view, f.srcAddrAt, f.addrLen, f.srcPort) + endpointHash(view, f.dstAddrAt, f.addrLen, f.dstPort)) >>> 0;
}

function endpointHash(view: DataView, at: number, len: number, port: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ view.getUint8(at + i), 0x01000193);
  h = Math.imul(h ^ (port & 0xff), 0x01000193);
  h = Math.imul(h ^ (port >> 8), 0x01000193);
  return h >>> 0;
}

function sameBytes(view: DataView, at: number, bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (view.getUint8(at + i) !== bytes[i]) return false;
  return true;
}

function copyBytes(view: DataView, at: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = view.getUint8(at + i);
  return out;
}

/** Text form of an address (dotted IPv4, RFC 5952 IPv6). */
export function addressText(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // the longest run (≥ 2) of zero groups becomes "::"
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
