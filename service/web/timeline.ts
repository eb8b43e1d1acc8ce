/**
 * Pure: a flow's correlation records as the page's timeline columns (src/shapes.ts),
 * thinned when there are more writes than a chart draws smoothly.
 */
import type { CorrelationRecord } from '../../correlate/types.js';
import { KERNEL_MOMENTS, STAGE_NAMES, WRITE_FLAGS, type TimelineData, type WriteFlag } from './src/shapes.js';

/** Writes drawn per flow before thinning (a canvas chart of 20k bars still zooms smoothly). */
export const MAX_TIMELINE_WRITES = 20_000;

const toUs = (relNs: number, baseRelNs: number) => (relNs - baseRelNs) / 1000;
const toUsOrNull = (relNs: number | null, baseRelNs: number) => (relNs === null ? null : toUs(relNs, baseRelNs));

/**
 * At most `max` records, in submission order. The budget is shared among the stages:
 * each present stage first gets up to max / (10 × stages), the rest goes by count, so a
 * rare stage stays visible while the colours roughly keep their shares. Within a stage the
 * submission span is cut into buckets and each keeps its write with the longest
 * submit → complete: the slow writes are what a reader zooms in on, and a plain stride
 * would drop them.
 */
export function thinWrites(sorted: readonly CorrelationRecord[], max: number): CorrelationRecord[] {
  if (sorted.length <= max) return [...sorted];
  if (max <= 0) return [];
  const byStage = new Map<string, CorrelationRecord[]>();
  for (const r of sorted) {
    let list = byStage.get(r.stage);
    if (!list) byStage.set(r.stage, (list = []));
    list.push(r);
  }
  const groups = [...byStage.values()];
  const floorEach = Math.floor(max / (10 * groups.length));
  const floors = groups.map((g) => Math.min(g.length, floorEach));
  const rest = max - floors.reduce((a, b) => a + b, 0);
  const beyond = groups.reduce((n, g, i) => n + g.length - floors[i], 0);
  const kept: CorrelationRecord[] = [];
  groups.forEach((g, i) => {
    const quota = floors[i] + (beyond === 0 ? 0 : Math.floor((rest * (g.length - floors[i])) / beyond));
    kept.push(...slowestPerBucket(g, quota));
  });
  return kept.sort(bySubmission);
}

function slowestPerBucket(sorted: readonly CorrelationRecord[], max: number): CorrelationRecord[] {
  if (sorted.length <= max) return [...sorted];
  if (max <= 0) return [];
  const lo = sorted[0].submittedNs;
  const width = (sorted[sorted.length - 1].submittedNs - lo) / max || 1;
  const kept = new Map<number, CorrelationRecord>();
  for (const r of sorted) {
    const bucket = Math.min(max - 1, Math.floor((r.submittedNs - lo) / width));
    const current = kept.get(bucket);
    if (current === undefined || r.submitToCompleteNs > current.submitToCompleteNs) kept.set(bucket, r);
  }
  return [...kept.values()];
}

const bySubmission = (a: CorrelationRecord, b: CorrelationRecord) =>
  a.submittedNs - b.submittedNs || a.completionId - b.completionId;

/**
 * The timeline of one flow (`flowId` null: completions no flow matched). `baseRelNs` is
 * the session-relative time the columns count from, `baseNs` the same as epoch ns.
 */
export function timelineColumns(
  sessionId: number,
  records: readonly CorrelationRecord[],
  flowId: number | null,
  base: { baseNs: string; baseRelNs: number },
  max = MAX_TIMELINE_WRITES,
): TimelineData {
  const ofFlow = records.filter((r) => r.flowId === flowId).sort(bySubmission);
  const rows = thinWrites(ofFlow, max);
  const b = base.baseRelNs;
  return {
    sessionId,
    flowId,
    baseNs: base.baseNs,
    total: ofFlow.length,
    shown: rows.length,
    writeId: rows.map((r) => r.writeId),
    offsetStart: rows.map((r) => r.offsetStart),
    offsetEnd: rows.map((r) => r.offsetEnd),
    submittedUs: rows.map((r) => toUs(r.submittedNs, b)),
    completedUs: rows.map((r) => toUs(r.completedNs, b)),
    firstWireUs: rows.map((r) => toUsOrNull(r.firstWireNs, b)),
    lastWireUs: rows.map((r) => toUsOrNull(r.lastWireNs, b)),
    ackedUs: rows.map((r) => toUsOrNull(r.ackedNs, b)),
    stage: rows.map((r) => STAGE_NAMES.indexOf(r.stage)),
    completionId: rows.map((r) => r.completionId),
    decidingGapNs: rows.map((r) => r.decidingGapNs),
    decidingEvent: rows.map((r) => r.decidingEvent),
    reason: rows.map((r) => r.reason),
    flags: rows.map(writeFlagBits),
    decidedBy: rows.map((r) => r.decidedBy),
    kernelUs: rows.map((r) => {
      const k = r.kernel;
      return k === null ? null : KERNEL_MOMENTS.map((m) => toUsOrNull(k[m.key], b));
    }),
  };
}

const bit = (flag: WriteFlag) => 1 << WRITE_FLAGS.indexOf(flag);

/** A record's flags as WRITE_FLAGS bits. */
export function writeFlagBits(r: CorrelationRecord): number {
  return (
    (r.nearBoundary ? bit('near-boundary') : 0) |
    (r.uncertain ? bit('uncertain') : 0) |
    (r.retransmitted ? bit('retransmitted') : 0) |
    (r.bytesReported < r.offsetEnd - r.offsetStart ? bit('partial') : 0) |
    (r.status !== 'ok' ? bit('failed') : 0)
  );
}
