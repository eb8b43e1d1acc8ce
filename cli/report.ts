import { DEFAULT_SERVICE_URL } from '../core/api-reply.js';
import { Command } from '@commander-js/extra-typings';
import Table from 'cli-table3';
import { ServiceClient } from '../sender/service-client.js';
import type { SummaryT } from '../service/schemas/correlation.js';
import { defaultServiceUrl, parseSessionId } from './ingest.js';
import { PLACE_OF_STAGE, STAGES, stagesShown } from '../core/stages.js';

/**
 * `ackscope report SESSION [--url URL] [--json]`: GET /sessions/:id/summary printed as
 * terminal tables — stage counts and shares, gap percentiles, and the verdicts (partial
 * completions, ordering, retransmissions, TCP info agreement) per flow and per api.
 */
export function reportCommand() {
  return new Command('report')
    .description('print the correlation summary of a session: stages, gaps and verdicts per flow and per api')
    .argument('<session>', 'session id')
    .option('--url <url>', `the service (default ACKSCOPE_URL, else ${DEFAULT_SERVICE_URL})`)
    .option('--json', 'print the summary JSON instead of tables')
    .action(async (session, options) => {
      const summary = await fetchSummary(options.url ?? defaultServiceUrl(), parseSessionId(session));
      process.stdout.write(options.json ? `${JSON.stringify(summary, null, 2)}\n` : renderSummary(summary));
    });
}

export async function fetchSummary(baseUrl: string, sessionId: number): Promise<SummaryT> {
  return new ServiceClient(baseUrl).json<SummaryT>('GET', `/sessions/${sessionId}/summary`);
}

/** The question's five places, per api, in plain words: one line per place that occurred. */
export function placesInWords(s: SummaryT): string[] {
  const lines: string[] = [];
  for (const a of s.apis) {
    lines.push(`  ${a.api} (${a.completions} completions):`);
    for (const stage of STAGES) {
      const c = a.stages[stage];
      if (c.count > 0) lines.push(`    ${(c.share * 100).toFixed(1).padStart(5)}%  ${PLACE_OF_STAGE[stage]} [${stage}]`);
    }
  }
  return lines;
}

/** Nanoseconds (decimal string) for people: ns, µs, ms or s with 3 significant digits. */
export function formatNs(text: string | null): string {
  if (text === null) return '–';
  const ns = Number(text);
  const abs = Math.abs(ns);
  if (abs < 1_000) return `${ns} ns`;
  if (abs < 1_000_000) return `${(ns / 1_000).toPrecision(3)} µs`;
  if (abs < 1_000_000_000) return `${(ns / 1_000_000).toPrecision(3)} ms`;
  return `${(ns / 1_000_000_000).toPrecision(3)} s`;
}

type Group = SummaryT['overall'];

function groups(s: SummaryT): [string, Group, SummaryT['flows'][number]['ordering'] | null][] {
  return [
    ['all', s.overall, null],
    ...s.flows.map((f): [string, Group, SummaryT['flows'][number]['ordering']] => [
      f.flowId === null ? 'no captured flow' : `flow ${f.flowId} ${f.endpoints}`,
      f,
      f.ordering,
    ]),
    ...s.apis.map((a): [string, Group, SummaryT['apis'][number]['ordering']] => [`api ${a.api}`, a, a.ordering]),
  ];
}

/** The summary as plain-text tables (no colours: the output may be piped or logged). */
export function renderSummary(s: SummaryT): string {
  const STAGE_COLUMNS = stagesShown((k) => s.overall.stages[k].count);
  const style = { head: [] as string[], border: [] as string[] };
  const out: string[] = [];
  const drops = s.capture.drops;
  out.push(
    `session ${s.sessionId}: ${s.capture.frames} frames (${s.capture.tcp} TCP) in ${s.capture.flows} flows; ` +
      `kernel drops ${drops.dropped ?? 'n/a'}, interface drops ${drops.ifDropped ?? 'n/a'}; ` +
      `clock uncertainty ${formatNs(s.clockUncertaintyNs)}, near-boundary margin ${formatNs(s.nearMarginNs)}; ` +
      `correlated in ${s.correlation.elapsedMs} ms`,
  );

  const stages = new Table({ head: ['', 'completions', ...STAGE_COLUMNS, 'uncertain', 'near boundary', 'from a window'], style });
  for (const [name, g] of groups(s)) {
    stages.push([
      name,
      g.completions,
      ...STAGE_COLUMNS.map((k) => (g.stages[k].count === 0 ? '0' : `${g.stages[k].count} (${(g.stages[k].share * 100).toFixed(1)}%)`)),
      g.uncertain,
      g.nearBoundary,
      g.decidedFromWindow,
    ]);
  }
  out.push('Stage at completion', stages.toString());

  const gaps = new Table({ head: ['', 'gap', 'n', 'p50', 'p90', 'p99', 'max'], style });
  const gapNames = [
    ['submitToComplete', 'complete − submit'],
    ['lastWireMinusComplete', 'last wire − complete'],
    ['ackedMinusComplete', 'acked − complete'],
  ] as const;
  for (const [name, g] of groups(s)) {
    for (const [key, label] of gapNames) {
      const sp = g.gaps[key];
      gaps.push([name, label, sp.count, formatNs(sp.p50), formatNs(sp.p90), formatNs(sp.p99), formatNs(sp.max)]);
    }
  }
  const approximate = s.percentiles.exact
    ? ''
    : `; p50/p90/p99 within ${(s.percentiles.relativeError * 100).toFixed(1)}% while the session is capturing (a sketch; n and max exact)`;
  out.push(`Gaps (negative: before the completion${approximate})`, gaps.toString());

  const verdicts = new Table({
    head: ['', 'partial completions', 'ordering', 'retransmitted', 'SACK before ACK', 'TCP info agrees'],
    style,
    colWidths: [null, null, 60, null, null, null],
    wordWrap: true,
  });
  for (const [name, g, ordering] of groups(s)) {
    const p = g.partial;
    const partial =
      p.verdict === 'none'
        ? 'none'
        : `${p.partial} of ${p.completions}: ` + p.examples.map((e) => `w${e.writeId} ${e.bytesReported}/${e.length}`).join(', ');
    const order = ordering
      ? ordering.verdict + (ordering.firstViolation ? `: ${ordering.firstViolation.message}` : ` (${ordering.writesSeen} tagged writes)`)
      : '';
    verdicts.push([
      name,
      partial,
      order,
      g.retransmitted,
      g.sackedBeforeAck,
      g.tcpInfo.compared === 0 ? 'no TCP info' : `${g.tcpInfo.agree} of ${g.tcpInfo.compared}`,
    ]);
  }
  out.push('Verdicts', verdicts.toString());

  const k = s.overall.kernel;
  if (k.witnessed > 0) {
    const spreadText = (sp: SummaryT['overall']['kernel']['driverMinusWire']) =>
      sp.count === 0 ? 'not compared' : `p50 ${formatNs(sp.p50)}, p99 ${formatNs(sp.p99)}, max ${formatNs(sp.max)} (${sp.count} writes)`;
    out.push(
      `Kernel witness: ${k.witnessed} writes traced; stages agree with the capture for ${k.agree} of ${k.compared}; ` +
        `${k.decidedByKernel} decided by the kernel alone\n` +
        `  driver hand-off − captured frame: ${spreadText(k.driverMinusWire)}\n` +
        `  ACK arrival − captured ACK: ${spreadText(k.ackArrivedMinusCapture)}`,
    );
  }
  out.push('Where the bytes were when the call completed', ...placesInWords(s));

  const reasons = Object.entries(s.overall.unknownReasons);
  if (reasons.length > 0) out.push(`unknown because: ${reasons.map(([r, n]) => `${r} ${n}`).join(', ')}`);
  return out.join('\n') + '\n';
}
