/**
 * Time as ackscope keeps it: integer nanoseconds since the Unix epoch (CLOCK_REALTIME of
 * the capture host), BigInt at the edges; inside a computation, numbers relative to a
 * base (exact within ±2^53 ns ≈ ±104 days of it).
 */

/** Now, epoch ns, at millisecond resolution: bookkeeping times (created, started), never a measurement. */
export function wallClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

/** Relative ns → epoch ns decimal string. */
export function absoluteNs(c: { baseNs: bigint }, relNs: number): string {
  return (c.baseNs + BigInt(relNs)).toString();
}

/** Epoch ns (BigInt or decimal string) → ns relative to the base. */
export function relativeNs(c: { baseNs: bigint }, epochNs: bigint | string): number {
  return Number(BigInt(epochNs) - c.baseNs);
}
