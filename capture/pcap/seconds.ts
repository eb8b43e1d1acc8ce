/**
 * Whole seconds as BigInt nanoseconds, remembering the last one: packets come in time
 * order, so most share their second with the packet before and cost no BigInt multiply
 * (STYLE.md: convert once). Used by both capture-file readers.
 */
export class WholeSecondsNs {
  private readonly offsetNs: bigint;
  private lastSec = -1;
  private lastSecNs = 0n;

  /** `offsetNs` is added to every result (pcapng's if_tsoffset). */
  constructor(offsetNs = 0n) {
    this.offsetNs = offsetNs;
  }

  /** sec × 10^9 + offsetNs. */
  of(sec: number): bigint {
    if (sec !== this.lastSec) {
      this.lastSec = sec;
      this.lastSecNs = BigInt(sec) * 1_000_000_000n + this.offsetNs;
    }
    return this.lastSecNs;
  }
}
