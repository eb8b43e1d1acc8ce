/** Pure formatting for the page (no DOM): nanosecond strings, shares, byte counts. */

export { STAGE_COLORS } from '../../../core/stages.js';

/** Marker colours: apart from every stage colour. */
export const EVENT_COLORS = { firstWire: '#3b6fd8', lastWire: '#8e44ad', ack: '#1b1b1b', retransmit: '#d62728' } as const;

/** Signed nanoseconds (decimal string or number) as a short human duration: "850 ns", "12.3 µs", "4.56 ms", "1.20 s". */
export function formatNs(ns: string | number | null | undefined): string {
  if (ns === null || ns === undefined) return '–';
  const n = typeof ns === 'number' ? ns : Number(ns);
  if (!Number.isFinite(n)) return String(ns);
  const a = Math.abs(n);
  if (a < 1e3) return `${n} ns`;
  if (a < 1e6) return `${(n / 1e3).toFixed(a < 1e4 ? 2 : 1)} µs`;
  if (a < 1e9) return `${(n / 1e6).toFixed(a < 1e7 ? 2 : 1)} ms`;
  return `${(n / 1e9).toFixed(2)} s`;
}

/** Microseconds (a chart axis value) as a duration. */
export const formatUs = (us: number) => formatNs(Math.round(us * 1000));

/** A share 0..1 as a percentage with one decimal; "0%" exactly for none. */
export function formatShare(share: number): string {
  if (share === 0) return '0%';
  const pct = share * 100;
  return pct < 0.1 ? '<0.1%' : `${pct.toFixed(1)}%`;
}

/** Epoch ns (decimal string) as an ISO time with microseconds, for people. */
export function formatEpochNs(ns: string | null): string {
  if (ns === null) return '–';
  const big = BigInt(ns);
  const ms = Number(big / 1_000_000n);
  const subMs = Number(big % 1_000_000n);
  const iso = new Date(ms).toISOString(); // 2026-11-25T09:00:00.123Z
  return `${iso.slice(0, 23)}${String(subMs).padStart(6, '0').slice(0, 3)}Z`;
}

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? '–' : n.toLocaleString('en-US');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Difference of two epoch-ns decimal strings, in microseconds (exact in BigInt, then one float). */
export function usBetween(fromNs: string, toNs: string): number {
  return Number(BigInt(toNs) - BigInt(fromNs)) / 1000;
}
