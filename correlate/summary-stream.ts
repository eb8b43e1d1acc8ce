/**
 * The session summary folded one record at a time (records from analysis/correlation.ts
 * `correlateEach`, or a held correlation's array), so a summary needs no second array of
 * records and takes one pass: per group (overall, per flow, per api) it keeps counts and,
 * per (flow, api) cell, one sample per gap, merged into a group's spread while it is taken.
 *
 * Two kinds of sample:
 * - `sketch` (a session still capturing): a quantile sketch per gap
 *   (correlate/quantile-sketch.ts). What it holds follows the number of cells and the spread
 *   of the gaps, not the number of completions; p50/p90/p99 are within
 *   `SKETCH_RELATIVE_ERROR` (0.5 %) × |exact| + 0.5 ns, and the summary says so
 *   (`percentiles`). Exact samples held 3 to 5 doubles per completion, and a capturing
 *   session's summary grew with it (docs/operations.md, "Soak").
 * - `exact` (a finished session, whose records are held anyway): every gap in a growable
 *   Float64Array, nearest-rank percentiles selected in place. One pass instead of
 *   `summariseSession`'s three groupings of the records and their arrays of numbers.
 *
 * Counts, shares, verdicts, `count` and `max` equal `summariseSession` (correlate/summary.ts,
 * the reference) over the same records, and exact percentiles equal its own.
 * test/summary.stream.test.ts checks both kinds. Pure.
 */
import { QuantileSketch, SKETCH_RELATIVE_ERROR } from './quantile-sketch.js';
import { spreadInPlace, type Spread } from './percentiles.js';
import { flowOrdering, worstOrdering, type FlowIdentity, type FlowOrderingInput, type GroupSummary, type SessionSummaryData } from './summary.js';
import type { PartialExample } from './partial.js';
import { STAGES, type CorrelationRecord, type Stage, type UnknownReason } from './types.js';

const PARTIAL_EXAMPLES = 5;
const AS_CAPTURE: Record<string, Stage> = { socket: 'queued', qdisc: 'queued', wire: 'wire', acked: 'acked' };

/** Every value of one gap, kept for exact percentiles. */
class ExactSample {
  values = new Float64Array(64);
  length = 0;

  add(v: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = v;
  }
}

/** The exact spread of several samples: one sample's values are reordered where they lie, several are copied into one array first. */
function exactSpread(samples: readonly ExactSample[]): Spread {
  if (samples.length === 1) return spreadInPlace(samples[0].values.subarray(0, samples[0].length));
  let total = 0;
  for (const s of samples) total += s.length;
  const all = new Float64Array(total);
  let at = 0;
  for (const s of samples) {
    all.set(s.values.subarray(0, s.length), at);
    at += s.length;
  }
  return spreadInPlace(all);
}

/** The spread of several sketches: merged into one, let go. */
function sketchSpread(samples: readonly QuantileSketch[]): Spread {
  const merged = new QuantileSketch();
  for (const s of samples) merged.merge(s);
  return merged.spread();
}

type GapName = 'submitToComplete' | 'lastWireMinusComplete' | 'ackedMinusComplete' | 'driverMinusWire' | 'ackArrivedMinusCapture';
const GAP_NAMES: readonly GapName[] = ['submitToComplete', 'lastWireMinusComplete', 'ackedMinusComplete', 'driverMinusWire', 'ackArrivedMinusCapture'];

/** The gap samples of one (flow, api) cell. */
type CellSamples<S> = Record<GapName, S>;

/** How a fold keeps its gaps: a new sample, and the spread of several. */
interface SampleKind<S extends { add(v: number): void }> {
  create(): S;
  spread(samples: readonly S[]): Spread;
  accuracy: SessionSummaryData['percentiles'];
}

const KINDS = {
  sketch: { create: () => new QuantileSketch(), spread: sketchSpread, accuracy: { exact: false, relativeError: SKETCH_RELATIVE_ERROR } } as SampleKind<QuantileSketch>,
  exact: { create: () => new ExactSample(), spread: exactSpread, accuracy: { exact: true, relativeError: 0 } } as SampleKind<ExactSample>,
};
export type PercentileMode = keyof typeof KINDS;

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

  summary<S extends { add(v: number): void }>(cells: readonly CellSamples<S>[], kind: SampleKind<S>): GroupSummary {
    const spreadOver = (name: GapName): Spread => kind.spread(cells.map((c) => c[name]));
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
        submitToComplete: spreadOver('submitToComplete'),
        lastWireMinusComplete: spreadOver('lastWireMinusComplete'),
        ackedMinusComplete: spreadOver('ackedMinusComplete'),
      },
      retransmitted: this.retransmitted,
      sackedBeforeAck: this.sackedBeforeAck,
      tcpInfo: { ...this.tcpInfo },
      partial: { verdict: this.partial > 0 ? 'found' : 'none', completions: n, partial: this.partial, examples: [...this.examples] },
      kernel: {
        ...this.kernel,
        driverMinusWire: spreadOver('driverMinusWire'),
        ackArrivedMinusCapture: spreadOver('ackArrivedMinusCapture'),
      },
    };
  }
}

/**
 * Folds correlation records into the session summary: `add` each record (in the
 * correlation's order), then `summary` once. With sketches (the default) what it holds
 * grows with the flows and apis seen, not with the records; `exact` keeps every gap.
 */
export class SessionSummaryFold {
  private readonly overall = new GroupTally();
  private readonly byFlow = new Map<number | null, GroupTally>();
  private readonly byApi = new Map<string, GroupTally>();
  /** Gap samples per flow, then per api: each value added once. */
  private readonly cells = new Map<number | null, Map<string, CellSamples<{ add(v: number): void }>>>();
  private readonly dataDirs = new Map<number, Set<number>>();
  /** The captured flows each api's completions went by, in first-seen order. */
  private readonly apiFlows = new Map<string, Set<number>>();
  // the kind's methods take its own sample type; the cells hold only samples it created
  private readonly kind: SampleKind<{ add(v: number): void }>;

  constructor(percentiles: PercentileMode = 'sketch') {
    this.kind = KINDS[percentiles] as SampleKind<{ add(v: number): void }>;
  }

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
    if (!cell) perApi.set(r.api, (cell = this.newCell()));
    cell.submitToComplete.add(r.submitToCompleteNs);
    if (r.lastWireMinusCompleteNs !== null) cell.lastWireMinusComplete.add(r.lastWireMinusCompleteNs);
    if (r.ackedMinusCompleteNs !== null) cell.ackedMinusComplete.add(r.ackedMinusCompleteNs);
    if (r.kernel) {
      if (r.driverMinusWireNs !== null) cell.driverMinusWire.add(r.driverMinusWireNs);
      if (r.ackArrivedMinusCaptureNs !== null) cell.ackArrivedMinusCapture.add(r.ackArrivedMinusCaptureNs);
    }
  }

  private newCell(): CellSamples<{ add(v: number): void }> {
    const cell = {} as CellSamples<{ add(v: number): void }>;
    for (const name of GAP_NAMES) cell[name] = this.kind.create();
    return cell;
  }

  /** Bytes of the gap samples held: with sketches, follows the cells and the gaps' spread, not the records added. */
  get sampleBytes(): number {
    let bytes = 0;
    for (const perApi of this.cells.values()) {
      for (const cell of perApi.values()) {
        for (const sample of Object.values(cell)) bytes += sample instanceof QuantileSketch ? sample.bytes : (sample as ExactSample).values.byteLength;
      }
    }
    return bytes;
  }

  /** The summary as `summariseSession(records, flows, ordering)` gives it (percentiles within the sketch's bound, with sketches). */
  summary(flows: readonly FlowIdentity[], ordering: readonly FlowOrderingInput[]): SessionSummaryData {
    type Cell = CellSamples<{ add(v: number): void }>;
    const orderingOfFlow = flowOrdering(ordering, this.dataDirs);
    const cellsOfFlow = (flowId: number | null): Cell[] => [...(this.cells.get(flowId)?.values() ?? [])];
    const cellsOfApi = (api: string): Cell[] => {
      const list: Cell[] = [];
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
      summary: (this.byFlow.get(flow.id) ?? new GroupTally()).summary(cellsOfFlow(flow.id), this.kind),
    }));
    const unmatched = this.byFlow.get(null);
    if (unmatched) flowRows.push({ flow: null, ordering: worstOrdering([]), summary: unmatched.summary(cellsOfFlow(null), this.kind) });
    const apis = [...this.byApi].map(([api, tally]) => ({
      api,
      ordering: worstOrdering([...this.apiFlows.get(api)!].map(orderingOfFlow)),
      summary: tally.summary(cellsOfApi(api), this.kind),
    }));
    return {
      overall: this.overall.summary(allCells, this.kind),
      flows: flowRows,
      apis,
      percentiles: { ...this.kind.accuracy },
    };
  }
}

/** A held correlation's summary with exact percentiles, in one pass over its records. */
export function summariseHeld(records: readonly CorrelationRecord[], flows: readonly FlowIdentity[], ordering: readonly FlowOrderingInput[]): SessionSummaryData {
  const fold = new SessionSummaryFold('exact');
  for (const r of records) fold.add(r);
  return fold.summary(flows, ordering);
}
