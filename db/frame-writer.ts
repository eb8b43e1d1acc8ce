/**
 * FrameWriter: the one path from captured frames to SQLite rows, used by the file
 * import (recording/import.ts) and by the live capture worker alike.
 *
 * SIGNATURE:
 *
 *   const writer = new FrameWriter(db, sessionId, { batchFrames?: 20000, tags?: true, holdAdvances?: 0 });
 *   writer.addFrame(linkType, tsNs, caplen, wirelen, bytes, byteOffset = 0, fileOffset?);
 *   writer.flush();            // writes pending rows in ONE transaction (call every ~100 ms live)
 *   const c = writer.finish(); // flush + counters into the sessions row; returns the counters
 *   writer.counters            // live view of the same counters (frames, tcp, skipped, reasons)
 *   writer.discard();          // deletes every row this session has in flows/frames/sacks/tags
 *
 * - `db`: a better-sqlite3 connection of its own thread (a worker opens its own with
 *   db/connection.ts openDatabase). The writer prepares its statements once.
 * - `linkType`: LINKTYPE_* number of the frame (pcap header / IDB / pcap_datalink()).
 * - `tsNs`: capture timestamp, epoch ns, BigInt (the kernel's stamp; never Date.now()).
 * - `caplen`, `wirelen`: captured and original lengths.
 * - `bytes`, `byteOffset`: the frame is bytes[byteOffset, byteOffset + caplen). Nothing of
 *   `bytes` is kept after addFrame returns, so a batch Buffer can be reused at once.
 * - `fileOffset`: byte offset of the frame's record in the raw capture file, if kept.
 * - addFrame never throws for frame content: undecodable frames are counted by reason.
 *   It flushes by itself every `batchFrames` frames; SQLite errors (disk full) do throw.
 * - Frames that advance a running maximum also get a row in sent_advances / ack_advances
 *   (migrations/005_frame_advances.sql): with every flush by default, or held back until
 *   `holdAdvances` rows are pending and written at finish() (the file import).
 * - Frame rows get id = sessionId * 2^32 + frameNo (frameNo 1-based, every frame read
 *   counts, TCP or not, so frame_no matches Wireshark's frame number).
 */
import type { Statement, Transaction } from 'better-sqlite3';
import type { Db } from './connection.js';
import { getSession, updateSession } from './sessions.js';
import { PendingAdvances } from './advances.js';
import { DecodedFrame, decodeFrame } from '../capture/decode/frame.js';
import { DECODED_TCP, R_DUPLICATE_COPY, reasonCategory, reasonName, type SkipCategory } from '../capture/decode/reasons.js';
import type { WriteTag } from '../capture/decode/tag.js';
import type { TagFlow } from '../capture/flow/tags.js';
import { addressText, FlowState, FlowTracker, SegmentFacts } from '../capture/flow/tracker.js';
import { FRAMES_PER_SESSION, frameIdRange } from '../core/frame-id.js';
import { sessionNotFound } from '../core/errors.js';

export interface FrameWriterOptions {
  /** Frames per automatic flush (one transaction). Default 20000. */
  batchFrames?: number;
  /** Look for write tags (capture/decode/tag.ts). Default true. */
  tags?: boolean;
  /**
   * Hold up to this many sent_advances/ack_advances rows across flushes; finish() writes
   * the rest. Default 0: every flush writes them (live capture, correlated while it runs).
   * The file import holds them so each (flow, dir) is written as one sorted run instead
   * of at ~900 places per batch (449 interleaved flows, 1M frames: see recording/import.ts).
   */
  holdAdvances?: number;
  /** Flows the tracker holds at most (capture/flow/tracker.ts DEFAULT_MAX_FLOWS). */
  maxFlows?: number;
}

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

/** Frames per multi-row INSERT: 100 rows per statement measured 1.4× one row per statement (docs/design-notes.md). */
const ROWS_PER_INSERT = 100;
const FRAME_COLUMNS = [
  'id', 'session_id', 'frame_no', 'flow_id', 'dir', 'ts_ns', 'caplen', 'wirelen', 'tcp_flags', 'seq_raw', 'ack_raw',
  'seq_off', 'payload_len', 'ack_off', 'window', 'retransmit', 'sent_max', 'acked_max', 'sent_advanced',
  'ack_advanced', 'sack_count', 'file_offset',
] as const;
const NCOL = FRAME_COLUMNS.length;
/** Skip-reason names of the tracker's counters: flowsEvicted, flowsIdle, holesForgotten, acksBeyondSent. */
const TRACKER_LOSSES = ['flows-evicted', 'flows-idle', 'stream-holes-forgotten', 'acks-beyond-sent'] as const;

export class FrameWriter {
  readonly sessionId: number;
  readonly counters: SessionCounters = {
    frames: 0,
    tcp: 0,
    skipped: { truncated: 0, malformed: 0, notIp: 0, notTcp: 0, other: 0 },
    reasons: {},
    flows: 0,
    linkType: null,
  };
  private readonly db: Db;
  private readonly batchFrames: number;
  private readonly holdAdvances: number;
  private readonly sentAdvances: PendingAdvances;
  private readonly ackAdvances: PendingAdvances;
  private readonly tracker: FlowTracker;
  private readonly decoded = new DecodedFrame();
  private readonly facts = new SegmentFacts();
  /** frames.id of frame_no 0: a number while exact, else BigInt arithmetic. */
  private readonly idBase: number;
  private readonly idBaseBig: bigint;
  private readonly idIsSafe: boolean;
  private currentFrameId: number | bigint = 0;
  // pending rows: full chunks of ROWS_PER_INSERT rows, and the one being filled
  private chunks: unknown[][] = [];
  /** Written chunks, reused: fewer 2200-slot arrays for the garbage collector. */
  private spareChunks: unknown[][] = [];
  private chunk: unknown[] = new Array(ROWS_PER_INSERT * NCOL);
  private chunkRows = 0;
  private pendingFrames = 0;
  private pendingSacks: unknown[][] = [];
  private pendingTags: unknown[][] = [];
  private pendingRetransmissions: unknown[][] = [];
  /** counters.frames when the counters were last written into the sessions row. */
  private framesInSessionRow = 0;
  /** The tracker's loss counters already added to counters.reasons. */
  private readonly trackerLossesCounted = TRACKER_LOSSES.map(() => 0);
  private readonly insertFrameChunk: Statement;
  private readonly insertFrameStatements = new Map<number, Statement>();
  private readonly insertFlow: Statement;
  private readonly updateFlow: Statement;
  private readonly insertSack: Statement;
  private readonly insertTag: Statement;
  private readonly insertRetransmission: Statement;
  private readonly sessionExists: Statement;
  /**
   * Called as `.immediate`: the transaction begins with a read (does the session still
   * exist?), and a deferred one would then have to upgrade its read lock to a write lock,
   * which in WAL mode fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT, no
   * busy wait) whenever another connection committed in between (the service ingesting
   * completions during a live capture). BEGIN IMMEDIATE takes the write lock first and
   * waits for it like any writer.
   */
  private readonly writePending: Transaction<(withAdvances: boolean) => void>;

  constructor(db: Db, sessionId: number, options: FrameWriterOptions = {}) {
    this.db = db;
    this.sessionId = sessionId;
    this.batchFrames = options.batchFrames ?? 20000;
    this.holdAdvances = options.holdAdvances ?? 0;
    this.sentAdvances = new PendingAdvances(db, 'sent_advances', 'sent_max', 'seq_off');
    this.ackAdvances = new PendingAdvances(db, 'ack_advances', 'acked_max', null);
    // frame ids: core/frame-id.ts; computed inline here because this is the per-frame hot path
    this.idBase = sessionId * FRAMES_PER_SESSION;
    this.idBaseBig = BigInt(sessionId) * BigInt(FRAMES_PER_SESSION);
    this.idIsSafe = Number.isSafeInteger(this.idBase + FRAMES_PER_SESSION);
    const ids = frameIdRange(sessionId);
    // continue after frames already stored (a session is written by one writer at a time)
    const maxId = db
      .prepare('SELECT MAX(id) FROM frames WHERE id BETWEEN ? AND ?')
      .pluck()
      .safeIntegers(true)
      .get(ids.first, ids.last) as bigint | null;
    this.resumeCounters(maxId === null ? 0 : Number(maxId - this.idBaseBig));
    this.tracker = new FlowTracker(
      options.tags === false ? null : (flow, dir, off, tag, ts) => this.onTag(flow, dir, off, tag, ts),
      { maxFlows: options.maxFlows },
    );
    this.insertFrameChunk = this.frameInsert(ROWS_PER_INSERT);
    this.insertFlow = db.prepare(
      `INSERT INTO flows (session_id, ip_version, a_addr, a_port, b_addr, b_port, first_ns, last_ns)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.updateFlow = db.prepare(
      `UPDATE flows SET a_isn = ?, b_isn = ?, a_syn_seen = ?, b_syn_seen = ?, a_mss = ?, b_mss = ?,
         a_wscale = ?, b_wscale = ?, sack_permitted = ?, last_ns = ?, frames = ?, a_bytes = ?, b_bytes = ?,
         retransmits = ?, closed = ? WHERE id = ?`,
    );
    this.insertSack = db.prepare(
      'INSERT INTO sacks (frame_id, flow_id, dir, ts_ns, left_off, right_off) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.insertTag = db.prepare(
      `INSERT OR REPLACE INTO tags (flow_id, dir, stream_off, write_id, claimed_off, claimed_len, frame_id, ts_ns)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.sessionExists = db.prepare('SELECT 1 FROM sessions WHERE id = ?').pluck();
    this.insertRetransmission = db.prepare(
      'INSERT INTO retransmissions (flow_id, dir, start_off, end_off, ts_ns, frame_id) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.writePending = db.transaction((withAdvances: boolean) => this.writePendingRows(withAdvances));
  }

  /** Frames handed to addFrame (or counted as copies) so far; the last frame_no used. */
  get lastFrameNo(): number {
    return this.counters.frames;
  }

  /** See the signature at the top of this file. */
  addFrame(
    linkType: number,
    tsNs: bigint,
    caplen: number,
    wirelen: number,
    bytes: Uint8Array,
    byteOffset = 0,
    fileOffset?: number,
  ): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.addFrameView(linkType, tsNs, caplen, wirelen, view, byteOffset, fileOffset);
  }

  /** addFrame for a caller that already holds a DataView over the bytes (the file import). */
  addFrameView(
    linkType: number,
    tsNs: bigint,
    caplen: number,
    wirelen: number,
    view: DataView,
    byteOffset: number,
    fileOffset?: number,
  ): void {
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
    const frameId = this.idIsSafe ? this.idBase + frameNo : this.idBaseBig + BigInt(frameNo);
    this.currentFrameId = frameId;
    const facts = this.facts;
    this.tracker.track(f, view, tsNs, facts);
    const flow = facts.flow!;
    if (facts.newFlow) this.storeFlow(flow);

    const row = this.chunk;
    let i = this.chunkRows * NCOL;
    row[i++] = frameId;
    row[i++] = this.sessionId;
    row[i++] = frameNo;
    row[i++] = flow.id;
    row[i++] = facts.dir;
    row[i++] = tsNs;
    row[i++] = caplen;
    row[i++] = wirelen;
    row[i++] = f.flags;
    row[i++] = f.seq;
    row[i++] = f.ack;
    row[i++] = facts.seqOff;
    row[i++] = f.payloadLen;
    row[i++] = Number.isNaN(facts.ackOff) ? null : facts.ackOff;
    row[i++] = facts.window;
    row[i++] = facts.retransmit ? 1 : 0;
    row[i++] = facts.sentMax;
    row[i++] = Number.isNaN(facts.ackedMax) ? null : facts.ackedMax;
    row[i++] = facts.sentAdvanced ? 1 : 0;
    row[i++] = facts.ackAdvanced ? 1 : 0;
    row[i++] = facts.sackCount;
    row[i++] = fileOffset ?? null;
    if (facts.sentAdvanced) this.sentAdvances.add(flow.id, facts.dir, facts.sentMax, tsNs, facts.seqOff);
    // bytes of a hole (below the maximum, never seen): first transmissions too, each a row
    // of its own so "when did byte X first leave" finds them (keys stay unique: the
    // first-transmission ranges of a direction never overlap)
    const fill = facts.fill;
    for (let h = 0; h < fill.count; h++) this.sentAdvances.add(flow.id, facts.dir, fill.end[h], tsNs, fill.start[h]);
    if (facts.retransmit && !Number.isNaN(facts.retransmitStart)) {
      this.pendingRetransmissions.push([flow.id, facts.dir, facts.retransmitStart, facts.retransmitEnd, tsNs, frameId]);
    }
    if (facts.ackAdvanced) this.ackAdvances.add(flow.id, facts.dir, facts.ackedMax, tsNs);
    for (let s = 0; s < facts.sackCount; s++) {
      this.pendingSacks.push([frameId, flow.id, facts.dir, tsNs, facts.sackLeftOff[s], facts.sackRightOff[s]]);
    }
    this.pendingFrames++;
    if (++this.chunkRows === ROWS_PER_INSERT) {
      this.chunks.push(this.chunk);
      this.chunk = this.spareChunks.pop() ?? new Array(ROWS_PER_INSERT * NCOL);
      this.chunkRows = 0;
    }
    if (this.pendingFrames >= this.batchFrames) this.flush();
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
   * Writes pending rows, dirty flows and the counters in one transaction (advance rows
   * too, unless fewer than `holdAdvances` are pending).
   */
  flush(): void {
    this.writePending.immediate(this.sentAdvances.pending + this.ackAdvances.pending >= this.holdAdvances);
  }

  /** Writes everything pending, advance rows included, and the final counters into the sessions row. */
  finish(): SessionCounters {
    this.writePending.immediate(true);
    return this.counters;
  }

  /** Deletes every row of this session in frames, sacks, tags and flows (an import that failed). */
  discard(): void {
    const c = this.counters;
    c.frames = c.tcp = c.flows = 0;
    c.skipped = { truncated: 0, malformed: 0, notIp: 0, notTcp: 0, other: 0 };
    c.reasons = {};
    c.linkType = null;
    this.framesInSessionRow = 0;
    this.chunks = [];
    this.chunkRows = 0;
    this.pendingFrames = 0;
    this.pendingSacks = [];
    this.pendingTags = [];
    this.pendingRetransmissions = [];
    this.sentAdvances.discard();
    this.ackAdvances.discard();
    this.db.transaction(() => {
      this.db
        .prepare('DELETE FROM frames WHERE id BETWEEN ? AND ?')
        .run(frameIdRange(this.sessionId).first, frameIdRange(this.sessionId).last);
      // sacks, tags, retransmissions cascade; sent_advances, ack_advances go by trigger (005_frame_advances.sql)
      this.db.prepare('DELETE FROM flows WHERE session_id = ?').run(this.sessionId);
      updateSession(this.db, this.sessionId, {
        link_type: null,
        frames_total: 0,
        frames_tcp: 0,
        skipped_truncated: 0,
        skipped_malformed: 0,
        skipped_not_ip: 0,
        skipped_not_tcp: 0,
        skipped_other: 0,
        skip_reasons: null,
      });
    })();
  }

  /**
   * A session written before (a writer per session at a time, but possibly one after
   * another): counts and frame numbers go on from what its row and frames say.
   */
  private resumeCounters(lastStoredFrameNo: number): void {
    const row = getSession(this.db, this.sessionId);
    if (!row) return;
    const c = this.counters;
    c.frames = Math.max(row.frames_total, lastStoredFrameNo);
    c.tcp = row.frames_tcp;
    c.skipped.truncated = row.skipped_truncated;
    c.skipped.malformed = row.skipped_malformed;
    c.skipped.notIp = row.skipped_not_ip;
    c.skipped.notTcp = row.skipped_not_tcp;
    c.skipped.other = row.skipped_other;
    c.reasons = row.skip_reasons ? (JSON.parse(row.skip_reasons) as Record<string, number>) : {};
    this.framesInSessionRow = c.frames;
    c.linkType = row.link_type;
    c.flows = this.db.prepare('SELECT COUNT(*) FROM flows WHERE session_id = ?').pluck().get(this.sessionId) as number;
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

  private storeFlow(flow: FlowState): void {
    const info = this.insertFlow.run(
      this.sessionId,
      flow.ipVersion,
      addressText(flow.aAddr),
      flow.aPort,
      addressText(flow.bAddr),
      flow.bPort,
      flow.firstNs,
      flow.lastNs,
    );
    flow.id = Number(info.lastInsertRowid);
    this.counters.flows++;
  }

  private onTag(flow: TagFlow, dir: number, streamOff: number, tag: WriteTag | null, tsNs: bigint): void {
    this.pendingTags.push([
      flow,
      dir,
      streamOff,
      tag ? tag.writeId : null,
      tag ? tag.offset : null,
      tag ? tag.length : null,
      this.currentFrameId,
      tsNs,
    ]);
  }

  private frameInsert(rows: number): Statement {
    const one = `(${FRAME_COLUMNS.map(() => '?').join(', ')})`;
    return this.db.prepare(`INSERT INTO frames (${FRAME_COLUMNS.join(', ')}) VALUES ${new Array(rows).fill(one).join(', ')}`);
  }

  private writePendingRows(withAdvances: boolean): void {
    // inside the write transaction: a session deleted meanwhile (another connection, an
    // import refused too late) gets no more rows, which would otherwise outlive it
    if (this.sessionExists.get(this.sessionId) === undefined) throw sessionNotFound(this.sessionId);
    for (const chunk of this.chunks) {
      // spread, not the array: better-sqlite3 reads call arguments faster than array
      // elements (1M frame rows: 2.5-2.6 -> 1.9-2.0 CPU-s of import, docs/import.md "Import speed")
      this.insertFrameChunk.run(...chunk);
      this.spareChunks.push(chunk);
    }
    if (this.chunkRows > 0) {
      let stmt = this.insertFrameStatements.get(this.chunkRows);
      if (!stmt) {
        stmt = this.frameInsert(this.chunkRows);
        this.insertFrameStatements.set(this.chunkRows, stmt);
      }
      stmt.run(this.chunk.slice(0, this.chunkRows * NCOL));
    }
    this.chunks = [];
    this.chunkRows = 0;
    this.pendingFrames = 0;
    for (const sack of this.pendingSacks) this.insertSack.run(sack);
    this.pendingSacks = [];
    for (const range of this.pendingRetransmissions) this.insertRetransmission.run(range);
    this.pendingRetransmissions = [];
    if (withAdvances) {
      this.sentAdvances.write();
      this.ackAdvances.write();
    }
    for (const tag of this.pendingTags) {
      tag[0] = (tag[0] as TagFlow).id; // a new flow gets its id after its first segment was scanned
      this.insertTag.run(tag);
    }
    this.pendingTags = [];
    for (const flow of this.tracker.takeDirty()) {
      this.updateFlow.run(
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
        flow.id,
      );
    }
    const c = this.counters;
    // Every counter moves with a frame read: no new frame, nothing to write. A live
    // capture flushes every 100 ms, and rewriting the row (updated_ns) each time would
    // invalidate the correlation cache of an idle capture every 100 ms.
    if (c.frames === this.framesInSessionRow) return;
    this.framesInSessionRow = c.frames;
    this.countTrackerLosses();
    updateSession(this.db, this.sessionId, {
      link_type: c.linkType,
      frames_total: c.frames,
      frames_tcp: c.tcp,
      skipped_truncated: c.skipped.truncated,
      skipped_malformed: c.skipped.malformed,
      skipped_not_ip: c.skipped.notIp,
      skipped_not_tcp: c.skipped.notTcp,
      skipped_other: c.skipped.other,
      skip_reasons: JSON.stringify(c.reasons),
    });
  }
}
