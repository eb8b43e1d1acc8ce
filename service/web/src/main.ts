/**
 * ackscope's web page: the session list (#/) and one session (#/sessions/ID): its
 * summary, a timeline and a time-sequence chart per flow, and links to every export.
 * Bundled by scripts/build.sh (esbuild) into dist/web/, served by service/routes/web.ts.
 */
import './style.css';
import { api, ApiError, exportLinks, type FlowT, type SessionT, type SummaryT } from './api.js';
import { echarts, sequenceOption, timelineOption } from './charts.js';
import { clear, h } from './dom.js';
import { STAGE_COLORS, formatCount, formatEpochNs, formatNs, formatShare, usBetween } from './format.js';
import { STAGE_NAMES, type SessionListItem, type TimelineData } from './shapes.js';

const app = document.getElementById('app')!;
/** Counts navigations, so a slow view that finishes after the user moved on changes nothing. */
let navigation = 0;
/** Charts of the current view: disposed on every navigation (an undisposed chart leaks). */
let charts: echarts.ECharts[] = [];

function disposeCharts(): void {
  for (const c of charts) c.dispose();
  charts = [];
}

window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
window.addEventListener('hashchange', () => void route());
void route();

async function route(): Promise<void> {
  const current = ++navigation;
  disposeCharts();
  // each view draws into its own element: a stale one keeps writing into a detached node
  const view = h('div');
  app.replaceChildren(view);
  document.body.dataset.ready = 'false';
  const m = /^#\/sessions\/(\d+)/.exec(location.hash);
  document.body.dataset.view = m ? 'session' : 'list';
  try {
    if (m) await sessionView(view, Number(m[1]));
    else await listView(view);
  } catch (err) {
    view.append(errorBox(err));
  } finally {
    if (current === navigation) document.body.dataset.ready = 'true'; // the browser test waits for this
  }
}

function errorBox(err: unknown): HTMLElement {
  const text = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
  return h('div', { class: 'error' }, text);
}

// ---------------------------------------------------------------------------------------
// Session list

async function listView(root: HTMLElement): Promise<void> {
  document.title = 'ackscope: sessions';
  root.append(h('h1', {}, 'Sessions'));
  const { items } = await api.sessions();
  if (items.length === 0) {
    root.append(h('p', { class: 'muted' }, 'No sessions yet. Import a capture file with `ackscope import FILE`, or create a session through the API (POST /sessions, see /docs).'));
    return;
  }
  root.append(
    h(
      'table',
      { class: 'sessions', id: 'session-list' },
      h('thead', {}, h('tr', {}, ['id', 'name', 'kind', 'state', 'created', 'frames', 'tcp', 'completions', 'kernel drops', 'if drops'].map((t) => h('th', {}, t)))),
      h('tbody', {}, items.map(sessionRow)),
    ),
  );
}

function sessionRow(s: SessionListItem): HTMLElement {
  const link = (text: string | number) => h('a', { href: `#/sessions/${s.id}` }, text);
  const dropped = (s.drops.dropped ?? 0) > 0 || (s.drops.ifDropped ?? 0) > 0;
  return h(
    'tr',
    { 'data-session': s.id },
    h('td', { class: 'num' }, link(s.id)),
    h('td', {}, link(s.name)),
    h('td', {}, s.kind),
    h('td', {}, h('span', { class: `state state-${s.state}`, title: s.failureReason ?? undefined }, s.state)),
    h('td', {}, s.createdAt.replace('T', ' ').slice(0, 19)),
    h('td', { class: 'num' }, formatCount(s.frames)),
    h('td', { class: 'num' }, formatCount(s.tcp)),
    h('td', { class: 'num' }, formatCount(s.completions)),
    h('td', { class: dropped ? 'num warn' : 'num' }, formatCount(s.drops.dropped)),
    h('td', { class: dropped ? 'num warn' : 'num' }, formatCount(s.drops.ifDropped)),
  );
}

// ---------------------------------------------------------------------------------------
// One session

async function sessionView(root: HTMLElement, id: number): Promise<void> {
  const session = await api.session(id);
  document.title = `ackscope: ${session.name}`;
  root.append(
    h('p', {}, h('a', { href: '#/' }, '← all sessions')),
    h('h1', {}, `Session ${session.id}: ${session.name}`),
    sessionFacts(session),
  );
  if (session.state === 'capturing') root.append(liveNote());
  root.append(exportsBox(id));
  const summaryBox = h('section', { id: 'summary' }, h('p', { class: 'muted' }, 'correlating…'));
  const flowsBox = h('section', { id: 'flows' });
  root.append(summaryBox, flowsBox);
  const [summary, flows] = await Promise.all([api.summary(id), api.flows(id)]);
  clear(summaryBox);
  summaryBox.append(...summaryTables(summary).filter((e): e is HTMLElement => e !== null));
  flowSection(flowsBox, id, summary, flows.items);
}

/** The figures are a snapshot: say so while the capture still runs, with a way to take a new one. */
function liveNote(): HTMLElement {
  const button = h('button', { type: 'button' }, 'refresh');
  button.addEventListener('click', () => void route());
  return h('p', { class: 'live' }, 'Capturing: the figures below are as of loading the page. ', button);
}

function sessionFacts(s: SessionT): HTMLElement {
  const row = (k: string, v: string | number | HTMLElement) => h('tr', {}, h('th', {}, k), h('td', {}, v));
  return h(
    'table',
    { class: 'facts' },
    row('kind', s.kind === 'live' ? `live on ${s.interface ?? '?'}${s.filter ? `, filter "${s.filter}"` : ''}` : `import${s.sourceFile ? ` of ${s.sourceFile}` : ''}`),
    row('state', h('span', { class: `state state-${s.state}` }, s.state + (s.failureReason ? `: ${s.failureReason}` : ''))),
    row('capture', `${formatEpochNs(s.startedNs)} → ${formatEpochNs(s.stoppedNs)}`),
    row('frames', `${formatCount(s.counts.frames)} (${formatCount(s.counts.tcp)} TCP)`),
    row('drops', dropsText(s.drops, s.kind)),
    row('clock', `uncertainty ${formatNs(s.clockUncertaintyNs)}, near-boundary margin ${formatNs(s.nearMarginNs)}`),
  );
}

function dropsText(d: { received: number | null; dropped: number | null; ifDropped: number | null }, kind?: string): string {
  if (d.received === null && d.dropped === null && d.ifDropped === null) {
    if (kind === 'import') return 'not reported (a capture file carries no libpcap drop counters)';
    return kind === 'live' ? 'not reported yet (libpcap reports them while capturing)' : 'not reported';
  }
  return `kernel ${formatCount(d.dropped)}, interface ${formatCount(d.ifDropped)} (of ${formatCount(d.received)} received)`;
}

function exportsBox(id: number): HTMLElement {
  return h(
    'section',
    { id: 'exports' },
    h('h2', {}, 'Exports'),
    h(
      'ul',
      {},
      exportLinks(id).map((e) => h('li', {}, h('a', { href: e.href, download: true }, e.label), ` — ${e.note}`)),
      h('li', {}, h('a', { href: `/sessions/${id}/summary` }, 'summary (JSON)'), ' — the figures below, from the API'),
    ),
  );
}

type Group = SummaryT['overall'];

function stageBar(g: Group): HTMLElement {
  const bar = h('div', { class: 'stagebar', title: STAGE_NAMES.map((s) => `${s} ${g.stages[s]?.count ?? 0}`).join(', ') });
  for (const s of STAGE_NAMES) {
    const share = g.stages[s]?.share ?? 0;
    if (share > 0) bar.append(h('span', { style: `width:${(share * 100).toFixed(3)}%;background:${STAGE_COLORS[s]}` }));
  }
  return bar;
}

function stageLegend(): HTMLElement {
  return h(
    'div',
    { class: 'legend', id: 'stage-legend' },
    STAGE_NAMES.map((s) => h('span', { class: 'legend-item' }, h('i', { style: `background:${STAGE_COLORS[s]}` }), s)),
  );
}

const verdictCell = (v: string) => h('span', { class: `verdict verdict-${v}` }, v);

function groupCells(g: Group, ordering: { verdict: string; firstViolation: { message: string } | null }): HTMLElement[] {
  const p = (s: { p50: string | null; p90: string | null; p99: string | null; max: string | null }) =>
    h('td', { class: 'num small' }, `${formatNs(s.p50)} / ${formatNs(s.p90)} / ${formatNs(s.p99)} / ${formatNs(s.max)}`);
  const unknown = Object.entries(g.unknownReasons)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return [
    h('td', { class: 'num' }, formatCount(g.completions)),
    h('td', {}, stageBar(g), h('div', { class: 'small' }, STAGE_NAMES.filter((s) => (g.stages[s]?.count ?? 0) > 0).map((s) => `${s} ${formatShare(g.stages[s].share)}`).join(' · ')), unknown ? h('div', { class: 'small warn' }, `unknown: ${unknown}`) : null),
    p(g.gaps.submitToComplete),
    p(g.gaps.lastWireMinusComplete),
    p(g.gaps.ackedMinusComplete),
    h('td', { class: 'num' }, `${g.retransmitted}`),
    h('td', {}, verdictCell(g.partial.verdict), g.partial.partial > 0 ? ` ${g.partial.partial}` : ''),
    h('td', { title: ordering.firstViolation?.message ?? '' }, verdictCell(ordering.verdict)),
    h('td', { class: 'num small' }, g.tcpInfo.compared > 0 ? `${g.tcpInfo.agree}/${g.tcpInfo.compared} agree` : '–'),
  ];
}

const MAX_FLOW_ROWS = 50;

const GROUP_HEADERS = [
  'completions',
  'stage at completion',
  'submit→complete p50/p90/p99/max',
  'last wire − complete',
  'ACK − complete',
  'retrans.',
  'partial',
  'ordering',
  'TCP_INFO',
];

function summaryTables(s: SummaryT): (HTMLElement | null)[] {
  const overallOrdering = { verdict: s.flows.some((f) => f.ordering.verdict === 'reordered') ? 'reordered' : s.flows.some((f) => f.ordering.verdict === 'interleaved') ? 'interleaved' : s.flows.some((f) => f.ordering.verdict === 'in-order') ? 'in-order' : 'no-tags', firstViolation: null };
  // hundreds of flows make a table nobody reads: the busiest ones, and say how many are left out
  const shownFlows = [...s.flows].sort((a, b) => b.completions - a.completions || b.frames - a.frames).slice(0, MAX_FLOW_ROWS);
  const flowRows = shownFlows.map((f) =>
    h('tr', {}, h('td', {}, f.flowId === null ? 'no flow matched' : `flow ${f.flowId}`, h('div', { class: 'small muted' }, f.endpoints ?? '')), ...groupCells(f, f.ordering)),
  );
  const apiRows = s.apis.map((a) => h('tr', {}, h('td', {}, a.api), ...groupCells(a, a.ordering)));
  const table = (title: string, rows: HTMLElement[]) =>
    h('table', { class: 'summary' }, h('thead', {}, h('tr', {}, h('th', {}, title), GROUP_HEADERS.map((t) => h('th', {}, t)))), h('tbody', {}, rows));
  const drops = s.capture.drops;
  return [
    h('h2', {}, 'Summary'),
    stageLegend(),
    h(
      'p',
      { class: 'small muted' },
      `${formatCount(s.capture.frames)} frames, ${formatCount(s.capture.flows)} flows; drops: ${dropsText(drops)}. Correlated in ${s.correlation.elapsedMs} ms.`,
    ),
    table('overall', [h('tr', {}, h('td', {}, 'all'), ...groupCells(s.overall, overallOrdering))]),
    flowRows.length > 0 ? table('per flow', flowRows) : null,
    s.flows.length > shownFlows.length
      ? h('p', { class: 'small muted' }, `The ${MAX_FLOW_ROWS} flows with most completions of ${formatCount(s.flows.length)}; all are in the summary JSON.`)
      : null,
    apiRows.length > 0 ? table('per api', apiRows) : null,
  ];
}

// ---------------------------------------------------------------------------------------
// Charts per flow

interface FlowChoice {
  key: string;
  flowId: number | null;
  label: string;
  completions: number;
  frames: number;
}

function flowChoices(summary: SummaryT, flows: FlowT[]): FlowChoice[] {
  const completionsOf = new Map(summary.flows.map((f) => [f.flowId, f.completions]));
  const choices: FlowChoice[] = flows.map((f) => ({
    key: String(f.id),
    flowId: f.id,
    label: `flow ${f.id}: ${f.a.addr}:${f.a.port} ↔ ${f.b.addr}:${f.b.port}`,
    completions: completionsOf.get(f.id) ?? 0,
    frames: f.frames,
  }));
  const unmatched = completionsOf.get(null);
  if (unmatched) choices.push({ key: 'none', flowId: null, label: 'completions no captured flow matched', completions: unmatched, frames: 0 });
  // flows with completions first (most first), then by frames
  return choices.sort((a, b) => b.completions - a.completions || b.frames - a.frames);
}

function flowSection(box: HTMLElement, sessionId: number, summary: SummaryT, flows: FlowT[]): void {
  const choices = flowChoices(summary, flows);
  box.append(h('h2', {}, 'Flows'));
  if (choices.length === 0) {
    box.append(h('p', { class: 'muted' }, 'No TCP flows captured and no completions posted yet.'));
    return;
  }
  const select = h(
    'select',
    { id: 'flow-select' },
    choices.map((c) => h('option', { value: c.key }, `${c.label} — ${formatCount(c.completions)} writes, ${formatCount(c.frames)} frames`)),
  );
  const area = h('div', { id: 'flow-charts' });
  box.append(h('label', {}, 'flow ', select), area);
  const show = () => {
    disposeCharts();
    clear(area);
    const choice = choices.find((c) => c.key === select.value) ?? choices[0];
    area.dataset.drawn = 'false';
    void flowCharts(area, sessionId, choice)
      .catch((err) => area.append(errorBox(err)))
      .finally(() => (area.dataset.drawn = 'true')); // the browser test waits for this
  };
  select.addEventListener('change', show);
  show();
}

async function flowCharts(area: HTMLElement, sessionId: number, choice: FlowChoice): Promise<void> {
  const timelineBox = h('div', { class: 'chart', id: 'timeline-chart' });
  const timelineNote = h('p', { class: 'small muted' });
  const sequenceBox = h('div', { class: 'chart', id: 'sequence-chart' });
  const sequenceNote = h('p', { class: 'small muted' });
  area.append(
    h('h3', {}, `Timeline: ${choice.label}`),
    h('p', { class: 'small muted' }, 'One row per write: a bar from the send call to its completion, coloured by the stage at completion; ▲ first byte on the wire, ◆ last byte on the wire, ● ACK. Drag or scroll to zoom; shift+scroll zooms the rows.'),
    timelineNote,
    timelineBox,
  );
  // both fetched at once; the sequence chart waits for the timeline (it overlays its completions)
  const sequence = choice.flowId === null ? null : api.sequence(sessionId, choice.flowId);
  sequence?.catch(() => {}); // reported below, when awaited
  let timeline: TimelineData | null = null;
  if (choice.completions > 0) {
    timeline = await api.timeline(sessionId, choice.flowId);
    timelineNote.textContent = thinningNote(timeline.shown, timeline.total, 'writes', 'per time bucket the slowest write is kept');
    timelineBox.dataset.writes = String(timeline.shown);
    await drawChart(timelineBox, timelineOption(timeline));
  } else {
    timelineBox.replaceWith(h('p', { class: 'muted' }, 'No completions were posted for this flow.'));
  }
  if (sequence === null) return;
  area.append(
    h('h3', {}, 'Time-sequence'),
    h('p', { class: 'small muted' }, 'Stream offset against time: data segments (retransmissions red), the cumulative ACK of the other side, and each completion as a dot in its stage colour.'),
    sequenceNote,
    sequenceBox,
  );
  const seq = await sequence;
  sequenceNote.textContent =
    thinningNote(seq.segments.tUs.length, seq.segmentsTotal, 'data segments', 'per time bucket the furthest-reaching segment is kept, retransmissions first') +
    ` ${thinningNote(seq.acks.tUs.length, seq.acksTotal, 'advancing ACKs', 'per time bucket the highest')}`;
  sequenceBox.dataset.segments = String(seq.segments.tUs.length);
  await drawChart(sequenceBox, sequenceOption(seq, timeline ? { data: timeline, shiftUs: usBetween(timeline.baseNs, seq.baseNs) } : undefined));
}

function thinningNote(shown: number, total: number, what: string, how: string): string {
  return shown < total ? `Showing ${formatCount(shown)} of ${formatCount(total)} ${what} (thinned: ${how}).` : `${formatCount(total)} ${what}.`;
}

/** Resolves when ECharts has finished drawing, progressive chunks included (they span several frames). */
function drawChart(el: HTMLElement, option: ReturnType<typeof timelineOption>): Promise<void> {
  if (!el.isConnected) return Promise.resolve(); // the user has moved on
  const chart = echarts.init(el, undefined, { renderer: 'canvas' });
  charts.push(chart);
  const finished = new Promise<void>((resolve) => {
    const done = () => {
      chart.off('finished', done);
      resolve();
    };
    chart.on('finished', done);
  });
  chart.setOption(option);
  return finished;
}
