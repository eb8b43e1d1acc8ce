/**
 * The byte ranges of one direction that lie below its highest byte seen but were never
 * seen themselves: holes. Segments reach a capture out of order (on `lo` a frame is
 * stamped on one CPU's backlog and delivered from another's; multi-queue NICs; a
 * capture on the receiver), so a segment below the highest byte seen is a first
 * transmission when its bytes fall into a hole, and a retransmission only for the bytes
 * seen before. Bounded: a capture gap that never fills would otherwise keep its hole
 * for the flow's life; past the bound the lowest hole is forgotten and counted, and its
 * bytes then read as seen (the tracker's behaviour before holes were kept).
 */

/** Holes kept per direction; a reordering spans a few segments, a lossy capture more. */
export const MAX_HOLES_PER_DIRECTION = 16;

/** What one segment did to the holes (a record the caller owns, overwritten each time). */
export class HoleFill {
  /** Hole portions the segment filled, in offset order (at most one per hole kept). */
  count = 0;
  readonly start = new Float64Array(MAX_HOLES_PER_DIRECTION);
  readonly end = new Float64Array(MAX_HOLES_PER_DIRECTION);
  /** First and last byte (end, exclusive) of the segment's part below the highest byte seen that was seen before; NaN when none. */
  seenStart = NaN;
  seenEnd = NaN;
}

export class SentHoles {
  /** Sorted, disjoint [start, end) pairs; allocated on the first hole. */
  private starts: number[] | null = null;
  private ends: number[] | null = null;

  get count(): number {
    return this.starts === null ? 0 : this.starts.length;
  }

  /**
   * Adds the hole [start, end) above every hole kept. Returns how many holes were
   * forgotten to stay within the bound (0 or 1).
   */
  open(start: number, end: number): number {
    if (this.starts === null || this.ends === null) {
      this.starts = [];
      this.ends = [];
    }
    this.starts.push(start);
    this.ends.push(end);
    if (this.starts.length <= MAX_HOLES_PER_DIRECTION) return 0;
    this.starts.shift();
    this.ends.shift();
    return 1;
  }

  /**
   * The bytes [start, end), all below the highest byte seen: fills the holes they cover
   * (recorded in `out`) and reports the span of the rest, the bytes seen before.
   * Returns how many holes were forgotten to stay within the bound (a segment inside a
   * hole splits it in two).
   */
  fill(start: number, end: number, out: HoleFill): number {
    out.count = 0;
    out.seenStart = NaN;
    out.seenEnd = NaN;
    let cursor = start;
    const starts = this.starts;
    const ends = this.ends;
    if (starts !== null && ends !== null) {
      for (let i = 0; i < starts.length && starts[i] < end; ) {
        const hs = starts[i];
        const he = ends[i];
        if (he <= cursor) {
          i++;
          continue;
        }
        if (hs > cursor) this.seen(cursor, hs, out);
        const fs = Math.max(hs, cursor);
        const fe = Math.min(he, end);
        out.start[out.count] = fs;
        out.end[out.count] = fe;
        out.count++;
        cursor = fe;
        // what is left of the hole: below the fill, above it, both, or nothing
        if (hs < fs && fe < he) {
          ends[i] = fs;
          starts.splice(i + 1, 0, fe);
          ends.splice(i + 1, 0, he);
          i += 2;
        } else if (hs < fs) {
          ends[i] = fs;
          i++;
        } else if (fe < he) {
          starts[i] = fe;
          i++;
        } else {
          starts.splice(i, 1);
          ends.splice(i, 1);
        }
      }
    }
    if (cursor < end) this.seen(cursor, end, out);
    let forgotten = 0;
    while (starts !== null && ends !== null && starts.length > MAX_HOLES_PER_DIRECTION) {
      starts.shift();
      ends.shift();
      forgotten++;
    }
    return forgotten;
  }

  private seen(start: number, end: number, out: HoleFill): void {
    if (Number.isNaN(out.seenStart)) out.seenStart = start;
    out.seenEnd = end;
  }
}
