/**
 * The page's two charts as ECharts options (pure builders) and the one place that
 * registers the ECharts parts the bundle needs (echarts/core keeps the bundle to the
 * charts and components used, not all of ECharts).
 *
 * - Timeline: one row per write (y = write id), a bar from submit to completion coloured
 *   by its stage, markers at first wire, last wire and ACK. One custom series per stage,
 *   so the legend is the stage legend and toggles them.
 * - Time-sequence: stream offset against time: data segments as vertical strokes
 *   (retransmissions red), the cumulative ACK as a step line, and each completion as a
 *   dot at (completedNs, offsetEnd) in its stage colour: where the call returned relative
 *   to the bytes.
 */
import * as echarts from 'echarts/core';
import { CustomChart, LineChart, ScatterChart } from 'echarts/charts';
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
import type { CustomSeriesOption, LineSeriesOption, ScatterSeriesOption } from 'echarts/charts';
import type {
  DataZoomComponentOption,
  GridComponentOption,
  LegendComponentOption,
  TitleComponentOption,
  ToolboxComponentOption,
  TooltipComponentOption,
} from 'echarts/components';
import { EVENT_COLORS, STAGE_COLORS, formatUs } from './format.js';
import { STAGE_NAMES, type SequenceData, type TimelineData } from './shapes.js';

echarts.use([
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
  const rowHeight = Math.max(1, Math.min(12, (api.size?.([0, 1]) as number[])[1] * 0.7));
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
    style: { stroke: api.visual('color') as string, lineWidth: 2.5 },
  };
};

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
  const marker = (name: string, symbol: string, color: string, points: [number, number][]): ScatterSeriesOption => ({
    type: 'scatter',
    name,
    symbol,
    symbolSize: 5,
    itemStyle: { color, opacity: 0.7 },
    data: points,
    large: big,
    largeThreshold: 2000,
    progressive: 0,
    clip: true,
    animation: false,
  });
  return {
    animation: false,
    grid: { left: 64, right: 48, top: 44, bottom: 56 },
    legend: { top: 4, left: 8, data: [...STAGE_NAMES, 'first wire', 'last wire', 'ACK'] },
    toolbox,
    tooltip: {
      trigger: 'item',
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
    ],
  };
}

function timelineTooltip(data: TimelineData, p: { seriesType: string; data: number[]; seriesName: string }): string {
  if (p.seriesType !== 'custom') return `write ${p.data[1]}: ${p.seriesName} at ${formatUs(p.data[0])}`;
  const i = p.data[3];
  const sub = data.submittedUs[i];
  const since = (v: number | null) => (v === null ? 'not seen' : `${formatUs(v - sub)} after submit`);
  return [
    `<b>write ${data.writeId[i]}</b>: ${STAGE_NAMES[data.stage[i]]}`,
    `bytes ${data.offsetStart[i]}–${data.offsetEnd[i]}`,
    `completed ${formatUs(data.completedUs[i] - sub)} after submit`,
    `first wire ${since(data.firstWireUs[i])}`,
    `last wire ${since(data.lastWireUs[i])}`,
    `ACK ${since(data.ackedUs[i])}`,
  ].join('<br>');
}

/**
 * Time-sequence of one flow. `completions` (optional) is the flow's timeline, drawn as
 * dots at (completed, offsetEnd); `shiftUs` moves its times onto the sequence's base.
 */
export function sequenceOption(seq: SequenceData, completions?: { data: TimelineData; shiftUs: number }): ChartOption {
  const first: [number, number, number][] = [];
  const again: [number, number, number][] = [];
  for (let i = 0; i < seq.segments.tUs.length; i++) {
    const point: [number, number, number] = [seq.segments.tUs[i], seq.segments.seqOff[i], seq.segments.endOff[i]];
    (seq.segments.retransmit[i] ? again : first).push(point);
  }
  const segmentSeries = (name: string, color: string, data: [number, number, number][]): CustomSeriesOption => ({
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
  ];
  const legend: string[] = ['data', 'retransmission', 'ACK'];
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
    tooltip: { trigger: 'item', formatter: (p: unknown) => sequenceTooltip(p as { seriesName: string; data: number[] }) },
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
