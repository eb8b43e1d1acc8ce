import type { CorrelationRecord } from './types.js';

/**
 * Chrome trace-event export (the JSON Object Format that chrome://tracing and Perfetto
 * load). One process per flow, named by metadata events; each write is an X slice from
 * submit to completion with instant events at its first/last wire and ACK times.
 * `ts` and `dur` are microseconds (floats, so nanoseconds survive) relative to `baseNs`,
 * which `otherData.baseNs` carries as an epoch-ns string.
 *
 * Slices on one thread must nest; pipelined writes overlap without nesting, so a flow's
 * writes are spread over as few thread lanes as keep every lane free of overlaps (a
 * flow whose writes never overlap gets exactly one thread).
 */
export interface TraceFlow {
  id: number;
  label: string;
}

export interface TraceEvent {
  name: string;
  ph: 'X' | 'i' | 'M';
  ts: number;
  pid: number;
  tid: number;
  cat?: string;
  dur?: number;
  s?: 't' | 'p' | 'g';
  args?: Record<string, unknown>;
}

export interface TraceDocument {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ns';
  otherData: Record<string, string>;
}

const us = (relNs: number) => relNs / 1000;

export function buildTrace(
  records: readonly CorrelationRecord[],
  flows: readonly TraceFlow[],
  baseNs: bigint,
  toAbsolute: (relNs: number) => string,
): TraceDocument {
  return { traceEvents: [...traceEvents(records, flows, toAbsolute)], displayTimeUnit: 'ns', otherData: traceOtherData(baseNs) };
}

export function traceOtherData(baseNs: bigint): Record<string, string> {
  return { baseNs: baseNs.toString(), timeUnit: 'ts and dur are microseconds since baseNs (epoch ns)' };
}

/**
 * The document's events one at a time, in buildTrace's order: a streamed export writes
 * `{"traceEvents":[` + each JSON.stringify(event) joined by commas + `],"displayTimeUnit":"ns","otherData":…}`
 * and gets JSON.stringify(buildTrace(…)) byte for byte without holding every event.
 */
export function* traceEvents(
  records: readonly CorrelationRecord[],
  flows: readonly TraceFlow[],
  toAbsolute: (relNs: number) => string,
): Generator<TraceEvent> {
  const pidOf = new Map<number | null, number>();
  flows.forEach((f, i) => pidOf.set(f.id, i + 1));
  const labels = new Map<number, string>(flows.map((f) => [pidOf.get(f.id)!, f.label]));
  if (records.some((r) => r.flowId === null || !pidOf.has(r.flowId))) {
    const pid = flows.length + 1;
    pidOf.set(null, pid);
    labels.set(pid, 'completions without a captured flow');
  }

  const byPid = new Map<number, CorrelationRecord[]>();
  for (const r of records) {
    const pid = pidOf.get(r.flowId) ?? pidOf.get(null)!;
    const list = byPid.get(pid);
    if (list) list.push(r);
    else byPid.set(pid, [r]);
  }

  for (const [pid, label] of labels) {
    const writes = (byPid.get(pid) ?? []).slice().sort((a, b) => a.submittedNs - b.submittedNs || a.writeId - b.writeId);
    yield { name: 'process_name', ph: 'M', ts: 0, pid, tid: 0, args: { name: label } };
    yield { name: 'process_sort_index', ph: 'M', ts: 0, pid, tid: 0, args: { sort_index: pid } };
    const laneEnds: number[] = [];
    for (const w of writes) {
      let lane = laneEnds.findIndex((end) => end <= w.submittedNs);
      if (lane < 0) lane = laneEnds.push(0) - 1;
      laneEnds[lane] = w.completedNs;
      const tid = lane + 1;
      yield {
        name: `write ${w.writeId}`,
        cat: 'write',
        ph: 'X',
        ts: us(w.submittedNs),
        dur: us(w.completedNs - w.submittedNs),
        pid,
        tid,
        args: {
          stage: w.stage,
          ...(w.reason ? { reason: w.reason } : {}),
          api: w.api,
          offsets: `[${w.offsetStart}, ${w.offsetEnd})`,
          bytesReported: w.bytesReported,
          submittedNs: toAbsolute(w.submittedNs),
          completedNs: toAbsolute(w.completedNs),
          retransmitted: w.retransmitted,
          nearBoundary: w.nearBoundary,
          uncertain: w.uncertain,
        },
      };
      const instants: [string, number | null][] = [
        [`first wire w${w.writeId}`, w.firstWireNs],
        [`last wire w${w.writeId}`, w.lastWireNs],
        [`sack w${w.writeId}`, w.sackedNs],
        [`ack w${w.writeId}`, w.ackedNs],
      ];
      for (const [name, at] of instants) {
        if (at === null) continue;
        yield { name, cat: 'capture', ph: 'i', s: 't', ts: us(at), pid, tid, args: { writeId: w.writeId, ns: toAbsolute(at) } };
      }
    }
    const lanes = Math.max(1, laneEnds.length);
    for (let lane = 0; lane < lanes; lane++) {
      const name = lanes === 1 ? 'writes' : `writes (lane ${lane + 1} of ${lanes}: overlapping writes)`;
      yield { name: 'thread_name', ph: 'M', ts: 0, pid, tid: lane + 1, args: { name } };
    }
  }
}
