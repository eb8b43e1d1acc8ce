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

/**
 * How far before or after its session's time span a completion may lie: 2^52 ns ≈ 52
 * days. Times are computed relative to one base inside the span and stay exact only
 * within ±2^53 ns ≈ 104 days of it; half of that keeps any two accepted times exact
 * against any base. A completion farther away comes from a wrong clock.
 */
export const MAX_DISTANCE_FROM_SESSION_NS = 1n << 52n;

/** The times a session's completions must stay near: its capture's, else what else it has. */
export interface SessionTimeSpan {
  startNs: bigint;
  endNs: bigint;
  /** What the span is taken from, for the message. */
  from: 'capture' | 'live session' | 'completions';
}

/** How far `ns` lies outside the span (negative: before it, positive: after, 0: inside). */
export function distanceFromSpan(ns: bigint, span: SessionTimeSpan): bigint {
  if (ns < span.startNs) return ns - span.startNs;
  if (ns > span.endNs) return ns - span.endNs;
  return 0n;
}

/** Epoch ns as an ISO date (for messages), or the number itself when out of Date's range. */
export function isoOf(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ns} ns`;
}
