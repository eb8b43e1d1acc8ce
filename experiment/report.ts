/**
 * The report folder of an experiment: report.md (one table per question, measured
 * numbers, a plain-language answer), the SVG plots and results.json (everything measured,
 * for other tools). `buildReport` is pure (data → markdown); `writeReport` does the I/O.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkExpectations, checkWholeAndInOrder, expectsShortReturns, pct, type ExpectationCheck } from './expectations.js';
import { formatMode, formatPath, formatRate, formatReceiver, formatSize, formatSndbuf, type Matrix } from './matrix.js';
import { completionTimesPlot, stageSharePlot, timeSequencePlot } from './plots.js';
import { PLACE_OF_STAGE, stagesShown } from '../core/stages.js';
import {
  STAGES,
  STAGE_MEANING,
  emptyStages,
  type ExperimentRun,
  type PointResult,
  type Percentiles,
  type Stage,
} from './results.js';

export const PLOT_FILES = {
  stageShare: 'stage-share.svg',
  completionTimes: 'completion-times.svg',
  timeSequence: 'time-sequence.svg',
} as const;

/** A markdown table; `|` inside cells is escaped. */
export function mdTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cell = (v: string | number) => String(v).replaceAll('|', '\\|').replaceAll('\n', ' ');
  const line = (cells: readonly (string | number)[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "1.23 ms" with three significant digits; "–" for missing. */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const a = Math.abs(ms);
  if (a === 0) return '0 ms';
  if (a >= 100) return `${ms.toFixed(0)} ms`;
  if (a >= 10) return `${ms.toFixed(1)} ms`;
  if (a >= 1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toPrecision(3)} µs`;
}

export function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

/** "97% queued, 3% wire" — stages with any completion, largest first. */
export function describeStages(stages: Record<Stage, number>, total: number): string {
  return STAGES.filter((s) => stages[s] > 0)
    .sort((a, b) => stages[b] - stages[a])
    .map((s) => `${pct(stages[s], total)} ${s}`)
    .join(', ');
}

/** What a completion meant, worded by how clear the majority is (pure). */
export function meaningSentence(stages: Record<Stage, number>, total: number): string {
  const ranked = STAGES.filter((s) => stages[s] > 0).sort((a, b) => stages[b] - stages[a]);
  if (ranked.length === 0 || total === 0) return 'Nothing was measured.';
  const [top, second] = ranked;
  const share = stages[top] / total;
  if (share >= 0.9) return `Almost always, a completion meant ${STAGE_MEANING[top]}.`;
  if (share >= 0.5) return `Mostly, a completion meant ${STAGE_MEANING[top]}.`;
  return (
    `No single meaning: most often (${pct(stages[top], total)}) ${STAGE_MEANING[top]}` +
    (second ? `, otherwise (${pct(stages[second], total)}) ${STAGE_MEANING[second]}.` : '.')
  );
}

export function dominantStage(stages: Record<Stage, number>): Stage {
  return STAGES.reduce((best, s) => (stages[s] > stages[best] ? s : best), STAGES[0]);
}

function p50(p: Percentiles | null): number | null {
  return p ? p.p50 : null;
}

function measured(results: readonly PointResult[]): PointResult[] {
  return results.filter((r) => r.status === 'ok' && r.measurement);
}

function timelineUrl(run: ExperimentRun, sessionId: number): string {
  return `${run.serviceUrl}/sessions/${sessionId}/export/timeline.json`;
}

// ---------------------------------------------------------------------------------------

function stageTable(results: readonly PointResult[]): string {
  const shown = stagesShown((s) => measured(results).reduce((n, r) => n + r.measurement!.stages[s], 0));
  const rows = measured(results).map((r) => {
    const m = r.measurement!;
    const p = r.point;
    return [
      p.index + 1,
      p.sender,
      formatMode(p.mode),
      formatSize(p.size),
      formatSndbuf(p.sndbuf),
      formatPath(p.path),
      formatReceiver(p.receiver),
      m.completions,
      ...shown.map((s) => pct(m.stages[s], m.completions)),
      fmtMs(p50(m.completionMs)),
      fmtMs(p50(m.lastWireAfterMs)),
      fmtMs(p50(m.ackedAfterMs)),
    ];
  });
  return mdTable(
    [
      '#', 'sender', 'mode', 'size', 'SO_SNDBUF', 'path', 'receiver', 'completions',
      ...shown,
      'p50 submit→complete', 'p50 last byte on wire − complete', 'p50 ACK − complete',
    ],
    rows,
  );
}

/**
 * The plain-language answer to "what did a completion mean": one sentence per group of
 * conditions (path, send buffer, receiver, sender), naming the dominant stage.
 */
export function stageAnswer(results: readonly PointResult[]): string[] {
  const groups = new Map<string, PointResult[]>();
  for (const r of measured(results)) {
    const p = r.point;
    const key = `${p.sender}|${formatPath(p.path)}|${formatSndbuf(p.sndbuf)}|${formatReceiver(p.receiver)}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const lines: string[] = [];
  for (const rs of groups.values()) {
    const p = rs[0].point;
    const stages = Object.fromEntries(STAGES.map((s) => [s, rs.reduce((n, r) => n + r.measurement!.stages[s], 0)])) as Record<Stage, number>;
    const total = rs.reduce((n, r) => n + r.measurement!.completions, 0);
    if (total === 0) continue;
    const receiver =
      p.receiver.behaviour === 'reads'
        ? 'a receiver reading at once'
        : p.receiver.behaviour === 'late'
          ? `a receiver waiting ${p.receiver.readDelayMs} ms before each read`
          : `a receiver that stops reading after ${formatSize(p.receiver.pauseAfterBytes)} for ${p.receiver.pauseMs} ms`;
    const near = rs.reduce((n, r) => n + r.measurement!.nearBoundary, 0);
    const caveat = near * 5 > total ? ` ${pct(near, total)} of these were decided by less than the near-boundary margin: read them as "about then".` : '';
    lines.push(
      `- **${p.sender}, ${formatPath(p.path)}, SO_SNDBUF ${formatSndbuf(p.sndbuf)}, ${receiver}** ` +
        `(${plural(rs.length, 'point')}, ${total} completions): ${describeStages(stages, total)}. ` +
        meaningSentence(stages, total) +
        caveat,
    );
  }
  return lines;
}

/** API names as ackscope's own senders' records spell them. */
const API_OF: Record<string, string> = { node: 'node:socket.write', posix: 'posix:send', winsock: 'winsock:WSASend' };

/** The APIs a sender's records named (a traced command: the system calls it made), else its known API. */
function apisOf(results: readonly PointResult[], sender: string): string {
  const seen = new Set(results.filter((r) => r.point.sender === sender).flatMap((r) => r.measurement?.apis.map((a) => a.api) ?? []));
  return seen.size > 0 ? [...seen].join(', ') : (API_OF[sender] ?? 'no record');
}

/**
 * Senders side by side: one row per condition, one column per sender, the stage shares
 * of each. Empty when the matrix has one sender.
 */
export function senderComparison(results: readonly PointResult[]): string {
  const ms = measured(results);
  const senders = [...new Set(ms.map((r) => r.point.sender))];
  if (senders.length < 2) return '';
  const conditions = [...new Set(ms.map((r) => r.point.condition))];
  const rows = conditions.map((condition) => [
    condition,
    ...senders.map((s) => {
      const r = ms.find((x) => x.point.condition === condition && x.point.sender === s);
      return r ? describeStages(r.measurement!.stages, r.measurement!.completions) || '–' : 'not measured';
    }),
  ]);
  return mdTable(['condition', ...senders.map((s) => `${s} (${apisOf(ms, s)})`)], rows);
}

/**
 * The question's five places per API, where the kernel tracer witnessed the completions
 * (command senders): one row per point and API with the share of each stage, then one
 * plain sentence per sender, API and path. Null when no point was traced.
 */
export function ladderSection(results: readonly PointResult[]): string | null {
  const traced = measured(results).filter((r) => r.measurement!.kernelWitness !== null);
  if (traced.length === 0) return null;
  const rows = traced.flatMap((r) => r.measurement!.apis.map((a) => ({ r, a })));
  const shown = stagesShown((s) => rows.reduce((n, { a }) => n + a.stages[s], 0));
  const table = mdTable(
    ['#', 'sender', 'api', 'path', 'receiver', 'completions', ...shown],
    rows.map(({ r, a }) => [
      r.point.index + 1,
      r.point.sender,
      a.api,
      formatPath(r.point.path),
      formatReceiver(r.point.receiver),
      a.completions,
      ...shown.map((s) => pct(a.stages[s], a.completions)),
    ]),
  );
  const groups = new Map<string, { sender: string; api: string; path: string; points: number; stages: Record<Stage, number>; total: number }>();
  for (const { r, a } of rows) {
    const key = `${r.point.sender}|${a.api}|${formatPath(r.point.path)}`;
    const g = groups.get(key) ?? { sender: r.point.sender, api: a.api, path: formatPath(r.point.path), points: 0, stages: emptyStages(), total: 0 };
    g.points++;
    g.total += a.completions;
    for (const st of STAGES) g.stages[st] += a.stages[st];
    groups.set(key, g);
  }
  const lines = [...groups.values()]
    .filter((g) => g.total > 0)
    .map((g) => {
      const places = STAGES.filter((st) => g.stages[st] > 0)
        .sort((x, y) => g.stages[y] - g.stages[x])
        .map((st) => `${pct(g.stages[st], g.total)} ${PLACE_OF_STAGE[st]} (\`${st}\`)`);
      return `- **${g.sender}, \`${g.api}\`, ${g.path}** (${plural(g.points, 'point')}, ${g.total} calls): when the call returned, the last byte was ${places.join('; ')}.`;
    });
  return [table, '', '**Answer.** Where the bytes were when each call returned, by the kernel\'s own moments:', '', ...lines].join('\n');
}

function partialSection(results: readonly PointResult[]): string {
  const ms = measured(results);
  const total = ms.reduce((n, r) => n + r.measurement!.completions, 0);
  const partial = ms.reduce((n, r) => n + r.measurement!.partial.count, 0);
  const table = mdTable(
    ['#', 'sender', 'mode', 'completions', 'partial', 'examples'],
    ms.map((r) => [
      r.point.index + 1,
      r.point.sender,
      formatMode(r.point.mode),
      r.measurement!.completions,
      r.measurement!.partial.count,
      r.measurement!.partial.examples.slice(0, 2).join('; ') || '–',
    ]),
  );
  const withPartial = ms.filter((r) => r.measurement!.partial.count > 0).map((r) => r.point.index + 1);
  let answer =
    total === 0
      ? 'Nothing was measured.'
      : partial === 0
        ? `**No.** None of the ${total} completions in ${plural(ms.length, 'point')} reported fewer bytes than were submitted.`
        : `**Yes.** ${partial} of ${total} completions reported fewer bytes than submitted, in ${withPartial.length > 1 ? 'points' : 'point'} ${withPartial.join(', ')}.`;
  const nonBlocking = ms.filter(expectsShortReturns);
  if (nonBlocking.some((r) => r.measurement!.partial.count > 0)) {
    answer +=
      ' A non-blocking POSIX `send()` that takes fewer bytes than asked returns short; the C sender records that call as ' +
      'a partial completion and sends the rest with the next call, so partial completions are expected there.';
  }
  const others = partial - nonBlocking.reduce((n, r) => n + r.measurement!.partial.count, 0);
  if (nonBlocking.length > 0 && partial > 0) {
    answer += others === 0 ? ' Every other API and mode completed whole.' : ` ${others} of them came from other APIs or modes.`;
  }
  return `${answer}\n\n${table}`;
}

function orderingSection(results: readonly PointResult[]): string {
  const ms = measured(results);
  const table = mdTable(
    ['#', 'sender', 'mode', 'size', 'writes checked', 'verdict', 'first violation'],
    ms.map((r) => [
      r.point.index + 1,
      r.point.sender,
      formatMode(r.point.mode),
      formatSize(r.point.size),
      r.measurement!.ordering.writesChecked,
      r.measurement!.ordering.verdict,
      r.measurement!.ordering.firstViolation ?? '–',
    ]),
  );
  const check = checkWholeAndInOrder(ms);
  const answer =
    check.holds === null
      ? `Not answered: ${check.measured}.`
      : check.holds
        ? `**Yes.** ${check.measured}.`
        : `**No.** ${check.measured}.`;
  return `${answer}\n\n${table}`;
}

function expectationSection(checks: readonly ExpectationCheck[]): string {
  return mdTable(
    ['expectation', 'measured', 'verdict'],
    checks.map((c) => [
      c.expectation,
      c.measured,
      c.holds === null ? 'not covered by this matrix' : c.holds ? 'confirmed' : '**contradicted** — the measurement above is what is true here',
    ]),
  );
}

function sessionsSection(run: ExperimentRun): string {
  const rows = run.results.map((r) => [
    r.point.index + 1,
    r.point.label,
    r.status === 'ok' && r.reason ? 'ok (see notes)' : r.status,
    r.sessionId ?? '–',
    r.sessionId !== null ? `[timeline.json](${timelineUrl(run, r.sessionId)}) · [page](${run.serviceUrl}/#/sessions/${r.sessionId})` : '–',
    fmtDuration(r.durationMs),
    r.qdisc ? `${r.qdisc.packets} pkts, ${r.qdisc.drops} drops` : '–',
    r.measurement ? String(r.measurement.pcapDropped) : '–',
    r.measurement ? String(r.measurement.retransmitted) : '–',
    r.measurement ? String(r.measurement.nearBoundary) : '–',
    r.measurement?.kernelAgreement ? `${r.measurement.kernelAgreement.agreed}/${r.measurement.kernelAgreement.compared}` : '–',
    r.measurement?.kernelWitness ? kernelWitnessCell(r.measurement.kernelWitness) : '–',
    r.received === null ? '–' : String(r.received),
  ]);
  return mdTable(
    ['#', 'point', 'status', 'session', 'timeline', 'took', 'bottleneck qdisc', 'capture drops', 'retransmitted', 'near a boundary', 'TCP_INFO agrees', 'kernel tracer agrees', 'receiver read (B)'],
    rows,
  );
}

function kernelWitnessCell(k: NonNullable<PointResult['measurement']>['kernelWitness'] & object): string {
  const spread = k.driverMinusWireMs ? `; driver − frame p50 ${fmtMs(k.driverMinusWireMs.p50)}, max ${fmtMs(k.driverMinusWireMs.max)}` : '';
  return `${k.agreed}/${k.compared} (${k.witnessed} witnessed${spread})`;
}

/** The fixed conditions of a matrix in one sentence (pure). */
export function describeConditions(m: Matrix): string {
  const shape = m.bottleneck;
  const queue = shape.limitBytes !== undefined ? `queue limit ${shape.limitBytes} B` : `queue up to ${shape.latencyMs ?? 100} ms`;
  const burst = shape.burstBytes !== undefined ? `burst ${shape.burstBytes} B` : 'burst 4 ms at the rate';
  const calls = m.count !== null ? `${m.count} send calls per point` : `about ${formatSize(m.bytesPerPoint)} per point`;
  const own = m.senders.some((s) => typeof s === 'string');
  const commands = m.senders.filter((s) => typeof s !== 'string').length;
  const tags = !own
    ? 'commands write their own bytes (untagged: no ordering verdict)'
    : `${m.tag ? 'every write tagged (24-byte header)' : 'untagged writes (no ordering verdict)'}${commands > 0 ? ', except by the commands, which write their own bytes' : ''}`;
  return (
    `${calls}; ${tags}; ` +
    `tbf bottleneck on the sender's egress with ${burst}, ${queue}; ACK path ${m.ackRateBps === null ? 'unshaped' : `shaped to ${formatRate(m.ackRateBps)}`}` +
    `${m.repeat > 1 ? `; every point run ${m.repeat} times` : ''}.`
  );
}

/** The whole report.md. Pure: everything comes from `run`. */
export function buildReport(run: ExperimentRun): string {
  const ok = run.results.filter((r) => r.status === 'ok').length;
  const failed = run.results.filter((r) => r.status === 'failed');
  const skipped = run.results.filter((r) => r.status === 'skipped');
  const checks = checkExpectations(run.results);
  const out: string[] = [];
  out.push('# ackscope experiment — what did a send completion mean?', '');
  out.push(
    `Run started ${run.startedAt}, ${plural(run.results.length, 'point')} (${ok} measured, ${failed.length} failed, ` +
      `${skipped.length} skipped) in ${fmtDuration(run.durationMs)}. ` +
      `Linux ${run.environment.kernel}, Node ${run.environment.node}, host ${run.environment.host}.`,
    '',
    `Every session stays in \`${run.dbPath}\`: serve it with \`ACKSCOPE_DB=${run.dbPath} ackscope serve\` ` +
      `and the links below open each session's timeline (${run.serviceUrl}).`,
    '',
  );

  out.push(`Conditions: ${describeConditions(run.matrix)}`, '');
  out.push('## In short', '');
  for (const c of checks) {
    const verdict = c.holds === null ? 'not covered' : c.holds ? 'confirmed' : 'CONTRADICTED';
    out.push(`- ${capitalize(c.expectation)}: **${verdict}** — ${c.measured}.`);
  }
  out.push('');

  out.push('## 1. What did a completion mean under each condition?', '');
  out.push(
    'Stage of each completion at the instant the sender was told it completed (share of the point\'s completions), ' +
      'and the median gaps: submit → complete, and how long after the completion the write\'s last byte left the host ' +
      'and its ACK arrived (negative: before the completion).',
    '',
  );
  out.push(stageTable(run.results), '');
  const answers = stageAnswer(run.results);
  if (answers.length > 0) out.push('**Answer.**', '', ...answers, '');
  const comparison = senderComparison(run.results);
  if (comparison) {
    out.push('**The same conditions, each sender side by side** (what a completion meant for each API):', '', comparison, '');
  }
  out.push(`![Stage share per configuration](${PLOT_FILES.stageShare})`, '');
  if (run.representative) {
    const rep = run.representative;
    out.push(
      `Representative run: **${rep.label}**${rep.sessionId !== null ? ` (session ${rep.sessionId})` : ''}.`,
      '',
      `![Completion time against wire and ACK times](${PLOT_FILES.completionTimes})`,
      '',
      `![Time-sequence graph with completion markers](${PLOT_FILES.timeSequence})`,
      '',
    );
  }

  const ladder = ladderSection(run.results);
  if (ladder) {
    out.push(
      '### The ladder per API (commands traced by the kernel tracer)',
      '',
      'A command sender\'s send calls come from the kernel tracer, which also saw each call\'s last byte enter the ' +
        'qdisc, reach the driver and be acknowledged: so `queued` is told apart as `socket` (TCP had not passed the byte ' +
        'down) and `qdisc` (it waited in the traffic-control or device queue).',
      '',
      ladder,
      '',
    );
  }
  out.push('## 2. Did any completion report fewer bytes than were submitted?', '', partialSection(run.results), '');
  out.push(
    '## 3. Did overlapped and vectored writes reach the wire whole and in posting order?',
    '',
    'Each write began with a 24-byte tag (write id, offset, length); the capture looked for the tags in the byte stream.',
    '',
    orderingSection(run.results),
    '',
  );
  out.push('## 4. Expectations, checked by measurement', '', expectationSection(checks), '');
  out.push(
    '## Sessions',
    '',
    'Each point\'s session, with what could weaken its numbers: packets the bottleneck dropped, frames the capture ' +
      'dropped, completions with a retransmitted byte, completions whose stage was decided by less than the ' +
      'session\'s near-boundary margin (5 µs by default: timing noise could flip them), and how often the stage from ' +
      'the kernel\'s own TCP_INFO (read by the sender at completion) agreed with the capture\'s.',
    '',
    sessionsSection(run),
    '',
  );
  const noted = run.results.filter((r) => r.status === 'ok' && r.reason);
  if (noted.length > 0) {
    out.push('## Notes', '');
    for (const r of noted) out.push(`- ${r.point.index + 1}. ${r.point.label}: ${r.reason!.replace(/\s*\n\s*/g, ' ')}`);
    out.push('');
  }
  if (failed.length + skipped.length > 0) {
    out.push('## Points not measured', '');
    for (const r of [...failed, ...skipped]) {
      const reason = (r.reason ?? 'no reason given').replace(/\s*\n\s*/g, ' ');
      out.push(`- ${r.point.index + 1}. ${r.point.label}: ${r.status} — ${reason}`);
    }
    out.push('');
  }
  out.push(
    '## How this was measured',
    '',
    '- Each point ran on a fresh rig: two network namespaces joined by a veth pair (198.18.0.0/15), a `tbf` ' +
      'bottleneck on the sender\'s egress, or plain loopback. The sender, the capture and the receiver ran in their ' +
      'own namespaces; only the rig\'s traffic was captured.',
    '- libpcap captured on the sender\'s interface with kernel nanosecond timestamps: outgoing frames after the qdisc, ' +
      'so "queued" includes time in the bottleneck\'s queue. The sender stamped submissions and completions on the ' +
      'same CLOCK_REALTIME.',
    '- Stages are decided per completion by the correlation (first/last transmission of the write\'s bytes, first ' +
      'cumulative ACK covering its end) and kept in the database with the session.',
    '- A command sender ran unchanged under the kernel tracer (eBPF, docs/trace.md), started by it so no send call ' +
      'was missed: each send system call became a completion, with the kernel\'s moments for its last byte as a third ' +
      'witness; the tracer kept collecting until the connection had closed on both sides.',
    '',
  );
  return out.join('\n');
}

/** Writes report.md, the plots and results.json into `dir`; returns the files written. */
export function writeReport(dir: string, run: ExperimentRun): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  };
  write('report.md', buildReport(run));
  write(PLOT_FILES.stageShare, stageSharePlot(run.results));
  if (run.representative) {
    write(PLOT_FILES.completionTimes, completionTimesPlot(run.representative));
    write(PLOT_FILES.timeSequence, timeSequencePlot(run.representative));
  }
  write('results.json', JSON.stringify(run, null, 2) + '\n');
  return files;
}
