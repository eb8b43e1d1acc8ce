/**
 * Finding write tags (capture/decode/tag.ts) on the wire, per flow and direction.
 * The first header is due at offset 0, each next one at offset + length of the previous.
 * A direction whose SYN the capture missed (it started mid-stream) has no offset 0 to
 * look at: its first-transmission bytes are searched for the first whole header (within
 * SEARCH_LIMIT_BYTES), whose claimed offset aligns the sender's offsets with the
 * capture's, and the walk goes on from there.
 * Only first-transmission bytes are looked at. A header may be split across two
 * segments. A direction whose offset 0 carries no header is untagged (no row); after
 * that, a due header that is absent is recorded as a row with writeId null and the
 * scan stops (the next due offset is unknown). Bytes the capture did not keep (snaplen,
 * a capture gap) stop the scan too, without a row: absent and unseen are not the same.
 */
import { decodeTag, TAG_BYTES, TAG_VERSION, type WriteTag } from '../decode/tag.js';

const TAG_PREFIX = [0x41, 0x4b, 0x53, 0x54, TAG_VERSION]; // "AKST", version

/** Whether the first n bytes (n < 24) can still be the start of a header. */
function startsLikeTag(view: DataView, at: number, n: number): boolean {
  for (let i = 0; i < n && i < TAG_PREFIX.length; i++) if (view.getUint8(at + i) !== TAG_PREFIX[i]) return false;
  return true;
}

/**
 * Receives each header found (or due and absent: tag null). `tag` is reused: copy its
 * fields. `flow` is the tracker's flow object (its database id may be set later).
 */
export type TagSink = (flow: TagFlow, dir: number, streamOff: number, tag: WriteTag | null, tsNs: bigint) => void;

export interface TagFlow {
  id: number;
}

const WAITING_FIRST = 0;
const TRACKING = 1;
const OFF = 2;

/**
 * How many first-transmission bytes of a mid-stream direction are searched for a first
 * header before giving up: a tagged write of up to this size shows its header within it
 * (ackscope send's sizes go to a few hundred KiB); an untagged stream costs one native
 * byte search over this much and no more.
 */
export const SEARCH_LIMIT_BYTES = 8 * 1024 * 1024;
const MAGIC_BYTES = Buffer.from(TAG_PREFIX);

export class TagScanner {
  private state = WAITING_FIRST;
  /** Stream offset where the next header is due. */
  private due = 0;
  /** Bytes of a header split across segments (allocated on first use). */
  private partial: Uint8Array | null = null;
  private partialLen = 0;
  private readonly found: WriteTag = { writeId: 0, length: 0, offset: 0 };
  /** Mid-stream: bytes searched for a first header so far. */
  private searched = 0;
  /** Claimed offset − capture offset, from the first header found (0 when the SYN was seen); null before. */
  private shift: number | null = null;

  get active(): boolean {
    return this.state !== OFF;
  }

  /**
   * Looks at a segment [start, end) whose bytes past `sentBefore` are a first
   * transmission; its captured payload is view[payloadAt, payloadAt + captured).
   */
  scan(
    flow: TagFlow,
    dir: number,
    start: number,
    end: number,
    sentBefore: number,
    view: DataView,
    payloadAt: number,
    captured: number,
    tsNs: bigint,
    sink: TagSink,
    midStream = false,
  ): void {
    const capturedEnd = start + captured;
    if (this.state === WAITING_FIRST && midStream && !this.seekFirst(start, sentBefore, view, payloadAt, captured)) return;
    while (this.state !== OFF && this.due < end) {
      const headerAt = this.due;
      if (this.partialLen > 0) {
        // continue a header split across segments
        const from = headerAt + this.partialLen;
        if (from < start || from >= capturedEnd) return this.stop();
        const n = Math.min(TAG_BYTES - this.partialLen, capturedEnd - from);
        for (let i = 0; i < n; i++) this.partial![this.partialLen + i] = view.getUint8(payloadAt + (from - start) + i);
        this.partialLen += n;
        if (this.partialLen < TAG_BYTES) {
          if (capturedEnd < end) return this.stop(); // the rest was not captured
          return; // wait for the next segment
        }
        this.partialLen = 0;
        const ok = decodeTag(new DataView(this.partial!.buffer), 0, this.found);
        this.record(flow, dir, headerAt, ok, tsNs, sink);
        continue;
      }
      if (headerAt < sentBefore) return this.stop(); // its bytes were seen, and passed over
      if (headerAt < start) {
        // The due header is in bytes not seen yet (reordered past the live reorder window,
        // or lost): walk on from the next whole header in this segment; the headers in the
        // gap are read if its bytes arrive later (scanFilled).
        if (!this.resync(start, view, payloadAt, captured)) return;
        continue;
      }
      const rel = headerAt - start;
      if (rel >= captured) return this.stop();
      const available = captured - rel;
      if (available < TAG_BYTES) {
        if (!startsLikeTag(view, payloadAt + rel, available)) {
          this.record(flow, dir, headerAt, false, tsNs, sink);
          continue;
        }
        if (capturedEnd < end) return this.stop(); // cut by the snaplen
        if (!this.partial) this.partial = new Uint8Array(TAG_BYTES);
        for (let i = 0; i < available; i++) this.partial[i] = view.getUint8(payloadAt + rel + i);
        this.partialLen = available;
        return;
      }
      const ok = decodeTag(view, payloadAt + rel, this.found);
      this.record(flow, dir, headerAt, ok, tsNs, sink);
    }
  }

  /**
   * After a gap: the first whole header of this segment whose claimed offset matches the
   * known shift becomes due. False when the segment has none.
   */
  private resync(start: number, view: DataView, payloadAt: number, captured: number): boolean {
    const at = this.findHeader(start, start, start + captured, view, payloadAt);
    if (at === null) return false;
    this.due = at;
    return true;
  }

  /**
   * Bytes of a gap that arrived late ([from, to), first transmissions inside a segment that
   * starts at `start`): records every whole header in them that agrees with the known
   * shift, without moving the walk. A header split at the gap's edge is not read.
   */
  scanFilled(flow: TagFlow, dir: number, start: number, from: number, to: number, view: DataView, payloadAt: number, captured: number, tsNs: bigint, sink: TagSink): void {
    if (this.shift === null) return;
    const end = Math.min(to, start + captured);
    for (let at = this.findHeader(start, from, end, view, payloadAt); at !== null; at = this.findHeader(start, at + 1, end, view, payloadAt)) {
      sink(flow, dir, at, this.found, tsNs);
    }
  }

  /** The first whole header starting in [from, to) of a segment at `start` whose claim agrees with the shift (when known). */
  private findHeader(start: number, from: number, to: number, view: DataView, payloadAt: number): number | null {
    if (to - from < TAG_BYTES) return null;
    const bytes = Buffer.from(view.buffer, view.byteOffset + payloadAt, to - start);
    let rel = bytes.indexOf(MAGIC_BYTES, from - start);
    while (rel >= 0 && start + rel + TAG_BYTES <= to) {
      const at = start + rel;
      if (
        bytes[rel + 5] === 0 && bytes[rel + 6] === 0 && bytes[rel + 7] === 0 &&
        decodeTag(view, payloadAt + rel, this.found) && this.found.length >= TAG_BYTES &&
        (this.shift === null || this.found.offset - at === this.shift)
      ) return at;
      rel = bytes.indexOf(MAGIC_BYTES, rel + 1);
    }
    return null;
  }

  /**
   * Mid-stream: looks for the first whole header among the segment's first-transmission
   * captured bytes and makes it due. A header split across segments is passed over (the
   * next write's is whole); so is a match whose reserved bytes are not zero or whose
   * length is shorter than a header (payload that merely looks like one).
   */
  private seekFirst(start: number, sentBefore: number, view: DataView, payloadAt: number, captured: number): boolean {
    const from = Math.max(start, sentBefore) - start;
    if (from >= captured) return false;
    const bytes = Buffer.from(view.buffer, view.byteOffset + payloadAt, captured);
    let at = bytes.indexOf(MAGIC_BYTES, from);
    while (at >= 0 && at + TAG_BYTES <= captured) {
      if (bytes[at + 5] === 0 && bytes[at + 6] === 0 && bytes[at + 7] === 0 && decodeTag(view, payloadAt + at, this.found) && this.found.length >= TAG_BYTES) {
        this.due = start + at;
        return true;
      }
      at = bytes.indexOf(MAGIC_BYTES, at + 1);
    }
    this.searched += captured - from;
    if (this.searched >= SEARCH_LIMIT_BYTES) this.stop();
    return false;
  }

  private record(flow: TagFlow, dir: number, at: number, ok: boolean, tsNs: bigint, sink: TagSink): void {
    if (!ok) {
      if (this.state === TRACKING) sink(flow, dir, at, null, tsNs);
      this.stop();
      return;
    }
    sink(flow, dir, at, this.found, tsNs);
    this.shift ??= this.found.offset - at;
    this.state = TRACKING;
    if (this.found.length < TAG_BYTES) {
      this.stop(); // a header claiming less than itself: the next offset is unknown
      return;
    }
    this.due = at + this.found.length;
  }

  private stop(): void {
    this.state = OFF;
    this.partialLen = 0;
  }
}
