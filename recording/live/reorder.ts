/**
 * A short reorder window for live frames, pure (no I/O). On `lo` a frame is stamped when
 * it is queued to a CPU's backlog and reaches the packet socket when that backlog is
 * processed, so a sender that moves between CPUs has segments delivered out of stamp
 * order, and the addon cuts batches by count and time, not by stamp: the disorder can
 * straddle two batches. Taken as delivered, a later segment passes the first-transmission
 * mark first. Here frames are handed on in stamp order: a frame waits until a frame
 * stamped `boundNs` after it was seen (the next batch, usually), until the clock passed
 * it by the quiet bound (releaseBefore, for a capture gone quiet), or until stop (drain).
 * A frame arriving behind what was already handed on cannot be placed any more: it goes
 * out at once and is counted in `late` (the flow tracker still fills its hole).
 */
export class ReorderWindow<T extends { tsNs: bigint }> {
  /** Frames in stamp order (equal stamps in arrival order). */
  private held: T[] = [];
  /** Frames stamped at or before this were handed on or go out at once. */
  private edgeNs: bigint | null = null;
  /** Stamp of the last frame handed on. */
  private lastOutNs: bigint | null = null;
  /** Frames that arrived older than a frame already handed on. */
  late = 0;

  /** `boundNs`: how far behind the newest stamp a frame may still arrive; `capacity`: frames held at most. */
  constructor(
    readonly boundNs: bigint,
    readonly capacity: number,
  ) {}

  get heldCount(): number {
    return this.held.length;
  }

  /** Takes one batch (in delivery order); returns the frames now due, in stamp order. */
  push(frames: readonly T[]): T[] {
    const out: T[] = [];
    const held = this.held;
    let inOrder = true;
    let newest: bigint | null = held.length > 0 ? held[held.length - 1].tsNs : null;
    for (const f of frames) {
      if (this.edgeNs !== null && f.tsNs <= this.edgeNs && held.length === 0) {
        this.handOn(f, out);
        continue;
      }
      if (held.length > 0 && f.tsNs < held[held.length - 1].tsNs) inOrder = false;
      held.push(f);
      if (newest === null || f.tsNs > newest) newest = f.tsNs;
    }
    // Array.prototype.sort is stable: equal stamps keep their arrival order
    if (!inOrder) held.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0));
    if (newest !== null) this.release(newest - this.boundNs, out);
    return out;
  }

  /** Hands on the frames stamped before `cutoffNs` (the wall clock minus a quiet bound). */
  releaseBefore(cutoffNs: bigint): T[] {
    const out: T[] = [];
    this.release(cutoffNs - 1n, out);
    return out;
  }

  /** Every frame held, in stamp order (the capture stopped). */
  drain(): T[] {
    const out: T[] = [];
    for (const f of this.held) this.handOn(f, out);
    this.held = [];
    return out;
  }

  /** Hands on the frames stamped at or before `edgeNs`, and the oldest beyond the capacity. */
  private release(edgeNs: bigint, out: T[]): void {
    if (this.edgeNs === null || edgeNs > this.edgeNs) this.edgeNs = edgeNs;
    const held = this.held;
    let n = 0;
    while (n < held.length && (held[n].tsNs <= this.edgeNs || held.length - n > this.capacity)) {
      this.handOn(held[n], out);
      n++;
    }
    if (n > 0) this.held = held.slice(n);
  }

  private handOn(f: T, out: T[]): void {
    if (this.lastOutNs !== null && f.tsNs < this.lastOutNs) this.late++;
    else this.lastOutNs = f.tsNs;
    out.push(f);
  }
}
