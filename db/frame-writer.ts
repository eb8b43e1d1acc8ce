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
import type { Db } from './connection.js';
import { getSession } from './sessions.js';
import { discardSessionFrames, FrameRowWriter } from './frame-rows.js';
import { emptyCounters, FramePacker, type SessionCounters } from '../capture/frame-packer.js';
import { frameIdRange } from '../core/frame-id.js';

export type { SessionCounters };

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

export class FrameWriter {
  readonly sessionId: number;
  private readonly db: Db;
  private readonly packer: FramePacker;
  private readonly rows: FrameRowWriter;

  constructor(db: Db, sessionId: number, options: FrameWriterOptions = {}) {
    this.db = db;
    this.sessionId = sessionId;
    const resume = storedCounters(db, sessionId);
    this.packer = new FramePacker({ ...options, resume });
    this.rows = new FrameRowWriter(db, sessionId, resume.frames);
  }

  /** Live view of what the session saw (frames, tcp, skipped, reasons, flows). */
  get counters(): SessionCounters {
    return this.packer.counters;
  }

  /** Frames handed to addFrame (or counted as copies) so far; the last frame_no used. */
  get lastFrameNo(): number {
    return this.packer.counters.frames;
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

  /** addFrame for a caller that already holds a DataView over the bytes. */
  addFrameView(
    linkType: number,
    tsNs: bigint,
    caplen: number,
    wirelen: number,
    view: DataView,
    byteOffset: number,
    fileOffset?: number,
  ): void {
    this.packer.add(linkType, tsNs, caplen, wirelen, view, byteOffset, fileOffset);
    if (this.packer.full) this.flush();
  }

  /** A packet read but not kept (a pcapng copy of one already kept): capture/frame-packer.ts countCopy. */
  countCopy(): void {
    this.packer.countCopy();
  }

  /**
   * Writes pending rows, dirty flows and the counters in one transaction (advance rows
   * too, unless fewer than `holdAdvances` are pending).
   */
  flush(): void {
    this.rows.write(this.packer.take());
  }

  /** Writes everything pending, advance rows included, and the final counters into the sessions row. */
  finish(): SessionCounters {
    this.rows.write(this.packer.take(true));
    return this.packer.counters;
  }

  /** Deletes every row of this session in frames, sacks, tags and flows (an import that failed). */
  discard(): void {
    this.packer.reset();
    discardSessionFrames(this.db, this.sessionId);
  }
}

/**
 * What a session written before says (a writer per session at a time, but possibly one
 * after another): counts and frame numbers go on from its row and its frames.
 */
export function storedCounters(db: Db, sessionId: number): SessionCounters {
  const c = emptyCounters();
  const row = getSession(db, sessionId);
  if (!row) return c;
  const ids = frameIdRange(sessionId);
  const maxId = db
    .prepare('SELECT MAX(id) FROM frames WHERE id BETWEEN ? AND ?')
    .pluck()
    .safeIntegers(true)
    .get(ids.first, ids.last) as bigint | null;
  const lastStoredFrameNo = maxId === null ? 0 : Number(maxId - (ids.first - 1n));
  c.frames = Math.max(row.frames_total, lastStoredFrameNo);
  c.tcp = row.frames_tcp;
  c.skipped.truncated = row.skipped_truncated;
  c.skipped.malformed = row.skipped_malformed;
  c.skipped.notIp = row.skipped_not_ip;
  c.skipped.notTcp = row.skipped_not_tcp;
  c.skipped.other = row.skipped_other;
  c.reasons = row.skip_reasons ? (JSON.parse(row.skip_reasons) as Record<string, number>) : {};
  c.linkType = row.link_type;
  c.flows = db.prepare('SELECT COUNT(*) FROM flows WHERE session_id = ?').pluck().get(sessionId) as number;
  return c;
}
