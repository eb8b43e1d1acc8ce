/**
 * Joins the tracer's moments to its calls (pure, no I/O): each `call` becomes a completion
 * record in ackscope's form (docs/completions.md) with a kernel witness of its LAST byte —
 * entered the qdisc, left it, handed to the driver, ACK arrived, ACK processed, and
 * whether that byte was retransmitted. A moment the tracer did not see stays null and is
 * counted; none is ever invented.
 */
import type { KernelMomentsText } from '../core/kernel-witness.js';
import type { CallEvent, MomentEvent, TracedFlow, TracerEvent, TxMomentEvent, UncoveredEvent } from './events.js';

/** A completion record as docs/completions.md defines it (the subset the tracer fills). */
export interface TracedCompletionRecord {
  flow: TracedFlow;
  writeId: number;
  offsetStart: number;
  offsetEnd: number;
  submittedNs: string;
  completedNs: string;
  bytesReported: number;
  api: string;
  buffers: number;
  status: string;
  writeReturned: number;
  extra: {
    pid: number;
    tid: number;
    syscall: string;
    fd: number;
    flowId: number;
    requested: number;
    /** End of the bytes TCP accepted (offsetStart + bytesReported for one writer). */
    acceptedEnd: number;
    messages: number;
    interleaved: boolean;
    offsetBasis: string;
  };
}

/** The moments of a call's last byte (core/kernel-witness.ts: the form the API takes). */
export type KernelWitness = KernelMomentsText;

export interface TracedCompletion {
  record: TracedCompletionRecord;
  kernel: KernelWitness;
}

export type WitnessMoment = 'qdiscIn' | 'qdiscOut' | 'driver' | 'ackArrived' | 'ackProcessed';

export interface JoinResult {
  completions: TracedCompletion[];
  /** Calls with bytes whose moment was not seen, per moment. */
  missing: Record<WitnessMoment, number>;
  /** Calls that moved no bytes (errors, zero-length): no witness to look for. */
  noBytes: number;
  uncovered: UncoveredEvent[];
  /** Ring-buffer losses the tracer reported (latest stats). */
  lost: number;
}

const TX_KEYS = { 'qdisc-in': 'qdiscIn', 'qdisc-out': 'qdiscOut', driver: 'driver' } as const;
const ACK_KEYS = { 'ack-arrived': 'ackArrived', 'ack-processed': 'ackProcessed' } as const;

/** Moments of one kind on one flow, in time order, with the running maximum of the offset each reaches. */
interface Series {
  ns: bigint[];
  start: number[];
  end: number[];
  runMax: number[];
}

function series(events: { ns: string; start: number; end: number }[]): Series {
  const sorted = events
    .map((e) => ({ ns: BigInt(e.ns), start: e.start, end: e.end }))
    .sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
  const s: Series = { ns: [], start: [], end: [], runMax: [] };
  let max = -1;
  for (const e of sorted) {
    max = Math.max(max, e.end);
    s.ns.push(e.ns);
    s.start.push(e.start);
    s.end.push(e.end);
    s.runMax.push(max);
  }
  return s;
}

/** First moment (in time) whose range reaches past `byte`: the running maximum makes it a binary search. Null unless that moment's range covers the byte. */
function firstCovering(s: Series | undefined, byte: number, ack: boolean): bigint | null {
  if (!s || s.ns.length === 0) return null;
  let lo = 0;
  let hi = s.runMax.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((s.runMax[mid] as number) > byte) hi = mid;
    else lo = mid + 1;
  }
  if (lo >= s.ns.length) return null;
  // An ACK covers every byte below it; a transmitted range only its own bytes (a lost
  // event leaves a gap: the next range does not cover the byte, and nothing is invented).
  if (!ack && (s.start[lo] as number) > byte) return null;
  return s.ns[lo] as bigint;
}

export function joinMoments(events: readonly TracerEvent[]): JoinResult {
  const calls: CallEvent[] = [];
  const moments = new Map<number, MomentEvent[]>();
  const uncovered: UncoveredEvent[] = [];
  let lost = 0;
  for (const e of events) {
    if (e.type === 'call') calls.push(e);
    else if (e.type === 'moment') {
      const list = moments.get(e.flowId);
      if (list) list.push(e);
      else moments.set(e.flowId, [e]);
    } else if (e.type === 'uncovered') uncovered.push(e);
    else if (e.type === 'stats') lost = Math.max(lost, e.lost);
  }

  const perFlow = new Map<number, Partial<Record<WitnessMoment, Series>> & { retrans: TxMomentEvent[] }>();
  for (const [flowId, list] of moments) {
    const tx: Record<string, { ns: string; start: number; end: number }[]> = {};
    const retrans: TxMomentEvent[] = [];
    for (const m of list) {
      if ('ackOffset' in m) {
        (tx[ACK_KEYS[m.moment]] ??= []).push({ ns: m.ns, start: 0, end: m.ackOffset });
      } else if (m.moment === 'retransmit') {
        retrans.push(m);
      } else {
        (tx[TX_KEYS[m.moment]] ??= []).push({ ns: m.ns, start: m.offsetStart, end: m.offsetEnd });
      }
    }
    const entry: Partial<Record<WitnessMoment, Series>> & { retrans: TxMomentEvent[] } = { retrans };
    for (const [k, v] of Object.entries(tx)) entry[k as WitnessMoment] = series(v);
    perFlow.set(flowId, entry);
  }

  // writeId: the order the calls were made in, per flow
  const ordered = calls
    .map((c, i) => ({ c, i, enter: BigInt(c.enterNs) }))
    .sort((a, b) =>
      a.c.flowId !== b.c.flowId
        ? a.c.flowId - b.c.flowId
        : a.enter !== b.enter
          ? a.enter < b.enter
            ? -1
            : 1
          : a.c.offsetStart - b.c.offsetStart || a.i - b.i,
    );
  const missing: Record<WitnessMoment, number> = { qdiscIn: 0, qdiscOut: 0, driver: 0, ackArrived: 0, ackProcessed: 0 };
  let noBytes = 0;
  const completions: TracedCompletion[] = [];
  let flowId = -1;
  let writeId = 0;
  for (const { c } of ordered) {
    if (c.flowId !== flowId) {
      flowId = c.flowId;
      writeId = 0;
    }
    const bytesReported = c.syscall === 'sendmmsg' ? c.bytes : Math.max(c.returned, 0);
    const record: TracedCompletionRecord = {
      flow: c.flow,
      writeId: writeId++,
      offsetStart: c.offsetStart,
      // as posted: the whole request; a short return is a partial completion (bytesReported)
      offsetEnd: c.offsetStart + Math.max(c.requested, bytesReported),
      submittedNs: c.enterNs,
      completedNs: c.exitNs,
      bytesReported,
      api: c.api,
      buffers: Math.max(c.buffers, 1),
      status: c.errno ?? 'ok',
      writeReturned: c.returned,
      extra: {
        pid: c.pid,
        tid: c.tid,
        syscall: c.syscall,
        fd: c.fd,
        flowId: c.flowId,
        requested: c.requested,
        acceptedEnd: c.offsetEnd,
        messages: c.messages,
        interleaved: c.interleaved,
        offsetBasis: c.offsetBasis,
      },
    };
    const kernel: KernelWitness = {
      byte: null,
      qdiscInNs: null,
      qdiscOutNs: null,
      driverNs: null,
      ackArrivedNs: null,
      ackProcessedNs: null,
      retransmitted: false,
    };
    const accepted = c.offsetEnd - c.offsetStart;
    if (accepted <= 0) {
      noBytes++;
    } else {
      const byte = c.offsetEnd - 1;
      kernel.byte = byte;
      const f = perFlow.get(c.flowId);
      const put = (k: WitnessMoment, ack: boolean): string | null => {
        const t = firstCovering(f?.[k], byte, ack);
        if (t === null) missing[k]++;
        return t === null ? null : t.toString();
      };
      kernel.qdiscInNs = put('qdiscIn', false);
      kernel.qdiscOutNs = put('qdiscOut', false);
      kernel.driverNs = put('driver', false);
      kernel.ackArrivedNs = put('ackArrived', true);
      kernel.ackProcessedNs = put('ackProcessed', true);
      kernel.retransmitted = (f?.retrans ?? []).some((r) => r.offsetStart <= byte && byte < r.offsetEnd);
    }
    completions.push({ record, kernel });
  }
  return { completions, missing, noBytes, uncovered, lost };
}
