/**
 * One session (#/sessions/ID). A live session that captures shows the live view: counts,
 * drops and the busiest flow's time-sequence graph refreshed every second, and the stop
 * button. Otherwise: the summary, a timeline and a time-sequence chart per flow, and from
 * a write (hover, click, or its id typed in) to the frames that carried it.
 */
import { api, download, exportLinks, hasToken, type FlowT, type SessionT, type SummaryT } from './api.js';
import { echarts, selectedWriteSeries, sequenceOption, timelineOption, timelineSelectedSeries } from './charts.js';
import { clear, h } from './dom.js';
import {
  KERNEL_MARKERS,
  KERNEL_MARKERS_SHOWN_UP_TO,
  STAGE_COLORS,
  formatCount,
  formatEpochNs,
  formatNs,
  formatShare,
  kernelMarkerPoints,
  usBetween,
  wiresharkFilter,
} from './format.js';
import { poll } from './poll.js';
import { KERNEL_MOMENTS, STAGE_NAMES, type FrameItem, type LiveData, type SequenceData, type TimelineData, type WriteDetail } from './shapes.js';
import { disposeChart, drawChart, errorBox, onViewEnd, stageLegend } from './view-kit.js';
import { stateBadge } from './view-list.js';

export async function sessionView(root: HTMLElement, id: number, reroute: () => void): Promise<void> {
  const session = await api.session(id);
  document.title = `ackscope: ${session.name}`;
  root.append(
    h('p', {}, h('a', { href: '#/' }, '← all sessions')),
    h('h1', {}, `Session ${session.id}: ${session.name}`),
    sessionFacts(session),
    actions(session, reroute),
  );
  if (session.kind === 'live' && (session.state === 'capturing' || session.state === 'created')) {
    await liveView(root, session, reroute);
    return;
  }
  root.append(exportsBox(id));
  const summaryBox = h('section', { id: 'summary' }, h('p', { class: 'muted' }, 'correlating…'));
  const flowsBox = h('section', { id: 'flows' });
  root.append(summaryBox, flowsBox);
  const [summary, flows] = await Promise.all([api.summary(id), api.flows(id)]);
  clear(summaryBox);
  summaryBox.append(...summaryTables(summary).filter((e): e is HTMLElement => e !== null));
  flowSection(flowsBox, id, summary, flows.items);
}

// ---------------------------------------------------------------------------------------
// Facts and actions

function sessionFacts(s: SessionT): HTMLElement {
  const row = (k: string, v: string | number | HTMLElement) => h('tr', {}, h('th', {}, k), h('td', { id: `fact-${k}` }, v));
  return h(
    'table',
    { class: 'facts', id: 'session-facts' },
    row('kind', s.kind === 'live' ? `live on ${s.interface ?? '?'}${s.filter ? `, filter "${s.filter}"` : ''}` : `import${s.sourceFile ? ` of ${s.sourceFile}` : ''}`),
    row('state', h('span', {}, stateBadge(s.state, s.failureReason), s.failureReason ? ` ${s.failureReason}` : '')),
    row('capture', `${formatEpochNs(s.startedNs)} → ${formatEpochNs(s.stoppedNs)}`),
    row('frames', `${formatCount(s.counts.frames)} (${formatCount(s.counts.tcp)} TCP)`),
    row('drops', dropsText(s.drops, s.kind)),
    row('clock', `uncertainty ${formatNs(s.clockUncertaintyNs)}, near-boundary margin ${formatNs(s.nearMarginNs)}`),
  );
}

function dropsText(d: LiveData['drops'], kind?: string): string {
  if (d.received === null && d.dropped === null && d.ifDropped === null) {
    if (kind === 'import') return 'not reported (a capture file carries no libpcap drop counters)';
    return kind === 'live' ? 'not reported yet (libpcap reports them while capturing)' : 'not reported';
  }
  return `kernel ${formatCount(d.dropped)}, interface ${formatCount(d.ifDropped)} (of ${formatCount(d.received)} received)`;
}

/** Start, stop, delete: what the session's state allows. Delete asks first. */
function actions(s: SessionT, reroute: () => void): HTMLElement {
  const box = h('div', { class: 'actions', id: 'session-actions' });
  const status = h('span', { class: 'small', 'aria-live': 'polite', id: 'action-status' });
  /** `run` resolving false: the user changed their mind, nothing happened. */
  const button = (id: string, label: string, run: () => Promise<unknown>, after: () => void) => {
    const b = h('button', { type: 'button', id }, label);
    b.addEventListener('click', () => {
      b.disabled = true;
      status.replaceChildren(`${label}…`);
      void run()
        .then((done) => {
          status.replaceChildren();
          if (done !== false) after();
        })
        .catch((err) => status.replaceChildren(errorBox(err)))
        .finally(() => (b.disabled = false));
    });
    return b;
  };
  if (s.kind === 'live' && s.state === 'created') box.append(button('start-button', 'start capturing', () => api.start(s.id), reroute));
  if (s.state === 'capturing' && s.kind === 'live') box.append(button('stop-button', 'stop capturing', () => api.stop(s.id), reroute));
  if (s.kind === 'live' && (s.state === 'created' || s.state === 'capturing')) box.append(traceForm(s.id, status));
  box.append(
    button(
      'delete-button',
      'delete session',
      async () => {
        if (!confirm(`Delete session ${s.id} (${s.name}), its frames, completions and capture file? This cannot be undone.`)) return false;
        await api.remove(s.id);
        return true;
      },
      () => (location.hash = '#/'),
    ),
    status,
  );
  return box;
}

/**
 * The kernel tracer on a running program: every send call of the PID (and its children)
 * becomes a completion with its kernel witness, in this session (POST /sessions/:id/trace).
 */
function traceForm(id: number, status: HTMLElement): HTMLElement {
  const input = h('input', { id: 'trace-pid', type: 'number', min: '1', inputmode: 'numeric', placeholder: 'PID', 'aria-label': 'process id to trace' }) as HTMLInputElement;
  const submit = h('button', { type: 'submit', id: 'trace-button' }, 'trace its sends');
  const form = h('form', { class: 'trace-form', id: 'trace-form' }, h('label', { for: 'trace-pid' }, 'kernel tracer: process '), input, ' ', submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const pid = Number(input.value);
    if (!Number.isSafeInteger(pid) || pid < 1) {
      status.replaceChildren('give the process id of a running program');
      return;
    }
    (submit as HTMLButtonElement).disabled = true;
    void api
      .trace(id, pid)
      .then(() => status.replaceChildren(`tracing process ${pid}: its sends arrive here every second`))
      .catch((err) => status.replaceChildren(errorBox(err)))
      .finally(() => ((submit as HTMLButtonElement).disabled = false));
  });
  return form;
}

function exportsBox(id: number): HTMLElement {
  const link = (href: string, label: string) => {
    const a = h('a', { href, download: true }, label);
    // a plain link cannot carry the bearer token: with one, fetch it and hand over a blob
    a.addEventListener('click', (e) => {
      if (!hasToken()) return;
      e.preventDefault();
      void download(href, `ackscope-session-${id}-${label}`).catch((err) => a.after(errorBox(err)));
    });
    return a;
  };
  return h(
    'section',
    { id: 'exports' },
    h('h2', {}, 'Exports'),
    h(
      'ul',
      {},
      exportLinks(id).map((e) => h('li', {}, link(e.href, e.label), ` — ${e.note}`)),
      h('li', {}, link(`/sessions/${id}/summary`, 'summary (JSON)'), ' — the figures below, from the API'),
    ),
  );
}

// ---------------------------------------------------------------------------------------
// Live

/**
 * Counts, drops and the busiest flow's time-sequence graph, polled every second (paused
 * while the tab is hidden). When the capture ends (here or elsewhere) the full view loads.
 */
async function liveView(root: HTMLElement, s: SessionT, reroute: () => void): Promise<void> {
  const cell = (id: string) => h('td', { class: 'num', id });
  const counts = h(
    'table',
    { class: 'facts', id: 'live-counts' },
    h('tr', {}, h('th', {}, 'frames'), cell('live-frames')),
    h('tr', {}, h('th', {}, 'TCP frames'), cell('live-tcp')),
    h('tr', {}, h('th', {}, 'flows'), cell('live-flows')),
    h('tr', {}, h('th', {}, 'completions'), cell('live-completions')),
    h('tr', {}, h('th', {}, 'drops'), h('td', { id: 'live-drops' })),
    h('tr', {}, h('th', {}, 'updated'), h('td', { id: 'live-updated', class: 'small muted' })),
  );
  const chartBox = h('div', { class: 'chart', id: 'live-sequence' });
  const chartNote = h('p', { class: 'small muted', id: 'live-sequence-note' }, 'No TCP flow captured yet.');
  const box = h(
    'section',
    { id: 'live', 'data-state': s.state },
    h('h2', {}, s.state === 'capturing' ? 'Live' : 'Not capturing yet'),
    h(
      'p',
      { class: 'live' },
      s.state === 'capturing'
        ? `Capturing on ${s.interface}. The figures refresh every second while this tab is visible. Post completions to session ${s.id}; stop the capture to correlate them.`
        : 'Start the capture to see frames arrive.',
    ),
    counts,
    h('h3', {}, 'Time-sequence of the busiest flow'),
    chartNote,
    chartBox,
  );
  root.append(box);
  if (s.state !== 'capturing') return;

  let chart: echarts.ECharts | null = null;
  let chartFlow: number | null = null;
  let ticks = 0;
  const update = async (): Promise<boolean> => {
    const live = await api.live(s.id);
    if (!box.isConnected) return false;
    ticks++;
    const set = (id: string, v: string) => (box.querySelector(`#${id}`)!.textContent = v);
    set('live-frames', formatCount(live.frames));
    set('live-tcp', formatCount(live.tcp));
    set('live-flows', formatCount(live.flows));
    set('live-completions', formatCount(live.completions));
    set('live-drops', dropsText(live.drops, 'live'));
    const facts = (k: string, v: string) => {
      const td = document.getElementById(`fact-${k}`);
      if (td) td.textContent = v;
    };
    facts('frames', `${formatCount(live.frames)} (${formatCount(live.tcp)} TCP)`);
    facts('drops', dropsText(live.drops, 'live'));
    set('live-updated', `${new Date().toLocaleTimeString()} (update ${ticks})`);
    box.dataset.frames = String(live.frames); // read by the browser test and the bench
    box.dataset.tcp = String(live.tcp);
    box.dataset.ticks = String(ticks);
    if (live.state !== 'capturing') {
      reroute(); // stopped (or failed): the full view with the correlation
      return false;
    }
    if (live.busiestFlowId !== null) {
      const seq = await api.sequence(s.id, live.busiestFlowId, 2000);
      if (!box.isConnected) return false;
      chartNote.textContent = `flow ${live.busiestFlowId}: ${formatCount(seq.segmentsTotal)} data segments, ${formatCount(seq.acksTotal)} advancing ACKs (up to 2,000 of each drawn).`;
      if (chart === null || chartFlow !== live.busiestFlowId) {
        if (chart) disposeChart(chart);
        chart = await drawChart(chartBox, sequenceOption(seq));
        chartFlow = live.busiestFlowId;
      } else {
        chart.setOption(sequenceOption(seq), { replaceMerge: ['series'] });
      }
      box.dataset.segments = String(seq.segmentsTotal);
    }
    return true;
  };
  await update();
  onViewEnd(poll(1000, update));
}

// ---------------------------------------------------------------------------------------
// Summary

type Group = SummaryT['overall'];

function stageBar(g: Group): HTMLElement {
  const bar = h('div', { class: 'stagebar', title: STAGE_NAMES.map((s) => `${s} ${g.stages[s]?.count ?? 0}`).join(', ') });
  for (const s of STAGE_NAMES) {
    const share = g.stages[s]?.share ?? 0;
    if (share > 0) bar.append(h('span', { style: `width:${(share * 100).toFixed(3)}%;background:${STAGE_COLORS[s]}` }));
  }
  return bar;
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
    h(
      'td',
      {},
      stageBar(g),
      h('div', { class: 'small' }, STAGE_NAMES.filter((s) => (g.stages[s]?.count ?? 0) > 0).map((s) => `${s} ${formatShare(g.stages[s].share)}`).join(' · ')),
      unknown ? h('div', { class: 'small warn' }, `unknown: ${unknown}`) : null,
    ),
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
  const verdicts: string[] = s.flows.map((f) => f.ordering.verdict);
  const overallVerdict = ['reordered', 'interleaved', 'in-order'].find((v) => verdicts.includes(v)) ?? 'no-tags';
  // hundreds of flows make a table nobody reads: the busiest ones, and say how many are left out
  const shownFlows = [...s.flows].sort((a, b) => b.completions - a.completions || b.frames - a.frames).slice(0, MAX_FLOW_ROWS);
  const flowRows = shownFlows.map((f) =>
    h('tr', {}, h('td', {}, f.flowId === null ? 'no flow matched' : `flow ${f.flowId}`, h('div', { class: 'small muted' }, f.endpoints ?? '')), ...groupCells(f, f.ordering)),
  );
  const apiRows = s.apis.map((a) => h('tr', {}, h('td', {}, a.api), ...groupCells(a, a.ordering)));
  const table = (title: string, rows: HTMLElement[]) =>
    h('table', { class: 'summary' }, h('thead', {}, h('tr', {}, h('th', {}, title), GROUP_HEADERS.map((t) => h('th', {}, t)))), h('tbody', {}, rows));
  return [
    h('h2', {}, 'Summary'),
    stageLegend(),
    h(
      'p',
      { class: 'small muted' },
      `${formatCount(s.capture.frames)} frames, ${formatCount(s.capture.flows)} flows; drops: ${dropsText(s.capture.drops)}. Correlated in ${s.correlation.elapsedMs} ms.` +
        (s.percentiles.exact ? '' : ` Still capturing: gap percentiles within ${(s.percentiles.relativeError * 100).toFixed(1)}% (a sketch), exact once stopped.`),
    ),
    table('overall', [h('tr', {}, h('td', {}, 'all'), ...groupCells(s.overall, { verdict: overallVerdict, firstViolation: null }))]),
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
  let shown: echarts.ECharts[] = [];
  const show = () => {
    for (const c of shown) disposeChart(c);
    shown = [];
    clear(area);
    const choice = choices.find((c) => c.key === select.value) ?? choices[0];
    area.dataset.drawn = 'false';
    void flowCharts(area, sessionId, choice, shown)
      .catch((err) => area.append(errorBox(err)))
      .finally(() => (area.dataset.drawn = 'true')); // the browser test waits for this
  };
  select.addEventListener('change', show);
  show();
}

async function flowCharts(area: HTMLElement, sessionId: number, choice: FlowChoice, shown: echarts.ECharts[]): Promise<void> {
  const timelineBox = h('div', { class: 'chart', id: 'timeline-chart' });
  const timelineNote = h('p', { class: 'small muted' });
  const sequenceBox = h('div', { class: 'chart', id: 'sequence-chart' });
  const sequenceNote = h('p', { class: 'small muted' });
  const detail = h('section', { id: 'write-detail', 'aria-live': 'polite' });
  const picker = writePicker();
  area.append(
    h('h3', {}, `Timeline: ${choice.label}`),
    h(
      'p',
      { class: 'small muted' },
      'One row per write: a bar from the send call to its completion, coloured by the stage at completion; ▲ first byte on the wire, ◆ last byte on the wire, ● ACK. Hover a write for its correlation, click it for its packets. Drag or scroll to zoom; shift+scroll zooms the rows.',
    ),
    timelineNote,
    picker.form,
    timelineBox,
  );
  // both fetched at once; the sequence chart waits for the timeline (it overlays its completions)
  const sequence = choice.flowId === null ? null : api.sequence(sessionId, choice.flowId);
  sequence?.catch(() => {}); // reported below, when awaited
  let timeline: TimelineData | null = null;
  let timelineChart: echarts.ECharts | null = null;
  if (choice.completions > 0) {
    timeline = await api.timeline(sessionId, choice.flowId);
    timelineNote.textContent = thinningNote(timeline.shown, timeline.total, 'writes', 'per time bucket the slowest write is kept');
    const kernelNote = kernelMarkersNote(timeline);
    if (kernelNote) timelineNote.after(h('p', { class: 'small muted', id: 'kernel-markers-note' }, kernelNote));
    timelineBox.dataset.writes = String(timeline.shown);
    timelineChart = await drawChart(timelineBox, timelineOption(timeline));
    if (timelineChart) shown.push(timelineChart);
  } else {
    timelineBox.replaceWith(h('p', { class: 'muted' }, 'No completions were posted for this flow.'));
    picker.form.remove();
  }
  let seq: SequenceData | null = null;
  let sequenceChart: echarts.ECharts | null = null;
  if (sequence !== null) {
    area.append(
      h('h3', {}, 'Time-sequence'),
      h(
        'p',
        { class: 'small muted' },
        'Stream offset against time: data segments (retransmissions red and dashed), the cumulative ACK of the other side, and each completion as a dot in its stage colour. The selected write’s segments are outlined in magenta, the ACK that covered it is a magenta diamond.',
      ),
      sequenceNote,
      sequenceBox,
    );
    seq = await sequence;
    sequenceNote.textContent =
      thinningNote(seq.segments.tUs.length, seq.segmentsTotal, 'data segments', 'per time bucket the furthest-reaching segment is kept, retransmissions first') +
      ` ${thinningNote(seq.acks.tUs.length, seq.acksTotal, 'advancing ACKs', 'per time bucket the highest')}`;
    sequenceBox.dataset.segments = String(seq.segments.tUs.length);
    sequenceChart = await drawChart(sequenceBox, sequenceOption(seq, timeline ? { data: timeline, shiftUs: usBetween(timeline.baseNs, seq.baseNs) } : undefined));
    if (sequenceChart) shown.push(sequenceChart);
  }
  area.append(detail);
  if (timeline === null || timelineChart === null) return;

  const tl = timeline;
  let selecting = 0;
  const select = async (i: number) => {
    const mine = ++selecting;
    detail.dataset.state = 'loading';
    const picked = await api.write(sessionId, tl.completionId[i]);
    if (mine !== selecting || !detail.isConnected) return;
    renderWriteDetail(detail, picked, tl);
    if (sequenceChart && seq) sequenceChart.setOption({ series: selectedWriteSeries(seq, picked) });
    timelineChart?.setOption({ series: [timelineSelectedSeries(tl, i)] });
    detail.dataset.state = 'shown';
    detail.dataset.writeId = String(tl.writeId[i]);
  };
  const selectReporting = (i: number) => void select(i).catch((err) => detail.replaceChildren(errorBox(err)));
  timelineChart.on('click', (p) => {
    const params = p as { seriesType?: string; data?: number[] };
    if (params.seriesType === 'custom' && params.data) selectReporting(params.data[3]);
  });
  picker.onPick = (writeId) => {
    const i = tl.writeId.indexOf(writeId);
    if (i < 0) {
      picker.say(`write ${writeId} is not drawn in this flow's timeline${tl.shown < tl.total ? ' (thinned: try a nearby id)' : ''}`);
      return;
    }
    picker.say('');
    selectReporting(i);
  };
  exposeForTests(timelineChart, tl, sequenceChart);
}

/** The keyboard way to a write: type its id. */
function writePicker(): { form: HTMLFormElement; onPick: (writeId: number) => void; say: (t: string) => void } {
  const input = h('input', { type: 'number', id: 'write-pick', min: 0, required: true, style: 'width:8em' });
  const note = h('span', { class: 'small field-error', 'aria-live': 'polite' });
  const form = h('form', { class: 'write-picker' }, h('label', { for: 'write-pick' }, 'show the packets of write '), input, h('button', { type: 'submit' }, 'show'), ' ', note);
  const picker = { form, onPick: (_: number) => {}, say: (t: string) => (note.textContent = t) };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (input.value !== '') picker.onPick(Number(input.value));
  });
  return picker;
}

/**
 * A handle for the browser test and the console: where write `writeId`'s bar is on the
 * page (viewport pixels), so a real mouse can hover and click it, and what the
 * time-sequence graph highlights.
 */
function exposeForTests(chart: echarts.ECharts, tl: TimelineData, sequenceChart: echarts.ECharts | null): void {
  (window as unknown as { ackscopePage: unknown }).ackscopePage = {
    /** Points along write `writeId`'s bar (its middle first), in viewport pixels; null when not drawn. */
    writePoints(writeId: number): [number, number][] | null {
      const i = tl.writeId.indexOf(writeId);
      if (i < 0) return null;
      const box = chart.getDom().getBoundingClientRect();
      return [0.5, 0.25, 0.75, 0.1, 0.9].map((f) => {
        const t = tl.submittedUs[i] + f * (tl.completedUs[i] - tl.submittedUs[i]);
        const [x, y] = chart.convertToPixel({ gridIndex: 0 }, [t, writeId]) as number[];
        return [box.left + x, box.top + y];
      });
    },
    /** Write ids framed as selected on the timeline. */
    selectedOnTimeline(): number[] {
      const series = (chart.getOption().series ?? []) as { id?: string; data?: number[][] }[];
      return (series.find((x) => x.id === 'timeline-selected')?.data ?? []).map((d) => d[2]);
    },
    /**
     * The kernel markers as drawn: per series (its legend name), each marker's data
     * [time µs after baseNs, write id, row] and where ECharts drew it (viewport pixels);
     * null when that marker has no graphic element (not drawn).
     */
    kernelMarkers(): { baseNs: string; series: { name: string; symbol: string; color: string; points: { data: number[]; drawnAt: [number, number] | null }[] }[] } {
      const box = chart.getDom().getBoundingClientRect();
      // ECharts' model holds the drawn elements; it is not in the typings (a test-only look)
      const model = (chart as unknown as { getModel(): { getSeriesByName(n: string): { getData(): { count(): number; getRawDataItem(i: number): number[]; getItemGraphicEl(i: number): { x: number; y: number } | undefined } }[] } }).getModel();
      const options = (chart.getOption().series ?? []) as { name?: string; symbol?: string; itemStyle?: { color?: string } }[];
      const series = options
        .filter((o) => o.name?.startsWith('kernel: '))
        .map((o) => {
          const list = model.getSeriesByName(o.name!)[0]?.getData();
          const points = [];
          for (let i = 0; i < (list?.count() ?? 0); i++) {
            const data = list!.getRawDataItem(i);
            const el = list!.getItemGraphicEl(i);
            points.push({ data, drawnAt: el ? ([box.left + el.x, box.top + el.y] as [number, number]) : null });
          }
          return { name: o.name!, symbol: o.symbol ?? '', color: o.itemStyle?.color ?? '', points };
        });
      return { baseNs: tl.baseNs, series };
    },
    /** Where a time (µs after baseNs) on write `writeId`'s row is on the timeline, in viewport pixels. */
    timelinePixel(tUs: number, writeId: number): [number, number] {
      const box = chart.getDom().getBoundingClientRect();
      const [x, y] = chart.convertToPixel({ gridIndex: 0 }, [tUs, writeId]) as number[];
      return [box.left + x, box.top + y];
    },
    /** Points of the selected write drawn on the time-sequence graph: [segments, ACKs]. */
    selectedOnSequence(): [number, number] {
      const series = (sequenceChart?.getOption().series ?? []) as { id?: string; data?: unknown[] }[];
      const count = (id: string) => series.find((s) => s.id === id)?.data?.length ?? 0;
      return [count('selected-write'), count('selected-ack')];
    },
  };
}

/** What the kernel markers on a traced flow's timeline are, glyph by glyph; null when no write has a kernel witness. */
function kernelMarkersNote(tl: TimelineData): string | null {
  const points = kernelMarkerPoints(tl);
  if (points.every((p) => p.length === 0)) return null;
  const kinds = KERNEL_MOMENTS.map((m, k) => `${KERNEL_MARKERS[k].glyph} ${m.label}`).join(', ');
  const hidden = tl.shown > KERNEL_MARKERS_SHOWN_UP_TO ? ` With ${formatCount(tl.shown)} writes drawn they start hidden: click their legend entries to show them.` : ' Click a legend entry to hide or show a kind.';
  return `The kernel tracer's moments of each write's last byte: ${kinds}.${hidden}`;
}

function thinningNote(shown: number, total: number, what: string, how: string): string {
  return shown < total ? `Showing ${formatCount(shown)} of ${formatCount(total)} ${what} (thinned: ${how}).` : `${formatCount(total)} ${what}.`;
}

// ---------------------------------------------------------------------------------------
// A write and its packets

function renderWriteDetail(box: HTMLElement, d: WriteDetail, tl: TimelineData): void {
  const c = d.correlation;
  const submittedNs = String(c.submittedNs);
  const rel = (ns: string) => formatNs(Number(BigInt(ns) - BigInt(submittedNs)));
  const frameRow = (f: FrameItem, role: string) =>
    h(
      'tr',
      { 'data-frame': f.frameNo, class: f.retransmit ? 'retransmit' : undefined },
      h('td', { class: 'num' }, f.frameNo),
      h('td', {}, role),
      h('td', { class: 'num' }, `${rel(f.tsNs)}`),
      h('td', { class: 'num' }, f.payloadLen > 0 ? `${f.seqOff}–${f.seqOff + f.payloadLen}` : '–'),
      h('td', { class: 'num' }, f.payloadLen),
      h('td', { class: 'num' }, f.ackOff ?? '–'),
      h('td', {}, f.flags),
      h('td', {}, f.retransmit ? 'retransmission' : ''),
    );
  const all = [...d.frames.map((f) => f.frameNo), ...(d.ack ? [d.ack.frameNo] : [])];
  const filter = wiresharkFilter(all);
  const copy = h('button', { type: 'button', id: 'copy-filter' }, 'copy');
  copy.addEventListener('click', () => void navigator.clipboard?.writeText(filter).then(() => (copy.textContent = 'copied'), () => {}));
  box.replaceChildren(
    h('h3', {}, `Write ${c.writeId}: ${c.stage}${c.reason ? ` (${String(c.reason)})` : ''}`),
    h('div', { class: 'detail-grid' }, correlationTable(c), h('div', {},
      h('p', { class: 'small muted' }, `Frames that carried bytes ${c.offsetStart}–${c.offsetEnd} of the completion (times after its send call), and the first ACK that covered its last byte.`),
      d.frames.length === 0 && d.ack === null
        ? h('p', { class: 'muted', id: 'write-frames-none' }, tl.flowId === null ? 'No captured flow matched this write.' : 'No captured frame carried these bytes.')
        : h(
            'table',
            { id: 'write-frames' },
            h('thead', {}, h('tr', {}, ['frame', 'role', 'time', 'seq (stream offsets)', 'bytes', 'ack', 'flags', ''].map((t) => h('th', {}, t)))),
            h('tbody', {}, d.frames.map((f) => frameRow(f, 'data')), d.ack ? frameRow(d.ack, 'covering ACK') : null),
          ),
      filter
        ? h('p', {}, 'Wireshark display filter (the exported capture.pcapng): ', h('code', { id: 'wireshark-filter' }, filter), ' ', copy)
        : null,
    )),
  );
  box.dataset.frames = all.join(',');
}

/** Every field of the public correlation, nested ones flattened: new fields (kernel moments) show by themselves. */
function correlationTable(c: Record<string, unknown>): HTMLElement {
  const rows: HTMLElement[] = [];
  const submitted = typeof c.submittedNs === 'string' ? BigInt(c.submittedNs) : null;
  const show = (key: string, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k, inner] of Object.entries(v)) show(`${key}.${k}`, inner);
      return;
    }
    let text = v === null ? '–' : String(v);
    // epoch times also as "after the send call", the way the chart reads
    if (submitted !== null && typeof v === 'string' && /Ns$/.test(key) && /^[0-9]{16,}$/.test(v)) text = `${formatNs(Number(BigInt(v) - submitted))} after submit (${formatEpochNs(v)})`;
    else if (typeof v === 'string' && /Ns$/.test(key) && /^-?[0-9]+$/.test(v)) text = formatNs(v);
    rows.push(h('tr', {}, h('th', {}, key), h('td', {}, text)));
  };
  for (const [k, v] of Object.entries(c)) show(k, v);
  return h('table', { class: 'facts small', id: 'write-correlation' }, rows);
}

