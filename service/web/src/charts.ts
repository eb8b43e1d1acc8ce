/**
 * The page's two charts as ECharts options (pure builders) and the one place that
 * registers the ECharts parts the bundle needs (echarts/core keeps the bundle to the
 * charts and components used, not all of ECharts).
 *
 * - Timeline: one row per write (y = write id), a bar from submit to completion coloured
 *   by its stage, markers at first wire, last wire and ACK, and — where the kernel tracer
 *   witnessed the write — one marker kind per kernel moment of its last byte (qdisc in,
 *   qdisc out, driver, ACK arrived, ACK processed). One series per stage and per marker
 *   kind, so the legend names them and toggles them.
 * - Time-sequence: stream offset against time: data segments as vertical strokes
 *   (retransmissions red), the cumulative ACK as a step line, and each completion as a
 *   dot at (completedNs, offsetEnd) in its stage colour: where the call returned relative
 *   to the bytes.
 */
import * as echarts from 'echarts/core';
import { BarChart, CustomChart, LineChart, ScatterChart } from 'echarts/charts';
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  TitleComponent,
  ToolboxComponent,
  TooltipComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import type { ComposeOption } from 'echarts/core';
import type { BarSeriesOption, CustomSeriesOption, LineSeriesOption, ScatterSeriesOption } from 'echarts/charts';
import type {
  DataZoomComponentOption,
  GridComponentOption,
  LegendComponentOption,
  TitleComponentOption,
  ToolboxComponentOption,
  TooltipComponentOption,
} from 'echarts/components';
import {
  EVENT_COLORS,
  KERNEL_MARKERS,
  KERNEL_MARKERS_SHOWN_UP_TO,
  STAGE_COLORS,
  formatNs,
  formatShare,
  formatUs,
  kernelMarkerPoints,
  usBetween,
  writeHoverLines,
  type CompareRow,
} from './format.js';
import { KERNEL_MOMENTS, STAGE_NAMES, WRITE_FLAGS, type FrameItem, type SequenceData, type TimelineData } from './shapes.js';

echarts.use([
  BarChart,
  CustomChart,
  LineChart,
  ScatterChart,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  TitleComponent,
  ToolboxComponent,
  TooltipComponent,
  CanvasRenderer,
]);
export { echarts };

export type ChartOption = ComposeOption<
  | BarSeriesOption
  | CustomSeriesOption
  | LineSeriesOption
  | ScatterSeriesOption
  | DataZoomComponentOption
  | GridComponentOption
  | LegendComponentOption
  | TitleComponentOption
  | ToolboxComponentOption
  | TooltipComponentOption
>;

type CustomRender = NonNullable<CustomSeriesOption['renderItem']>;

/** A horizontal bar from value 0 to value 1 on row value 2. */
const renderWriteBar: CustomRender = (params, api) => {
  const start = api.coord([api.value(0), api.value(2)]);
  const end = api.coord([api.value(1), api.value(2)]);
  const rowHeight = Math.max(2, Math.min(12, (api.size?.([0, 1]) as number[])[1] * 0.7));
  const width = Math.max(1, end[0] - start[0]);
  return {
    type: 'rect',
    shape: { x: start[0], y: start[1] - rowHeight / 2, width, height: rowHeight },
    style: { fill: api.visual('color') as string },
  };
};

/** A vertical stroke at time value 0 from offset value 1 to offset value 2. */
const renderSegment: CustomRender = (params, api) => {
  const from = api.coord([api.value(0), api.value(1)]);
  const to = api.coord([api.value(0), api.value(2)]);
  return {
    type: 'line',
    shape: { x1: from[0], y1: from[1], x2: to[0], y2: Math.min(to[1], from[1] - 1) },
    // retransmissions dashed: told apart by more than their colour
    style: { stroke: api.visual('color') as string, lineWidth: 2.5, lineDash: api.value(3) === 1 ? [3, 2] : undefined },
  };
};

/** The selected write's segments: a wide outlined stroke over the plain one. */
const renderSelected: CustomRender = (params, api) => {
  const from = api.coord([api.value(0), api.value(1)]);
  const to = api.coord([api.value(0), api.value(2)]);
  return {
    type: 'line',
    shape: { x1: from[0], y1: from[1], x2: to[0], y2: Math.min(to[1], from[1] - 4) },
    style: { stroke: SELECTED_COLOR, lineWidth: 7, opacity: 0.85 },
  };
};

/** The selected write on the time-sequence graph: magenta, apart from every stage and event colour. */
export const SELECTED_COLOR = '#c2185b';

const timeAxisLabel = { formatter: (v: number) => formatUs(v) };

const zoom = (xFilter: 'weakFilter' | 'none'): DataZoomComponentOption[] => [
  { type: 'inside', xAxisIndex: 0, filterMode: xFilter },
  { type: 'slider', xAxisIndex: 0, filterMode: xFilter, height: 18, bottom: 8, labelFormatter: (v: number) => formatUs(v) },
  { type: 'inside', yAxisIndex: 0, filterMode: 'none', zoomOnMouseWheel: 'shift', moveOnMouseWheel: false },
  { type: 'slider', yAxisIndex: 0, filterMode: 'none', width: 14, right: 8 },
];

const toolbox: ToolboxComponentOption = {
  right: 40,
  feature: { dataZoom: { yAxisIndex: false, title: { zoom: 'zoom to area', back: 'undo zoom' } }, restore: { title: 'reset' } },
};

/** Timeline of one flow's writes: bars by stage plus event markers. Times: µs after data.baseNs. */
export function timelineOption(data: TimelineData): ChartOption {
  const barsByStage = STAGE_NAMES.map(() => [] as [number, number, number, number][]);
  const firstWire: [number, number][] = [];
  const lastWire: [number, number][] = [];
  const acked: [number, number][] = [];
  for (let i = 0; i < data.shown; i++) {
    const row = data.writeId[i];
    barsByStage[data.stage[i]]?.push([data.submittedUs[i], data.completedUs[i], row, i]);
    const f = data.firstWireUs[i];
    const l = data.lastWireUs[i];
    const a = data.ackedUs[i];
    if (f !== null) firstWire.push([f, row]);
    if (l !== null) lastWire.push([l, row]);
    if (a !== null) acked.push([a, row]);
  }
  const big = data.shown > 2000; // large mode: no per-point hover, but fast
  const stageSeries: CustomSeriesOption[] = STAGE_NAMES.map((stage, s) => ({
    type: 'custom',
    name: stage,
    renderItem: renderWriteBar,
    itemStyle: { color: STAGE_COLORS[stage] },
    encode: { x: [0, 1], y: 2 },
    data: barsByStage[s],
    clip: true,
    progressive: 0, // one pass: progressive chunks left 20k-write charts half drawn for seconds in headless Chromium
    animation: false,
  }));
  const marker = (name: string, symbol: string, color: string, points: [number, number][] | [number, number, number][], size = 5): ScatterSeriesOption => ({
    type: 'scatter',
    name,
    symbol,
    symbolSize: size,
    itemStyle: { color, opacity: 0.7 },
    data: points,
    large: big,
    largeThreshold: 2000,
    progressive: 0,
    clip: true,
    animation: false,
  });
  // the kernel tracer's moments: only the kinds some write has, started hidden when there are many writes
  const kernelPoints = kernelMarkerPoints(data);
  const kernelKinds = KERNEL_MOMENTS.map((m, k) => ({ name: `kernel: ${m.label}`, k })).filter(({ k }) => kernelPoints[k].length > 0);
  const kernelSeries = kernelKinds.map(({ name, k }) => ({ ...marker(name, KERNEL_MARKERS[k].symbol, KERNEL_MARKERS[k].color, kernelPoints[k], 8), z: 4 }));
  const hideKernel = data.shown > KERNEL_MARKERS_SHOWN_UP_TO;
  return {
    animation: false,
    grid: { left: 64, right: 48, top: kernelKinds.length > 0 ? 64 : 44, bottom: 56 },
    legend: {
      top: 4,
      left: 8,
      right: 120, // clear of the toolbox: a long legend wraps onto a second line
      data: [...STAGE_NAMES, 'first wire', 'last wire', 'ACK', ...kernelKinds.map((x) => x.name), 'selected write'],
      selected: Object.fromEntries(kernelKinds.map((x) => [x.name, !hideKernel])),
    },
    toolbox,
    tooltip: {
      trigger: 'item',
      className: 'chart-tooltip timeline-tooltip',
      formatter: (p: unknown) => timelineTooltip(data, p as { seriesType: string; data: number[]; seriesName: string }),
    },
    xAxis: {
      type: 'value',
      name: data.flowId === null ? 'time since the first send call' : 'time since flow start',
      nameLocation: 'middle',
      nameGap: 26,
      scale: true,
      axisLabel: timeAxisLabel,
    },
    yAxis: { type: 'value', name: 'write id', nameLocation: 'middle', nameGap: 44, inverse: true, scale: true, minInterval: 1 },
    dataZoom: zoom('weakFilter'),
    series: [
      ...stageSeries,
      marker('first wire', 'triangle', EVENT_COLORS.firstWire, firstWire),
      marker('last wire', 'diamond', EVENT_COLORS.lastWire, lastWire),
      marker('ACK', 'circle', EVENT_COLORS.ack, acked),
      ...kernelSeries,
      timelineSelectedSeries(data, null),
    ],
  };
}

/** The selected write on the timeline: a magenta frame around its row (fixed id, replaced by setOption). */
export function timelineSelectedSeries(data: TimelineData, i: number | null): CustomSeriesOption {
  return {
    id: 'timeline-selected',
    type: 'custom',
    name: 'selected write',
    renderItem: (params, api) => {
      const start = api.coord([api.value(0), api.value(2)]);
      const end = api.coord([api.value(1), api.value(2)]);
      const rowHeight = Math.max(6, Math.min(16, (api.size?.([0, 1]) as number[])[1] * 1.2));
      return {
        type: 'rect',
        shape: { x: start[0] - 4, y: start[1] - rowHeight / 2, width: Math.max(1, end[0] - start[0]) + 8, height: rowHeight },
        style: { fill: 'none', stroke: SELECTED_COLOR, lineWidth: 2 },
      };
    },
    itemStyle: { color: SELECTED_COLOR },
    encode: { x: [0, 1], y: 2 },
    data: i === null ? [] : [[data.submittedUs[i], data.completedUs[i], data.writeId[i], i]],
    z: 10,
    silent: true,
    clip: true,
    animation: false,
  };
}

function timelineTooltip(data: TimelineData, p: { seriesType: string; data: number[]; seriesName: string }): string {
  if (p.seriesType !== 'custom') return `write ${p.data[1]}: ${p.seriesName} at ${formatUs(p.data[0])}`;
  const lines = writeHoverLines(data, p.data[3], STAGE_NAMES, WRITE_FLAGS);
  // text only: the lines hold no markup, escape anyway since ECharts renders the string as HTML
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return [`<b>${esc(lines[0])}</b>`, ...lines.slice(1).map(esc), '<i>click: its packets</i>'].join('<br>');
}

/**
 * Time-sequence of one flow. `completions` (optional) is the flow's timeline, drawn as
 * dots at (completed, offsetEnd); `shiftUs` moves its times onto the sequence's base.
 */
export function sequenceOption(seq: SequenceData, completions?: { data: TimelineData; shiftUs: number }): ChartOption {
  const first: [number, number, number, number][] = [];
  const again: [number, number, number, number][] = [];
  for (let i = 0; i < seq.segments.tUs.length; i++) {
    const again_ = seq.segments.retransmit[i];
    const point: [number, number, number, number] = [seq.segments.tUs[i], seq.segments.seqOff[i], seq.segments.endOff[i], again_ ? 1 : 0];
    (again_ ? again : first).push(point);
  }
  const segmentSeries = (name: string, color: string, data: [number, number, number, number][]): CustomSeriesOption => ({
    type: 'custom',
    name,
    renderItem: renderSegment,
    itemStyle: { color },
    encode: { x: 0, y: [1, 2] },
    data,
    z: 3,
    clip: true,
    progressive: 0, // one pass: progressive chunks left 20k-write charts half drawn for seconds in headless Chromium
    animation: false,
  });
  const series: ChartOption['series'] = [
    segmentSeries('data', '#3b6fd8', first),
    segmentSeries('retransmission', EVENT_COLORS.retransmit, again),
    {
      type: 'line',
      name: 'ACK',
      step: 'end',
      showSymbol: false,
      lineStyle: { color: EVENT_COLORS.ack, width: 1, opacity: 0.6 },
      z: 1, // under the data strokes: on loopback the ACK follows the data closely
      itemStyle: { color: EVENT_COLORS.ack },
      data: seq.acks.tUs.map((t, i) => [t, seq.acks.ackOff[i]]),
      sampling: 'max',
      animation: false,
    },
    ...selectedWriteSeries(seq, null),
  ];
  const legend: string[] = ['data', 'retransmission', 'ACK', 'selected write', 'covering ACK'];
  if (completions) {
    const { data, shiftUs } = completions;
    STAGE_NAMES.forEach((stage, s) => {
      const points: [number, number][] = [];
      for (let i = 0; i < data.shown; i++) if (data.stage[i] === s) points.push([data.completedUs[i] - shiftUs, data.offsetEnd[i]]);
      if (points.length === 0) return;
      legend.push(`completed: ${stage}`);
      series.push({
        type: 'scatter',
        name: `completed: ${stage}`,
        symbol: 'circle',
        symbolSize: 5,
        itemStyle: { color: STAGE_COLORS[stage], borderColor: '#555', borderWidth: 0.5 },
        data: points,
        large: points.length > 2000,
        progressive: 0,
        animation: false,
      });
    });
  }
  return {
    animation: false,
    grid: { left: 80, right: 48, top: 44, bottom: 56 },
    legend: { top: 4, left: 8, data: legend },
    toolbox,
    tooltip: { trigger: 'item', className: 'chart-tooltip', formatter: (p: unknown) => sequenceTooltip(p as { seriesName: string; data: number[] }) },
    xAxis: { type: 'value', name: 'time since flow start', nameLocation: 'middle', nameGap: 26, scale: true, axisLabel: timeAxisLabel },
    yAxis: { type: 'value', name: 'stream offset (bytes)', nameLocation: 'middle', nameGap: 66, scale: true },
    dataZoom: zoom('none'),
    series,
  };
}

function sequenceTooltip(p: { seriesName: string; data: number[] }): string {
  const [t, a, b] = p.data;
  if (p.seriesName === 'data' || p.seriesName === 'retransmission') return `${p.seriesName} ${a}–${b} at ${formatUs(t)}`;
  return `${p.seriesName}: offset ${a} at ${formatUs(t)}`;
}

/**
 * The selected write's frames on the time-sequence graph (two series with fixed ids, so
 * `chart.setOption({ series: selectedWriteSeries(...) })` replaces only them). null: none.
 */
export function selectedWriteSeries(
  seq: SequenceData,
  picked: { frames: FrameItem[]; ack: FrameItem | null } | null,
): [CustomSeriesOption, ScatterSeriesOption] {
  const at = (ns: string) => usBetween(seq.baseNs, ns);
  const data = (picked?.frames ?? []).map((f) => [at(f.tsNs), f.seqOff, f.seqOff + f.payloadLen]);
  const ack = picked?.ack && picked.ack.ackOff !== null ? [[at(picked.ack.tsNs), picked.ack.ackOff]] : [];
  return [
    {
      id: 'selected-write',
      type: 'custom',
      name: 'selected write',
      renderItem: renderSelected,
      itemStyle: { color: SELECTED_COLOR },
      encode: { x: 0, y: [1, 2] },
      data,
      z: 2,
      clip: true,
      animation: false,
    },
    {
      id: 'selected-ack',
      type: 'scatter',
      name: 'covering ACK',
      symbol: 'diamond',
      symbolSize: 16,
      itemStyle: { color: '#fff', borderColor: SELECTED_COLOR, borderWidth: 3 },
      data: ack,
      z: 5,
      animation: false,
    },
  ];
}

/**
 * Sessions side by side in one chart: per session a stacked bar of stage shares (left
 * axis, %) and its submit→complete p50 / p90 / p99 as marks on a log time axis (right).
 */
export function compareOption(rows: readonly CompareRow[]): ChartOption {
  const labels = rows.map((r) => r.label);
  const shareSeries: BarSeriesOption[] = STAGE_NAMES.map((stage) => ({
    type: 'bar',
    name: stage,
    stack: 'stages',
    barMaxWidth: 60,
    itemStyle: { color: STAGE_COLORS[stage], borderColor: '#fff', borderWidth: 1 },
    data: rows.map((r) => +(100 * (r.shares[stage] ?? 0)).toFixed(3)),
    animation: false,
  }));
  const percentile = (name: string, symbol: string, pick: (r: CompareRow) => number | null): ScatterSeriesOption => ({
    type: 'scatter',
    name,
    yAxisIndex: 1,
    symbol,
    symbolSize: 11,
    itemStyle: { color: '#1d2330', borderColor: '#fff', borderWidth: 1 },
    data: rows.map((r) => {
      const v = pick(r);
      return v === null || v <= 0 ? null : v;
    }),
    animation: false,
  });
  return {
    animation: false,
    grid: { left: 64, right: 80, top: 60, bottom: 60 },
    legend: { top: 4, left: 8, data: [...STAGE_NAMES, 'p50', 'p90', 'p99'] },
    tooltip: {
      trigger: 'axis',
      className: 'chart-tooltip',
      formatter: (params: unknown) => {
        const list = params as { dataIndex: number }[];
        const r = rows[list[0]?.dataIndex ?? 0];
        if (!r) return '';
        const shares = STAGE_NAMES.filter((s) => (r.shares[s] ?? 0) > 0).map((s) => `${s} ${formatShare(r.shares[s])}`);
        return [`<b>${r.label.replace(/</g, '&lt;')}</b>`, `${r.completions} completions`, ...shares, `submit→complete p50 ${formatNs(r.p50)}, p90 ${formatNs(r.p90)}, p99 ${formatNs(r.p99)}`].join('<br>');
      },
    },
    xAxis: { type: 'category', data: labels, axisLabel: { interval: 0, width: 140, overflow: 'truncate' } },
    yAxis: [
      { type: 'value', name: 'share of completions (%)', nameLocation: 'middle', nameGap: 40, min: 0, max: 100 },
      { type: 'log', name: 'submit → complete', nameLocation: 'middle', nameGap: 62, axisLabel: { formatter: (v: number) => formatNs(v) }, splitLine: { show: false } },
    ],
    series: [...shareSeries, percentile('p50', 'circle', (r) => r.p50), percentile('p90', 'triangle', (r) => r.p90), percentile('p99', 'rect', (r) => r.p99)],
  };
}
