/**
 * The decoding half of the frame writer (db/frame-writer.ts), pure: decode → track →
 * the rows of a batch packed in typed columns. A batch crosses to the thread that writes
 * SQLite (recording/import-writer.ts) as a few transferred ArrayBuffers, the pattern of
 * core/completion-columns.ts: numbers of every frame and advance row in typed arrays,
 * the rare rows (new flows, flow updates, SACK blocks, retransmitted ranges, write tags)
 * as small plain arrays.
 *
 * Flows are numbered by the packer from 1 (`FlowState.id`), in order of first sight; the
 * writing side stores each new flow and maps the number to the database's id. Both go up
 * in the same order, so rows sorted by flow number are sorted by flow id.
 * Frames are named by frame_no: the writing side makes the id (core/frame-id.ts).
 */
import { DecodedFrame, decodeFrame } from './decode/frame.js';
import { DECODED_TCP, R_DUPLICATE_COPY, reasonCategory, reasonName, type SkipCategory } from './decode/reasons.js';
import type { WriteTag } from './decode/tag.js';
import type { TagFlow } from './flow/tags.js';
import { addressText, FlowTracker, SegmentFacts, type FlowState } from './flow/tracker.js';
import { AdvanceRuns, type PackedAdvances } from './advance-runs.js';
import type { SessionRow } from '../core/session-row.js';

export type { PackedAdvances };

/** What a session saw, as a Wireshark user would count it (docs/design-notes.md). */
export interface SessionCounters {
  /** Every packet read (TCP or not, copies included). */
  frames: number;
  tcp: number;
  skipped: Record<SkipCategory, number>;
  /** Skipped frames by reason name. */
  reasons: Record<string, number>;
  flows: number;
  linkType: number | null;
}

/** The sessions row's columns for what a frame writer counted (SQLite's frame writer, the ClickHouse import and live capture). */
export function counterColumns(c: SessionCounters): Partial<SessionRow> {
  return {
    link_type: c.linkType,
    frames_total: c.frames,
    frames_tcp: c.tcp,
    skipped_truncated: c.skipped.truncated,
    skipped_malformed: c.skipped.malformed,
    skipped_not_ip: c.skipped.notIp,
    skipped_not_tcp: c.skipped.notTcp,
    skipped_other: c.skipped.other,
    skip_reasons: JSON.stringify(c.reasons),
  };
}

export function emptyCounters(): SessionCounters {
  return { frames: 0, tcp: 0, skipped: { truncated: 0, malformed: 0, notIp: 0, notTcp: 0, other: 0 }, reasons: {}, flows: 0, linkType: null };
}

/**
 * Numbers of a frame row in PackedFrames.frames, in this order (NaN: SQL null). The
 * frames table's other columns come from elsewhere: id and session_id from the session,
 * flow_id from the flow number, ts_ns from PackedFrames.ts.
 */
export const FRAME_NUMBERS = [
  'frame_no', 'flow', 'dir', 'caplen', 'wirelen', 'tcp_flags', 'seq_raw', 'ack_raw', 'seq_off', 'payload_len',
  'ack_off', 'window', 'retransmit', 'sent_max', 'acked_max', 'sent_advanced', 'ack_advanced', 'sack_count', 'file_offset',
] as const;
export const FRAME_WIDTH = FRAME_NUMBERS.length;

export interface NewFlow {
  flow: number;
  ipVersion: number;
  aAddr: string;
  aPort: number;
  bAddr: string;
  bPort: number;
  firstNs: bigint;
}

/** A flow's columns after the batch, in the order of db/frame-rows.ts's UPDATE (flow number first, id last there). */
export type FlowUpdate = [
  flow: number, aIsn: number | null, bIsn: number | null, aSynSeen: number, bSynSeen: number, aMss: number | null,
  bMss: number | null, aWscale: number | null, bWscale: number | null, sackPermitted: number, lastNs: bigint,
  frames: number, aBytes: number, bBytes: number, retransmits: number, closed: number,
];
export type SackRow = [frameNo: number, flow: number, dir: number, tsNs: bigint, leftOff: number, rightOff: number];
export type RetransmissionRow = [flow: number, dir: number, startOff: number, endOff: number, tsNs: bigint, frameNo: number];
export type TagRow = [
  flow: number, dir: number, streamOff: number, writeId: number | null, claimedOff: number | null,
  claimedLen: number | null, frameNo: number, tsNs: bigint,
];

/** One batch: every row the frames read since the last batch make, and the counters after them. */
export interface PackedFrames {
  /** TCP frames (rows of `frames`). */
  count: number;
  /** count × FRAME_WIDTH numbers. */
  frames: Float64Array;
  ts: BigInt64Array;
  /** Advance rows in key order: none while they are held (FramePackerOptions.holdAdvances). */
  sentAdvances: PackedAdvances;
  ackAdvances: PackedAdvances;
  /** Flows first seen in this batch, in flow-number order. */
  newFlows: NewFlow[];
  flowUpdates: FlowUpdate[];
  sacks: SackRow[];
  retransmissions: RetransmissionRow[];
  tags: TagRow[];
  counters: SessionCounters;
}

/** The ArrayBuffers of a batch, for postMessage's transfer list. */
export function transferList(b: PackedFrames): ArrayBuffer[] {
  return [b.frames, b.ts, b.sentAdvances.numbers, b.sentAdvances.ts, b.ackAdvances.numbers, b.ackAdvances.ts].map(
    (a) => a.buffer as ArrayBuffer,
  );
}

/** A fresh one each time: a batch's arrays are transferred to the writer thread (detached here). */
function noAdvances(): PackedAdvances {
  return { count: 0, numbers: new Float64Array(0), ts: new BigInt64Array(0) };
}

/** Skip-reason names of the tracker's counters: flowsEvicted, flowsIdle, holesForgotten, acksBeyondSent. */
const TRACKER_LOSSES = ['flows-evicted', 'flows-idle', 'stream-holes-forgotten', 'acks-beyond-sent'] as const;

export interface FramePackerOptions {
  /** TCP frames per batch: `full` turns true at this many. Default 20000. */
  batchFrames?: number;
  /** Look for write tags (capture/decode/tag.ts). Default true. */
  tags?: boolean;
  /** Flows the tracker holds at most (capture/flow/tracker.ts DEFAULT_MAX_FLOWS). */
  maxFlows?: number;
  /** Counters to go on from (a session written before): frame numbers continue after `frames`. */
  resume?: SessionCounters;
  /**
   * Hold up to this many sent_advances/ack_advances rows across batches, and the flows'
   * updates with them; take(true) hands out the rest. Default 0: every batch has them
   * (live capture, correlated while it runs).
   * The file import holds them so each (flow, dir) is written as one sorted run instead
   * of at ~900 places per batch (449 interleaved flows, 1M frames: see recording/import.ts).
   */
  holdAdvances?: number;
}

export class FramePacker {
  readonly counters: SessionCounters;
  readonly batchFrames: number;
  private readonly tracker: FlowTracker;
  private readonly decoded = new DecodedFrame();
  private readonly facts = new SegmentFacts();
  private flowNumbers = 0;
  private currentFrameNo = 0;
  private count = 0;
  private frames: Float64Array;
  private ts: BigInt64Array;
  private readonly holdAdvances: number;
  private readonly sentAdvances = new AdvanceRuns();
  private readonly ackAdvances = new AdvanceRuns();
  private newFlows: NewFlow[] = [];
  private sacks: SackRow[] = [];
  private retransmissions: RetransmissionRow[] = [];
  /** Tags with the tracker's flow object: a new flow gets its number after its first segment was scanned. */
  private tags: [TagFlow, ...unknown[]][] = [];
  /** The tracker's loss counters already added to counters.reasons. */
  private readonly trackerLossesCounted = TRACKER_LOSSES.map(() => 0);

  constructor(options: FramePackerOptions = {}) {
    this.batchFrames = options.batchFrames ?? 20000;
    this.counters = options.resume ? structuredClone(options.resume) : emptyCounters();
    this.tracker = new FlowTracker(
      options.tags === false ? null : (flow, dir, off, tag, ts) => this.onTag(flow, dir, off, tag, ts),
      { maxFlows: options.maxFlows },
    );
    this.frames = new Float64Array(this.batchFrames * FRAME_WIDTH);
    this.ts = new BigInt64Array(this.batchFrames);
    this.holdAdvances = options.holdAdvances ?? 0;
  }

  /** TCP frames packed since the last take(). */
  get pending(): number {
    return this.count;
  }

  /** A batch is due: take() it before adding more frames. */
  get full(): boolean {
    return this.count >= this.batchFrames;
  }

  /**
   * Decodes, tracks and packs one frame: view bytes [byteOffset, byteOffset + caplen).
   * Never throws for frame content: undecodable frames are counted by reason. Nothing of
   * the bytes is kept after it returns.
   */
  add(linkType: number, tsNs: bigint, caplen: number, wirelen: number, view: DataView, byteOffset: number, fileOffset?: number): void {
    const c = this.counters;
    c.frames++;
    if (c.linkType === null) c.linkType = linkType;
    const frameNo = c.frames;
    const f = this.decoded;
    const result = decodeFrame(linkType, view, byteOffset, caplen, wirelen, f);
    if (result !== DECODED_TCP) {
      this.countSkip(result);
      return;
    }
    c.tcp++;
    this.currentFrameNo = frameNo;
    const facts = this.facts;
    this.tracker.track(f, view, tsNs, facts);
    const flow = facts.flow!;
    if (facts.newFlow) this.numberFlow(flow);
    const flowNo = flow.id;
    const dir = facts.dir;

    const r = this.count++;
    const row = this.frames;
    let i = r * FRAME_WIDTH;
    row[i++] = frameNo;
    row[i++] = flowNo;
    row[i++] = dir;
    row[i++] = caplen;
    row[i++] = wirelen;
    row[i++] = f.flags;
    row[i++] = f.seq;
    row[i++] = f.ack;
    row[i++] = facts.seqOff;
    row[i++] = f.payloadLen;
    row[i++] = facts.ackOff;
    row[i++] = facts.window;
    row[i++] = facts.retransmit ? 1 : 0;
    row[i++] = facts.sentMax;
    row[i++] = facts.ackedMax;
    row[i++] = facts.sentAdvanced ? 1 : 0;
    row[i++] = facts.ackAdvanced ? 1 : 0;
    row[i++] = facts.sackCount;
    row[i] = fileOffset ?? NaN;
    this.ts[r] = tsNs;
    if (facts.sentAdvanced) this.sentAdvances.add(flowNo, dir, facts.sentMax, tsNs, facts.seqOff);
    // bytes of a hole (below the maximum, never seen): first transmissions too, each a row
    // of its own so "when did byte X first leave" finds them (keys stay unique: the
    // first-transmission ranges of a direction never overlap)
    const fill = facts.fill;
    for (let h = 0; h < fill.count; h++) this.sentAdvances.add(flowNo, dir, fill.end[h], tsNs, fill.start[h]);
    if (facts.retransmit && !Number.isNaN(facts.retransmitStart)) {
      this.retransmissions.push([flowNo, dir, facts.retransmitStart, facts.retransmitEnd, tsNs, frameNo]);
    }
    if (facts.ackAdvanced) this.ackAdvances.add(flowNo, dir, facts.ackedMax, tsNs, 0);
    for (let s = 0; s < facts.sackCount; s++) {
      this.sacks.push([frameNo, flowNo, dir, tsNs, facts.sackLeftOff[s], facts.sackRightOff[s]]);
    }
  }

  /**
   * Counts a packet read from the file but not kept, e.g. a pcapng copy of a packet
   * already kept (epb_packetid): it is a packet a Wireshark user sees, so frames counts it.
   */
  countCopy(): void {
    this.counters.frames++;
    this.countSkip(R_DUPLICATE_COPY);
  }

  /**
   * Everything packed since the last take(), with a copy of the counters after it; the
   * packer starts a fresh batch. `final`: the advance rows held too.
   */
  take(final = false): PackedFrames {
    this.countTrackerLosses();
    const n = this.count;
    const advancesDue = final || this.sentAdvances.pending + this.ackAdvances.pending >= this.holdAdvances;
    const batch: PackedFrames = {
      count: n,
      frames: n === this.batchFrames ? this.frames : this.frames.slice(0, n * FRAME_WIDTH),
      ts: n === this.batchFrames ? this.ts : this.ts.slice(0, n),
      sentAdvances: advancesDue ? this.sentAdvances.take() : noAdvances(),
      ackAdvances: advancesDue ? this.ackAdvances.take() : noAdvances(),
      newFlows: this.newFlows,
      // held with the advance rows: an import's flows are read once it ended, so each gets
      // one UPDATE with its final state instead of one per batch (449 flows, 1 M frames:
      // 22,000 UPDATEs, ~5% of the writer thread's time)
      flowUpdates: advancesDue ? this.tracker.takeDirty().map(flowUpdate) : [],
      sacks: this.sacks,
      retransmissions: this.retransmissions,
      tags: this.tags.map((t) => [(t[0] as TagFlow).id, ...t.slice(1)] as TagRow),
      counters: structuredClone(this.counters),
    };
    if (n === this.batchFrames) {
      // handed over (transferred): the next batch gets arrays of its own
      this.frames = new Float64Array(this.batchFrames * FRAME_WIDTH);
      this.ts = new BigInt64Array(this.batchFrames);
    }
    this.count = 0;
    this.newFlows = [];
    this.sacks = [];
    this.retransmissions = [];
    this.tags = [];
    return batch;
  }

  /** Forgets what is packed and the counters (the writer discarded the session's rows). */
  reset(): void {
    this.take(true);
    Object.assign(this.counters, emptyCounters());
  }

  private numberFlow(flow: FlowState): void {
    flow.id = ++this.flowNumbers;
    this.counters.flows++;
    this.newFlows.push({
      flow: flow.id,
      ipVersion: flow.ipVersion,
      aAddr: addressText(flow.aAddr),
      aPort: flow.aPort,
      bAddr: addressText(flow.bAddr),
      bPort: flow.bPort,
      firstNs: flow.firstNs,
    });
  }

  /**
   * What the tracker had to let go of, among the session's skip reasons (not frames: the
   * categories do not count them). A user reads there why a flow restarted without its
   * handshake or why reordered bytes read as retransmitted (docs/import.md).
   */
  private countTrackerLosses(): void {
    const t = this.tracker;
    const now = [t.flowsEvicted, t.flowsIdle, t.holesForgotten, t.acksBeyondSent];
    for (let i = 0; i < TRACKER_LOSSES.length; i++) {
      const delta = now[i] - this.trackerLossesCounted[i];
      if (delta === 0) continue;
      this.counters.reasons[TRACKER_LOSSES[i]] = (this.counters.reasons[TRACKER_LOSSES[i]] ?? 0) + delta;
      this.trackerLossesCounted[i] = now[i];
    }
  }

  private countSkip(reason: number): void {
    const c = this.counters;
    c.skipped[reasonCategory(reason)]++;
    const name = reasonName(reason);
    c.reasons[name] = (c.reasons[name] ?? 0) + 1;
  }

  private onTag(flow: TagFlow, dir: number, streamOff: number, tag: WriteTag | null, tsNs: bigint): void {
    this.tags.push([
      flow,
      dir,
      streamOff,
      tag ? tag.writeId : null,
      tag ? tag.offset : null,
      tag ? tag.length : null,
      this.currentFrameNo,
      tsNs,
    ]);
  }
}

function flowUpdate(flow: FlowState): FlowUpdate {
  return [
    flow.id,
    flow.baseKnown[0] ? flow.isn[0] : null,
    flow.baseKnown[1] ? flow.isn[1] : null,
    flow.synSeen[0] ? 1 : 0,
    flow.synSeen[1] ? 1 : 0,
    flow.mss[0] >= 0 ? flow.mss[0] : null,
    flow.mss[1] >= 0 ? flow.mss[1] : null,
    flow.wscale[0] >= 0 ? flow.wscale[0] : null,
    flow.wscale[1] >= 0 ? flow.wscale[1] : null,
    flow.sackPermitted ? 1 : 0,
    flow.lastNs,
    flow.frames,
    flow.sentMax[0],
    flow.sentMax[1],
    flow.retransmits,
    flow.closed ? 1 : 0,
  ];
}
