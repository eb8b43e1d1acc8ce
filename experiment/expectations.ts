/**
 * The expectations, checked against what was measured rather than assumed. Each
 * check returns the measured numbers and whether they bear the expectation out; `holds`
 * is null when the matrix has no point that could tell. Pure functions.
 */
import type { PointResult, Stage } from './results.js';

export interface ExpectationCheck {
  id: 'slow-default-queued' | 'small-sndbuf-stopped-reader' | 'whole-and-in-order' | 'no-partial';
  expectation: string;
  measured: string;
  holds: boolean | null;
  /** 1-based point numbers the check used. */
  points: number[];
}

/** A bottleneck at or below this rate counts as "slow" (20 Mbit/s is the example). */
export const SLOW_RATE_BPS = 100e6;
/** An explicit SO_SNDBUF at or below this counts as "small". */
export const SMALL_SNDBUF_BYTES = 16_384;

function measuredPoints(results: readonly PointResult[]): PointResult[] {
  return results.filter((r) => r.status === 'ok' && r.measurement !== null && r.measurement.completions > 0);
}

function sumStages(points: readonly PointResult[], stages: readonly Stage[]): { hit: number; total: number } {
  let hit = 0;
  let total = 0;
  for (const r of points) {
    const m = r.measurement!;
    total += m.completions;
    for (const s of stages) hit += m.stages[s];
  }
  return { hit, total };
}

export function pct(hit: number, total: number): string {
  if (total === 0) return '–';
  const p = (hit / total) * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

const isSlow = (r: PointResult) => r.point.path.kind === 'veth' && r.point.path.rateBps !== null && r.point.path.rateBps <= SLOW_RATE_BPS;
const isSmallSndbuf = (r: PointResult) => r.point.sndbuf !== null && r.point.sndbuf <= SMALL_SNDBUF_BYTES;

/** Slow bottleneck + default send buffer → Node's completions mostly `queued`. */
export function checkSlowDefaultQueued(results: readonly PointResult[]): ExpectationCheck {
  const pts = measuredPoints(results).filter((r) => r.point.sender === 'node' && isSlow(r) && r.point.sndbuf === null);
  const { hit, total } = sumStages(pts, ['queued']);
  return {
    id: 'slow-default-queued',
    expectation: 'with a slow bottleneck and the default send buffer, Node write completions are mostly `queued`',
    measured:
      pts.length === 0
        ? 'no point of this matrix has a Node sender, a bottleneck ≤ 100 Mbit/s and the default SO_SNDBUF'
        : `${pct(hit, total)} of ${total} completions were queued (${pts.length} point${pts.length === 1 ? '' : 's'})`,
    holds: pts.length === 0 ? null : hit * 2 > total,
    points: pts.map((r) => r.point.index + 1),
  };
}

/**
 * Small SO_SNDBUF + a receiver that stops reading → completions move toward `wire`/`acked`:
 * their share of wire+acked is compared with the same sender's default-buffer points.
 */
export function checkSmallSndbufStoppedReader(results: readonly PointResult[]): ExpectationCheck {
  const all = measuredPoints(results);
  const moved = all.filter((r) => isSmallSndbuf(r) && r.point.receiver.behaviour === 'stops');
  const baseline = all.filter((r) => r.point.sndbuf === null && moved.some((m) => m.point.sender === r.point.sender));
  const a = sumStages(moved, ['wire', 'acked']);
  const b = sumStages(baseline, ['wire', 'acked']);
  const a2 = sumStages(moved, ['partial-wire', 'wire', 'acked']);
  const b2 = sumStages(baseline, ['partial-wire', 'wire', 'acked']);
  if (moved.length === 0 || baseline.length === 0) {
    return {
      id: 'small-sndbuf-stopped-reader',
      expectation: 'with a small SO_SNDBUF and a receiver that stops reading, completions move toward `wire`/`acked`',
      measured: 'the matrix needs points with a small SO_SNDBUF and a stopping receiver, and points with the default SO_SNDBUF',
      holds: null,
      points: [],
    };
  }
  // Which of the two changed the stages? The same small buffer with a receiver that keeps reading tells.
  const smallReading = all.filter((r) => isSmallSndbuf(r) && r.point.receiver.behaviour !== 'stops' && moved.some((m) => m.point.sender === r.point.sender));
  const c = sumStages(smallReading, ['wire', 'acked']);
  let attribution = '';
  if (smallReading.length > 0) {
    const share = (x: { hit: number; total: number }) => x.hit / x.total;
    const close = Math.abs(share(a) - share(c)) < 0.1;
    attribution =
      `; with the same small SO_SNDBUF and a receiver that keeps reading: ${pct(c.hit, c.total)} of ${c.total}` +
      (close ? ' — the small send buffer, not the stopped receiver, moved the stages' : '');
  }
  return {
    id: 'small-sndbuf-stopped-reader',
    expectation: 'with a small SO_SNDBUF and a receiver that stops reading, completions move toward `wire`/`acked`',
    measured:
      `wire or acked: ${pct(a.hit, a.total)} of ${a.total} completions with SO_SNDBUF ≤ ${SMALL_SNDBUF_BYTES} and a stopping receiver, ` +
      `against ${pct(b.hit, b.total)} of ${b.total} with the default SO_SNDBUF; ` +
      `any byte on the wire (partial-wire, wire or acked): ${pct(a2.hit, a2.total)} against ${pct(b2.hit, b2.total)}` +
      attribution,
    holds: a.hit / a.total > b.hit / b.total,
    points: moved.map((r) => r.point.index + 1),
  };
}

/** Overlapped and vectored writes on one socket reach the wire whole and in posting order. */
export function checkWholeAndInOrder(results: readonly PointResult[]): ExpectationCheck {
  const pts = measuredPoints(results).filter((r) => r.point.mode.mode !== 'serial');
  const judged = pts.filter((r) => r.measurement!.ordering.verdict === 'in-order' || r.measurement!.ordering.verdict === 'violated');
  const violated = judged.filter((r) => r.measurement!.ordering.verdict === 'violated');
  const writes = judged.reduce((n, r) => n + r.measurement!.ordering.writesChecked, 0);
  let measured: string;
  if (judged.length === 0) measured = 'no overlapped or vectored point with tagged writes was judged';
  else if (violated.length === 0) measured = `${writes} tagged writes in ${judged.length} point${judged.length === 1 ? '' : 's'}: every one whole and in posting order`;
  else {
    const first = violated[0];
    measured =
      `${violated.length} of ${judged.length} points broke the order; first, point ${first.point.index + 1}: ` +
      `${first.measurement!.ordering.firstViolation ?? 'no detail'}`;
  }
  return {
    id: 'whole-and-in-order',
    expectation: 'overlapped and vectored writes on one socket reach the wire whole and in posting order',
    measured,
    holds: judged.length === 0 ? null : violated.length === 0,
    points: judged.map((r) => r.point.index + 1),
  };
}

/**
 * A non-blocking POSIX send() may take fewer bytes than asked: that short return IS the
 * partial completion the question asks about, recorded as one by design (sender/c). The
 * same holds for a traced command, whose records are its system calls as they returned.
 * Such points are counted apart; the expectation is about every other API and mode.
 */
export function expectsShortReturns(r: PointResult): boolean {
  return (r.point.sender === 'posix' && r.point.mode.mode !== 'serial') || r.point.command !== null;
}

/** No completion reports fewer bytes than were submitted (per sender kind). */
export function checkNoPartial(results: readonly PointResult[]): ExpectationCheck {
  const all = measuredPoints(results);
  const pts = all.filter((r) => !expectsShortReturns(r));
  const bySender = new Map<string, { partial: number; total: number }>();
  for (const r of pts) {
    const e = bySender.get(r.point.sender) ?? { partial: 0, total: 0 };
    e.partial += r.measurement!.partial.count;
    e.total += r.measurement!.completions;
    bySender.set(r.point.sender, e);
  }
  const parts = [...bySender.entries()].map(([s, e]) => `${s}: ${e.partial} of ${e.total}`);
  const nonBlocking = all.filter(expectsShortReturns);
  if (nonBlocking.length > 0) {
    const partial = nonBlocking.reduce((n, r) => n + r.measurement!.partial.count, 0);
    const total = nonBlocking.reduce((n, r) => n + r.measurement!.completions, 0);
    const which = [
      nonBlocking.some((r) => r.point.command === null) ? 'posix non-blocking send' : null,
      nonBlocking.some((r) => r.point.command !== null) ? 'traced commands' : null,
    ].filter(Boolean);
    parts.push(`${which.join(' and ')} (short returns are partial completions by design, counted apart): ${partial} of ${total}`);
  }
  const partial = [...bySender.values()].reduce((n, e) => n + e.partial, 0);
  return {
    id: 'no-partial',
    expectation: 'no completion reports fewer bytes than were submitted',
    measured: all.length === 0 ? 'nothing measured' : `partial completions — ${parts.join('; ')}`,
    holds: pts.length === 0 ? null : partial === 0,
    points: pts.filter((r) => r.measurement!.partial.count > 0).map((r) => r.point.index + 1),
  };
}

export function checkExpectations(results: readonly PointResult[]): ExpectationCheck[] {
  return [
    checkSlowDefaultQueued(results),
    checkSmallSndbufStoppedReader(results),
    checkWholeAndInOrder(results),
    checkNoPartial(results),
  ];
}
