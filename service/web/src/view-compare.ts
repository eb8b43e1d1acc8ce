/**
 * Sessions side by side (#/compare?ids=3,5,8), e.g. the points of an experiment: stage
 * shares and submit→complete percentiles in one chart, and the same numbers as a table.
 */
import { api } from './api.js';
import { compareOption } from './charts.js';
import { h } from './dom.js';
import { compareRow, formatCount, formatNs, formatShare, parseCompareIds } from './format.js';
import { STAGE_NAMES } from './shapes.js';
import { drawChart, stageLegend } from './view-kit.js';

export async function compareView(root: HTMLElement, hash: string): Promise<void> {
  const ids = parseCompareIds(hash);
  document.title = 'ackscope: compare';
  root.append(h('p', {}, h('a', { href: '#/' }, '← all sessions')), h('h1', {}, `Compare ${ids.length} sessions`));
  if (ids.length < 2) {
    root.append(h('p', { class: 'muted' }, 'Pick two or more sessions in the list (the compare column).'));
    return;
  }
  const loaded = await Promise.all(ids.map(async (id) => ({ session: await api.session(id), summary: await api.summary(id) })));
  const rows = loaded.map(({ session, summary }) => compareRow(`${session.id}: ${session.name}`, summary.overall, STAGE_NAMES));
  const chartBox = h('div', { class: 'chart', id: 'compare-chart' });
  root.append(
    h('p', { class: 'small muted' }, 'Bars: the share of completions at each stage (left axis). Marks: the time from send call to completion at p50 ●, p90 ▲ and p99 ■ (right axis, log scale).'),
    stageLegend('compare-legend'),
    chartBox,
    h(
      'table',
      { id: 'compare-table' },
      h('thead', {}, h('tr', {}, ['session', 'completions', ...STAGE_NAMES, 'p50', 'p90', 'p99'].map((t) => h('th', {}, t)))),
      h(
        'tbody',
        {},
        rows.map((r, i) =>
          h(
            'tr',
            { 'data-session': ids[i] },
            h('td', {}, h('a', { href: `#/sessions/${ids[i]}` }, r.label)),
            h('td', { class: 'num' }, formatCount(r.completions)),
            STAGE_NAMES.map((s) => h('td', { class: 'num' }, formatShare(r.shares[s] ?? 0))),
            h('td', { class: 'num' }, formatNs(r.p50)),
            h('td', { class: 'num' }, formatNs(r.p90)),
            h('td', { class: 'num' }, formatNs(r.p99)),
          ),
        ),
      ),
    ),
  );
  await drawChart(chartBox, compareOption(rows));
  chartBox.dataset.drawn = 'true';
}
