import { AckscopeError } from './errors.js';

/**
 * The kernel tracer's witness of one completion (the third witness beside the capture and
 * the sender's record): when the write's last byte passed each place inside the host.
 * A moment the tracer did not see is null — never invented.
 */
export interface KernelWitness {
  /** The stream offset the moments are of (the last byte the call reported); null when the call moved no bytes. */
  byte: number | null;
  qdiscInNs: bigint | null;
  qdiscOutNs: bigint | null;
  driverNs: bigint | null;
  ackArrivedNs: bigint | null;
  ackProcessedNs: bigint | null;
  retransmitted: boolean;
}

/** The moments as the tracer gives them and the API takes them: epoch ns as decimal strings. */
export interface KernelMomentsText {
  byte: number | null;
  qdiscInNs: string | null;
  qdiscOutNs: string | null;
  driverNs: string | null;
  ackArrivedNs: string | null;
  ackProcessedNs: string | null;
  retransmitted: boolean;
}

/** A witness as posted: the completion it belongs to (flow and writeId) and its moments. */
export interface KernelWitnessInput extends KernelMomentsText {
  flow: { srcAddr: string; srcPort: number; dstAddr: string; dstPort: number };
  writeId: number;
}

/** What the tracer said about itself for one session (stored beside its witnesses). */
export interface TraceStats {
  /** What was traced: a command line, pid N or a cgroup. */
  target: string;
  lostEvents: number;
  calls: number;
  /** Sends it saw but cannot follow (sendfile, splice, io_uring). */
  uncovered: number;
  momentsWithoutCall: number;
  /** Calls with bytes whose moment was not seen, per moment. */
  missing: Record<string, number>;
  exitCode: number | null;
}

export const WITNESS_MOMENTS = ['qdiscInNs', 'qdiscOutNs', 'driverNs', 'ackArrivedNs', 'ackProcessedNs'] as const;

function invalid(index: number, field: string, problem: string): AckscopeError {
  return new AckscopeError('ACKSCOPE_ERR_COMPLETION_INVALID', `witness ${index}: ${field}: ${problem}`, { index, field });
}

/** Validates one posted witness (pure); throws ACKSCOPE_ERR_COMPLETION_INVALID naming the index and field. */
export function parseKernelWitness(value: unknown, index: number): { flow: KernelWitnessInput['flow']; writeId: number; witness: KernelWitness } {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid(index, 'witness', 'expected an object');
  const v = value as Record<string, unknown>;
  const flow = v.flow as Record<string, unknown> | undefined;
  if (!flow || typeof flow !== 'object') throw invalid(index, 'flow', 'expected {srcAddr, srcPort, dstAddr, dstPort}');
  for (const f of ['srcAddr', 'dstAddr']) if (typeof flow[f] !== 'string') throw invalid(index, `flow.${f}`, 'expected an address');
  for (const f of ['srcPort', 'dstPort']) {
    const p = flow[f];
    if (!Number.isInteger(p) || (p as number) < 0 || (p as number) > 65535) throw invalid(index, `flow.${f}`, 'expected a port 0-65535');
  }
  if (!Number.isSafeInteger(v.writeId) || (v.writeId as number) < 0) throw invalid(index, 'writeId', 'expected an integer ≥ 0');
  if (v.byte !== null && (!Number.isSafeInteger(v.byte) || (v.byte as number) < 0)) throw invalid(index, 'byte', 'expected an offset ≥ 0 or null');
  if (typeof v.retransmitted !== 'boolean') throw invalid(index, 'retransmitted', 'expected true or false');
  const moments = {} as Record<(typeof WITNESS_MOMENTS)[number], bigint | null>;
  for (const m of WITNESS_MOMENTS) {
    const t = v[m];
    if (t === null || t === undefined) moments[m] = null;
    else if (typeof t === 'string' && /^[0-9]{1,19}$/.test(t) && BigInt(t) <= 9223372036854775807n) moments[m] = BigInt(t);
    else throw invalid(index, m, 'expected epoch nanoseconds as a decimal string, or null');
  }
  return {
    flow: flow as KernelWitnessInput['flow'],
    writeId: v.writeId as number,
    witness: { byte: (v.byte as number | null) ?? null, ...moments, retransmitted: v.retransmitted as boolean },
  };
}
