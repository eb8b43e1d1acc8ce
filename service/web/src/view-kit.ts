/** What every view shares: error boxes, the stage legend, chart drawing and disposal, the view's clean-ups. */
import { ApiError } from './api.js';
import { echarts, type ChartOption } from './charts.js';
import { h } from './dom.js';
import { STAGE_COLORS, refusalText } from './format.js';
import { STAGE_NAMES } from './shapes.js';
import { STAGE_MEANING } from '../../../core/stages.js';

/** Charts and pollers of the current view: disposed / stopped on every navigation (an undisposed chart leaks). */
let charts: echarts.ECharts[] = [];
let cleanups: (() => void)[] = [];

export function endView(): void {
  for (const c of charts) c.dispose();
  charts = [];
  for (const f of cleanups) f();
  cleanups = [];
}

export function onViewEnd(f: () => void): void {
  cleanups.push(f);
}

export function disposeChart(chart: echarts.ECharts): void {
  chart.dispose();
  charts = charts.filter((c) => c !== chart);
}

window.addEventListener('resize', () => charts.forEach((c) => c.resize()));

export function errorText(err: unknown): string {
  return err instanceof ApiError ? refusalText(err.status, err.code, err.message) : String(err);
}

export function errorBox(err: unknown): HTMLElement {
  const code = err instanceof ApiError ? ` (${err.code})` : '';
  return h('div', { class: 'error', role: 'alert' }, errorText(err) + code);
}

/** The stage colours, with what each stage means (title): wherever a stage colour is drawn. */
export function stageLegend(id = 'stage-legend'): HTMLElement {
  return h(
    'div',
    { class: 'legend', id },
    STAGE_NAMES.map((s) => h('span', { class: 'legend-item', title: STAGE_MEANING[s] }, h('i', { style: `background:${STAGE_COLORS[s]}` }), s)),
  );
}

/** Draws `option` into `el`; resolves with the chart once ECharts has finished drawing. */
export function drawChart(el: HTMLElement, option: ChartOption): Promise<echarts.ECharts | null> {
  if (!el.isConnected) return Promise.resolve(null); // the user has moved on
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  charts.push(chart);
  const finished = new Promise<echarts.ECharts>((resolve) => {
    const done = () => {
      chart.off('finished', done);
      resolve(chart);
    };
    chart.on('finished', done);
  });
  chart.setOption(option);
  return finished;
}
