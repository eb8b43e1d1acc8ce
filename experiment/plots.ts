/**
 * The report's plots, as SVG drawn by ECharts' server-side renderer (renderer 'svg',
 * ssr true, renderToSVGString). Each plot is an option builder (pure, tested) plus one
 * render call; every chart is disposed, since an undisposed one keeps the process alive.
 * Large series are thinned here first (100k+ points make ECharts slow and the SVG huge).
 */
import * as echarts from 'echarts';
import type { CustomSeriesOption, CustomSeriesRenderItem, EChartsOption } from 'echarts';
import { STAGE_COLORS, stagesShown } from '../core/stages.js';
import { type AckPoint, type PointResult, type RunDetail, type SegmentPoint, type Stage } from './results.js';

export { STAGE_COLORS };

/** Most points a series keeps in a plot. */
export const MAX_SERIES_POINTS = 3000;

/** Renders an option to an SVG string and always disposes the chart. */
export function renderSvg(option: EChartsOption, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

// ---------------------------------------------------------------------------------------
// Thinning

/**
 * At most `max` segments: the time span is cut into buckets and each keeps the segment
 * that reached furthest (what a time-sequence graph shows); retransmissions are kept
 * first, since they are the rare events a reader looks for.
 */
export function downsampleSegments(segments: readonly SegmentPoint[], max = MAX_SERIES_POINTS): SegmentPoint[] {
  if (segments.length <= max) return [...segments];
  const retrans = segments.filter((s) => s.retransmit);
  const keptRetrans = retrans.length > max / 2 ? strided(retrans, Math.floor(max / 2)) : retrans;
  const firsts = segments.filter((s) => !s.retransmit);
  const budget = max - keptRetrans.length;
  return [...bucketMax(firsts, budget, (s) => s.tMs, (s) => s.offsetEnd), ...keptRetrans].sort((a, b) => a.tMs - b.tMs);
}

/** At most `max` ACKs: the last (highest, ACKs being cumulative) of each time bucket. */
export function downsampleAcks(acks: readonly AckPoint[], max = MAX_SERIES_POINTS): AckPoint[] {
  if (acks.length <= max) return [...acks];
  return bucketMax(acks, max, (a) => a.tMs, (a) => a.ackOffset);
}

function strided<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const step = items.length / max;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(items[Math.floor(i * step)]);
  return out;
}

function bucketMax<T>(items: readonly T[], max: number, x: (t: T) => number, y: (t: T) => number): T[] {
  if (items.length <= max || max <= 0) return max <= 0 ? [] : [...items];
  let lo = Infinity;
  let hi = -Infinity;
  for (const it of items) {
    lo = Math.min(lo, x(it));
    hi = Math.max(hi, x(it));
  }
  const width = (hi - lo) / max || 1;
  const best = new Map<number, T>();
  for (const it of items) {
    const b = Math.min(max - 1, Math.floor((x(it) - lo) / width));
    const cur = best.get(b);
    if (cur === undefined || y(it) > y(cur)) best.set(b, it);
  }
  return [...best.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

// ---------------------------------------------------------------------------------------
// Stage share per configuration

/** Horizontal stacked bars: one bar per point, the share of its completions at each stage. */
export function stageShareOption(results: readonly PointResult[]): EChartsOption {
  const measured = results.filter((r) => r.measurement && r.measurement.completions > 0);
  const labels = measured.map((r) => `${r.point.index + 1}. ${r.point.label}`);
  const shown = stagesShown((s) => measured.reduce((n, r) => n + r.measurement!.stages[s], 0));
  return {
    title: { text: 'Stage of each completion, share per configuration', left: 'center', textStyle: { fontSize: 14 } },
    legend: { top: 30, data: [...shown], itemGap: 28 },
    // SSR has no text measuring, so containLabel misjudges long labels: size the margin from them
    grid: { left: labelMargin(labels, 10), right: 30, top: 64, bottom: 40 },
    xAxis: { type: 'value', min: 0, max: 100, name: '% of completions', nameLocation: 'middle', nameGap: 22 },
    yAxis: { type: 'category', data: labels, inverse: true, axisLabel: { fontSize: 10 } },
    series: shown.map((stage) => ({
      name: stage,
      type: 'bar' as const,
      stack: 'share',
      itemStyle: { color: STAGE_COLORS[stage] },
      data: measured.map((r) => {
        const m = r.measurement!;
        return Math.round((m.stages[stage] / m.completions) * 1000) / 10;
      }),
    })),
  };
}

/** Left margin that fits the longest category label at `fontSize` (about 0.6 em per character). */
export function labelMargin(labels: readonly string[], fontSize: number): number {
  const longest = labels.reduce((n, l) => Math.max(n, l.length), 0);
  return Math.min(640, 16 + Math.ceil(longest * fontSize * 0.6));
}

export function stageSharePlot(results: readonly PointResult[]): string {
  const measured = results.filter((r) => r.measurement && r.measurement.completions > 0);
  const margin = labelMargin(measured.map((r) => `${r.point.index + 1}. ${r.point.label}`), 10);
  return renderSvg(stageShareOption(results), Math.max(960, margin + 520), 120 + Math.max(1, measured.length) * 24);
}

// ---------------------------------------------------------------------------------------
// Completion time against wire and ACK times, one run

/** Per write: when it was submitted, completed, its last byte left, and it was acked. */
export function completionTimesOption(detail: RunDetail): EChartsOption {
  const rows = strided(detail.completions, MAX_SERIES_POINTS);
  const series = (name: string, color: string, symbol: string, size: number, pick: (c: RunDetail['completions'][number]) => number | null) => ({
    name,
    type: 'scatter' as const,
    symbol,
    symbolSize: size,
    itemStyle: { color },
    data: rows.filter((c) => pick(c) !== null).map((c) => [c.writeId, round3(pick(c)!)]),
  });
  return {
    title: {
      text: `Completion vs wire and ACK times — ${detail.label}`,
      left: 'center',
      textStyle: { fontSize: 13 },
    },
    legend: { top: 30, itemGap: 28 },
    grid: { left: 60, right: 30, top: 60, bottom: 50 },
    tooltip: {},
    xAxis: { type: 'value', name: 'write id (posting order)', nameLocation: 'middle', nameGap: 28, min: 'dataMin', max: 'dataMax' },
    yAxis: { type: 'value', name: 'ms since first submission', nameLocation: 'middle', nameGap: 45 },
    // drawn in this order: on a short path the ACK follows the last byte within
    // microseconds, so the hollow ACK squares sit around the wire triangles
    series: [
      series('acked', '#3d8bd6', 'emptyRect', 9, (c) => c.ackedMs),
      series('last byte on the wire', '#e8a93d', 'triangle', 5, (c) => c.lastWireMs),
      series('submitted', '#999999', 'circle', 4, (c) => c.submittedMs),
      series('completed', '#d6453d', 'diamond', 6, (c) => c.completedMs),
    ],
  };
}

export function completionTimesPlot(detail: RunDetail): string {
  return renderSvg(completionTimesOption(detail), 960, 480);
}

// ---------------------------------------------------------------------------------------
// tcptrace-style time-sequence graph, one run

/**
 * Time on x, stream offset on y: each data segment as a vertical bar from its first to
 * its last byte (retransmissions in red), the cumulative ACK as a step line, and a
 * marker at (completion time, write end offset) for every completion.
 */
export function timeSequenceOption(detail: RunDetail): EChartsOption {
  const segments = downsampleSegments(detail.segments);
  const acks = downsampleAcks(detail.acks);
  const completions = strided(detail.completions, MAX_SERIES_POINTS);
  const bars = (retransmit: boolean): CustomSeriesOption => {
    const color = retransmit ? '#d6453d' : '#1f5fa8';
    const renderItem: CustomSeriesRenderItem = (_params, api) => {
      const top = api.coord([api.value(0), api.value(2)]);
      const bottom = api.coord([api.value(0), api.value(1)]);
      // at least one pixel tall, so a small segment still shows
      return {
        type: 'line',
        shape: { x1: top[0], y1: top[1], x2: bottom[0], y2: Math.max(bottom[1], top[1] + 1) },
        style: { stroke: color, lineWidth: 2 },
      };
    };
    return {
      name: retransmit ? 'retransmission' : 'segment sent',
      type: 'custom',
      itemStyle: { color },
      renderItem,
      encode: { x: 0, y: [1, 2] },
      data: segments.filter((s) => s.retransmit === retransmit).map((s) => [round3(s.tMs), s.offsetStart, s.offsetEnd]),
    };
  };
  return {
    title: { text: `Time-sequence graph — ${detail.label}`, left: 'center', textStyle: { fontSize: 13 } },
    legend: { top: 30, itemGap: 28, data: ['segment sent', 'retransmission', 'cumulative ACK', 'completion'] },
    grid: { left: 80, right: 30, top: 60, bottom: 50 },
    // from the first submission (or an earlier data segment): the handshake's ACK would
    // otherwise stretch the axis into time when nothing was being sent
    xAxis: { type: 'value', name: 'ms since first submission', nameLocation: 'middle', nameGap: 28, min: timeSequenceStart(detail), max: 'dataMax' },
    yAxis: { type: 'value', name: 'stream offset (bytes)', nameLocation: 'middle', nameGap: 62, min: 0 },
    // the ACK line first: with a short RTT it runs along the segments' tops, which are drawn over it
    series: [
      {
        name: 'cumulative ACK',
        type: 'line',
        step: 'end',
        symbol: 'none',
        lineStyle: { color: '#4caf7a', width: 1 },
        itemStyle: { color: '#4caf7a' },
        data: acks.map((a) => [round3(a.tMs), a.ackOffset]),
      },
      bars(false),
      bars(true),
      {
        name: 'completion',
        type: 'scatter',
        symbol: 'triangle',
        symbolSize: 7,
        itemStyle: { color: '#d6453d' },
        data: completions.map((c) => [round3(c.completedMs), c.offsetEnd]),
      },
    ],
  };
}

/** Left end of the time-sequence graph: 0 (first submission) or the first data segment if earlier (pure). */
export function timeSequenceStart(detail: RunDetail): number {
  const first = detail.segments.reduce((min, seg) => Math.min(min, seg.tMs), 0);
  return Math.floor(first);
}

export function timeSequencePlot(detail: RunDetail): string {
  return renderSvg(timeSequenceOption(detail), 960, 560);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
