/**
 * The session summary folded one record at a time (records from analysis/correlation.ts
 * `correlateEach`), so a summary needs no array of records: a record takes ~540 bytes of
 * heap, while this keeps per group (overall, per flow, per api) its counts and, per
 * (flow, api) cell, one quantile sketch per gap (correlate/quantile-sketch.ts), merged
 * into a group's spread while it is taken. What it holds follows the number of cells
 * and the spread of the gaps, not the number of completions: it used to keep every gap
 * in growable typed arrays for exact percentiles, 3 to 5 doubles per completion, and a
 * summary's peak memory grew with the session (docs/operations.md, "Soak").
 * Counts, shares, verdicts, `count` and `max` equal `summariseSession` over the same
 * records; p50/p90/p99 are within `SKETCH_RELATIVE_ERROR` (0.5 %) × |exact| + 0.5 ns, and
 * the summary says so (`percentiles`). test/summary.stream.test.ts checks both. Pure.
 */
import { QuantileSketch, SKETCH_RELATIVE_ERROR } from './quantile-sketch.js';
import type { Spread } from './percentiles.js';
import { flowOrdering, worstOrdering, type FlowIdentity, type FlowOrderingInput, type GroupSummary, type SessionSummaryData } from './summary.js';
import type { PartialExample } from './partial.js';
import { STAGES, type CorrelationRecord, type Stage, type UnknownReason } from './types.js';

const PARTIAL_EXAMPLES = 5;
const AS_CAPTURE: Record<string, Stage> = { socket: 'queued', qdisc: 'queued', wire: 'wire', acked: 'acked' };

/** The gap sketches of one (flow, api) cell. */
interface CellSamples {
  submitToComplete: QuantileSketch;
  lastWireMinusComplete: QuantileSketch;
  ackedMinusComplete: QuantileSketch;
  driverMinusWire: QuantileSketch;
  ackArrivedMinusCapture: QuantileSketch;
}
type SampleName = keyof CellSamples;

function newCell(): CellSamples {
  return {
    submitToComplete: new QuantileSketch(),
    lastWireMinusComplete: new QuantileSketch(),
    ackedMinusComplete: new QuantileSketch(),
    driverMinusWire: new QuantileSketch(),
    ackArrivedMinusCapture: new QuantileSketch(),
  };
}

/** The spread of the named gap over several cells: their sketches merged into one, let go. */
function spreadOver(cells: readonly CellSamples[], name: SampleName): Spread {
  const merged = new QuantileSketch();
  for (const c of cells) merged.merge(c[name]);
  return merged.spread();
}

/** Everything of a group's summary but its percentiles: counts only. */
class GroupTally {
  completions = 0;
  private readonly counts = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
  private readonly unknownReasons: Partial<Record<UnknownReason, number>> = {};
  private uncertain = 0;
  private crossHost = 0;
  private crossHostUncertain = 0;
  private nearBoundary = 0;
  private decidedFromWindow = 0;
  private retransmitted = 0;
  private sackedBeforeAck = 0;
  private readonly tcpInfo = { compared: 0, agree: 0, disagree: 0 };
  private partial = 0;
  private readonly examples: PartialExample[] = [];
  private readonly kernel = { witnessed: 0, compared: 0, agree: 0, decidedByKernel: 0 };

  add(r: CorrelationRecord): void {
    this.completions++;
    this.counts[r.stage]++;
    if (r.reason) this.unknownReasons[r.reason] = (this.unknownReasons[r.reason] ?? 0) + 1;
    if (r.uncertain) this.uncertain++;
    if (r.crossHost) {
      this.crossHost++;
      if (r.uncertain) this.crossHostUncertain++;
    }
    if (r.nearBoundary) this.nearBoundary++;
    if (r.stage !== 'unknown' && r.decidingDoubt !== null) this.decidedFromWindow++;
    if (r.retransmitted) this.retransmitted++;
    if (r.sackedNs !== null) this.sackedBeforeAck++;
    if (r.tcpInfoAgrees !== null) {
      this.tcpInfo.compared++;
      if (r.tcpInfoAgrees) this.tcpInfo.agree++;
      else this.tcpInfo.disagree++;
    }
    const length = r.offsetEnd - r.offsetStart;
    if (r.bytesReported < length) {
      this.partial++;
      if (this.examples.length < PARTIAL_EXAMPLES) {
        this.examples.push({ writeId: r.writeId, length, bytesReported: r.bytesReported, status: r.status });
      }
    }
    if (r.kernel) {
      this.kernel.witnessed++;
      if (r.decidedBy === 'kernel') this.kernel.decidedByKernel++;
      else if (r.kernelStage !== null && r.stage !== 'unknown') {
        this.kernel.compared++;
        const captureStage = r.stage === 'socket' || r.stage === 'qdisc' ? 'queued' : r.stage;
        // partial-wire by the capture: the last byte is still in the host, as socket/qdisc say
        if (AS_CAPTURE[r.kernelStage] === captureStage || (captureStage === 'partial-wire' && AS_CAPTURE[r.kernelStage] === 'queued')) {
          this.kernel.agree++;
        }
      }
    }
  }

  summary(cells: readonly CellSamples[]): GroupSummary {
    const n = this.completions;
    const stages = Object.fromEntries(
      STAGES.map((s) => [s, { count: this.counts[s], share: n === 0 ? 0 : this.counts[s] / n }]),
    ) as GroupSummary['stages'];
    return {
      completions: n,
      stages,
      unknownReasons: { ...this.unknownReasons },
      uncertain: this.uncertain,
      crossHost: this.crossHost,
      crossHostUncertain: this.crossHostUncertain,
      nearBoundary: this.nearBoundary,
      decidedFromWindow: this.decidedFromWindow,
      gaps: {
        submitToComplete: spreadOver(cells, 'submitToComplete'),
        lastWireMinusComplete: spreadOver(cells, 'lastWireMinusComplete'),
        ackedMinusComplete: spreadOver(cells, 'ackedMinusComplete'),
      },
      retransmitted: this.retransmitted,
      sackedBeforeAck: this.sackedBeforeAck,
      tcpInfo: { ...this.tcpInfo },
      partial: { verdict: this.partial > 0 ? 'found' : 'none', completions: n, partial: this.partial, examples: [...this.examples] },
      kernel: {
        ...this.kernel,
        driverMinusWire: spreadOver(cells, 'driverMinusWire'),
        ackArrivedMinusCapture: spreadOver(cells, 'ackArrivedMinusCapture'),
      },
    };
  }
}

/**
 * Folds correlation records into the session summary: `add` each record (in the
 * correlation's order), then `summary` once. What it holds grows with the flows and
 * apis seen, not with the records.
 */
export class SessionSummaryFold {
  private readonly overall = new GroupTally();
  private readonly byFlow = new Map<number | null, GroupTally>();
  private readonly byApi = new Map<string, GroupTally>();
  /** Gap sketches per flow, then per api: each value added once. */
  private readonly cells = new Map<number | null, Map<string, CellSamples>>();
  private readonly dataDirs = new Map<number, Set<number>>();
  /** The captured flows each api's completions went by, in first-seen order. */
  private readonly apiFlows = new Map<string, Set<number>>();

  add(r: CorrelationRecord): void {
    this.overall.add(r);
    let flow = this.byFlow.get(r.flowId);
    if (!flow) this.byFlow.set(r.flowId, (flow = new GroupTally()));
    flow.add(r);
    let api = this.byApi.get(r.api);
    if (!api) {
      this.byApi.set(r.api, (api = new GroupTally()));
      this.apiFlows.set(r.api, new Set());
    }
    api.add(r);
    if (r.flowId !== null) {
      this.apiFlows.get(r.api)!.add(r.flowId);
      if (r.dataDir !== null) {
        let dirs = this.dataDirs.get(r.flowId);
        if (!dirs) this.dataDirs.set(r.flowId, (dirs = new Set()));
        dirs.add(r.dataDir);
      }
    }
    let perApi = this.cells.get(r.flowId);
    if (!perApi) this.cells.set(r.flowId, (perApi = new Map()));
    let cell = perApi.get(r.api);
    if (!cell) perApi.set(r.api, (cell = newCell()));
    cell.submitToComplete.add(r.submitToCompleteNs);
    if (r.lastWireMinusCompleteNs !== null) cell.lastWireMinusComplete.add(r.lastWireMinusCompleteNs);
    if (r.ackedMinusCompleteNs !== null) cell.ackedMinusComplete.add(r.ackedMinusCompleteNs);
    if (r.kernel) {
      if (r.driverMinusWireNs !== null) cell.driverMinusWire.add(r.driverMinusWireNs);
      if (r.ackArrivedMinusCaptureNs !== null) cell.ackArrivedMinusCapture.add(r.ackArrivedMinusCaptureNs);
    }
  }

  /** Bytes of the gap sketches held: follows the cells and the gaps' spread, not the records added. */
  get sketchBytes(): number {
    let bytes = 0;
    for (const perApi of this.cells.values()) {
      for (const cell of perApi.values()) for (const sketch of Object.values(cell) as QuantileSketch[]) bytes += sketch.bytes;
    }
    return bytes;
  }

  /** The summary as `summariseSession(records, flows, ordering)` gives it, but for percentiles within the sketch's bound. */
  summary(flows: readonly FlowIdentity[], ordering: readonly FlowOrderingInput[]): SessionSummaryData {
    const orderingOfFlow = flowOrdering(ordering, this.dataDirs);
    const cellsOfFlow = (flowId: number | null): CellSamples[] => [...(this.cells.get(flowId)?.values() ?? [])];
    const cellsOfApi = (api: string): CellSamples[] => {
      const list: CellSamples[] = [];
      for (const perApi of this.cells.values()) {
        const cell = perApi.get(api);
        if (cell) list.push(cell);
      }
      return list;
    };
    const allCells = [...this.cells.values()].flatMap((perApi) => [...perApi.values()]);

    const flowRows: SessionSummaryData['flows'] = flows.map((flow) => ({
      flow,
      ordering: orderingOfFlow(flow.id),
      summary: (this.byFlow.get(flow.id) ?? new GroupTally()).summary(cellsOfFlow(flow.id)),
    }));
    const unmatched = this.byFlow.get(null);
    if (unmatched) flowRows.push({ flow: null, ordering: worstOrdering([]), summary: unmatched.summary(cellsOfFlow(null)) });
    const apis = [...this.byApi].map(([api, tally]) => ({
      api,
      ordering: worstOrdering([...this.apiFlows.get(api)!].map(orderingOfFlow)),
      summary: tally.summary(cellsOfApi(api)),
    }));
    return {
      overall: this.overall.summary(allCells),
      flows: flowRows,
      apis,
      percentiles: { exact: false, relativeError: SKETCH_RELATIVE_ERROR },
    };
  }
}
