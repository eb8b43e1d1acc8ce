/** Pure formatting for the page (no DOM): nanosecond strings, shares, byte counts. */

export { STAGE_COLORS } from '../../../core/stages.js';
import { KERNEL_MOMENTS } from './shapes.js';

/** Marker colours: apart from every stage colour. */
export const EVENT_COLORS = { firstWire: '#3b6fd8', lastWire: '#8e44ad', ack: '#1b1b1b', retransmit: '#d62728' } as const;

/**
 * The kernel tracer's moments on the timeline, one marker kind each (KERNEL_MOMENTS order):
 * told apart by shape first (an ECharts symbol, and the glyph the page's text uses for it),
 * then by a colour apart from the stages, the capture's markers and the selection.
 */
export const KERNEL_MARKERS = [
  { glyph: '■', symbol: 'rect', color: '#00838f' },
  { glyph: '▼', symbol: 'path://M0,0L10,0L5,10Z', color: '#8d6e63' },
  { glyph: '▶', symbol: 'path://M0,0L10,5L0,10Z', color: '#e65100' },
  { glyph: '✚', symbol: 'path://M3.5,0H6.5V3.5H10V6.5H6.5V10H3.5V6.5H0V3.5H3.5Z', color: '#1b5e20' },
  { glyph: '✖', symbol: 'path://M2,0L5,3L8,0L10,2L7,5L10,8L8,10L5,7L2,10L0,8L3,5L0,2Z', color: '#6a1b9a' },
] as const satisfies readonly { glyph: string; symbol: string; color: string }[];

/** Above this many writes drawn, the kernel markers start hidden (five per write would bury the bars); the legend shows them. */
export const KERNEL_MARKERS_SHOWN_UP_TO = 2000;

/**
 * The kernel markers of a timeline: per moment (KERNEL_MOMENTS order) the points
 * [time µs, write id, row] of the writes whose witness saw it; rows without a witness, or
 * a moment not seen, have none. Empty lists everywhere: the session was not traced.
 */
export function kernelMarkerPoints(data: { shown: number; writeId: number[]; kernelUs?: ((number | null)[] | null)[] }): [number, number, number][][] {
  const points = KERNEL_MOMENTS.map(() => [] as [number, number, number][]);
  for (let i = 0; i < data.shown; i++) {
    const k = data.kernelUs?.[i];
    if (!k) continue;
    KERNEL_MOMENTS.forEach((_, m) => {
      const t = k[m];
      if (t !== null && t !== undefined) points[m].push([t, data.writeId[i], i]);
    });
  }
  return points;
}

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

/**
 * A Wireshark display filter that selects exactly these frames of the exported pcapng:
 * ackscope numbers frames the way Wireshark does (1-based, every packet of the capture),
 * so frame numbers are exact where a sequence-number filter would need the raw ISN and
 * its wrap. Consecutive numbers are written as ranges (`a..b`) to keep it short; members
 * are separated by commas (Wireshark 4 refuses the older space-separated sets).
 */
export function wiresharkFilter(frameNumbers: readonly number[]): string {
  const sorted = [...new Set(frameNumbers)].sort((a, b) => a - b);
  if (sorted.length === 0) return '';
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j - i >= 2 ? `${sorted[i]}..${sorted[j]}` : sorted.slice(i, j + 1).join(', '));
    i = j + 1;
  }
  return `frame.number in {${parts.join(', ')}}`;
}

/** A write's flag bits (shapes.ts WRITE_FLAGS) as their names. */
export function flagNames(bits: number, names: readonly string[]): string[] {
  return names.filter((_, i) => (bits & (1 << i)) !== 0);
}

/** What hovering write `i` of a timeline shows: its record and its correlation, as lines of text. */
export function writeHoverLines(
  data: {
    writeId: number[]; offsetStart: number[]; offsetEnd: number[]; submittedUs: number[]; completedUs: number[];
    firstWireUs: (number | null)[]; lastWireUs: (number | null)[]; ackedUs: (number | null)[]; stage: number[];
    decidingGapNs: (number | null)[]; decidingEvent: (string | null)[]; reason: (string | null)[]; flags: number[];
    decidedBy?: string[]; kernelUs?: ((number | null)[] | null)[];
  },
  i: number,
  stageNames: readonly string[],
  flagNamesList: readonly string[],
): string[] {
  const sub = data.submittedUs[i];
  const since = (v: number | null) => (v === null ? 'not seen' : `${formatUs(v - sub)} after submit`);
  const stage = stageNames[data.stage[i]] ?? 'unknown';
  const reason = data.reason[i];
  const gap = data.decidingGapNs[i];
  const flags = flagNames(data.flags[i], flagNamesList);
  const kernel = data.kernelUs?.[i] ?? null;
  const decidedBy = data.decidedBy?.[i];
  return [
    `write ${data.writeId[i]}: ${stage}${reason ? ` (${reason})` : ''}`,
    `bytes ${data.offsetStart[i]}–${data.offsetEnd[i]} (${formatBytes(data.offsetEnd[i] - data.offsetStart[i])})`,
    `completed ${formatUs(data.completedUs[i] - sub)} after submit`,
    `first wire ${since(data.firstWireUs[i])}`,
    `last wire ${since(data.lastWireUs[i])}`,
    `ACK ${since(data.ackedUs[i])}`,
    `deciding gap ${gap === null ? '–' : `${formatNs(gap)}${data.decidingEvent[i] ? ` to ${data.decidingEvent[i]}` : ''}`}`,
    `flags ${flags.length > 0 ? flags.join(', ') : 'none'}`,
    ...(kernel === null
      ? []
      : [`kernel: ${KERNEL_MOMENTS.map((m, k) => `${m.label} ${kernel[k] === null ? 'not seen' : formatUs(kernel[k]! - sub)}`).join(', ')}`]),
    ...(decidedBy && decidedBy !== 'capture' ? [`decided by ${decidedBy === 'both' ? 'the capture and the kernel' : 'the kernel'}`] : []),
  ];
}

/** An interface as the picker lists it: name, addresses, and whether it is up. */
export function interfaceLabel(i: { name: string; addresses: string[]; loopback: boolean; up: boolean; description?: string }): string {
  const addrs = i.addresses.length > 0 ? i.addresses.join(', ') : 'no address';
  const notes = [i.loopback ? 'loopback' : null, i.up ? null : 'down'].filter(Boolean).join(', ');
  return `${i.name} — ${addrs}${notes ? ` (${notes})` : ''}`;
}

/** Upload progress: "1.2 MiB of 4.0 MiB (30%)". */
export function progressText(loaded: number, total: number): string {
  if (total <= 0) return formatBytes(loaded);
  return `${formatBytes(loaded)} of ${formatBytes(total)} (${Math.min(100, Math.floor((loaded / total) * 100))}%)`;
}

/** A refusal of the service in words: what it means for the user first, the service's own message after. */
export function refusalText(status: number, code: string, message: string): string {
  const lead: Record<string, string> = {
    ACKSCOPE_ERR_PAYLOAD_TOO_LARGE: 'The file is larger than the service accepts',
    ACKSCOPE_ERR_CAPTURE_FILE: 'This is not a capture file the service can read (pcap or pcapng)',
    ACKSCOPE_ERR_CAPTURE_FILTER: 'The capture filter does not compile',
    ACKSCOPE_ERR_CAPTURE_INTERFACE: 'The interface cannot be captured on',
    ACKSCOPE_ERR_CAPTURE_PERMISSION: 'The service may not capture (it needs root or CAP_NET_RAW)',
    ACKSCOPE_ERR_CAPTURE_UNAVAILABLE: 'Live capture is not available on this service',
    ACKSCOPE_ERR_SESSION_STATE: 'The session cannot do that in its current state',
    ACKSCOPE_ERR_VALIDATION: 'The service refused a field',
  };
  if (status === 0) return message;
  const first = lead[code] ?? (status === 401 ? 'The service needs a valid token' : `The service refused (HTTP ${status})`);
  return `${first}: ${message}`;
}

/** Session ids of the compare view (#/compare?ids=3,5,8), in the order given, without repeats. */
export function parseCompareIds(hash: string): number[] {
  const m = /[?&]ids=([0-9,]+)/.exec(hash);
  if (!m) return [];
  return [...new Set(m[1].split(',').filter(Boolean).map(Number))].filter((n) => Number.isSafeInteger(n) && n > 0);
}

/** What the compare chart draws per session: stage shares (0..1) and submit→complete percentiles (ns). */
export interface CompareRow {
  label: string;
  completions: number;
  shares: Record<string, number>;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export function compareRow(
  label: string,
  overall: { completions: number; stages: Record<string, { share: number } | undefined>; gaps: { submitToComplete: { p50: string | null; p90: string | null; p99: string | null } } },
  stageNames: readonly string[],
): CompareRow {
  const num = (v: string | null) => (v === null ? null : Number(v));
  const g = overall.gaps.submitToComplete;
  return {
    label,
    completions: overall.completions,
    shares: Object.fromEntries(stageNames.map((s) => [s, overall.stages[s]?.share ?? 0])),
    p50: num(g.p50),
    p90: num(g.p90),
    p99: num(g.p99),
  };
}
