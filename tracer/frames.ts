/**
 * The tracer's binary event stream (`--events-format binary`, tracer/src/frames.h), decoded
 * into the same events as its NDJSON lines (tracer/events.ts). Frames are
 * `u32 kind, u32 length, payload`, little-endian. A call that returned ≥ 0 and every moment
 * are fixed-layout records; everything else (start, stats, exit, uncovered sends, failed
 * calls) is its NDJSON line in a text frame, parsed by parseTracerLine. Why binary: the
 * reader shares the 2 CPUs with the traced program, and JSON text cost it ~4 µs per event
 * where a record costs well under 1 µs (docs/trace.md, Overhead). Pure: bytes in, events out.
 */
import { TracerError } from './errors.js';
import { parseTracerLine, type CallEvent, type MomentEvent, type SyscallName, type TracedFlow, type TracerEvent } from './events.js';

export const FRAME_TEXT = 1;
export const FRAME_FLOW = 2;
export const FRAME_CALL = 3;
export const FRAME_MOMENT = 4;

const HEADER = 8;
/** Payload sizes (frames.h asserts the same). */
export const FLOW_FRAME_BYTES = 100;
export const CALL_FRAME_BYTES = 96;
export const MOMENT_FRAME_BYTES = 48;
/** A text frame longer than this is not the tracer's. */
const MAX_TEXT = 64 * 1024;
const ADDR_BYTES = 46;

const SYSCALL_BY_NR: Readonly<Record<number, SyscallName>> = { 1: 'write', 20: 'writev', 44: 'sendto', 46: 'sendmsg', 307: 'sendmmsg' };
const MOMENT_BY_CODE = ['', 'qdisc-in', 'qdisc-out', 'driver', 'ack-arrived', 'ack-processed', 'retransmit'] as const;
const BASIS_BY_CODE = ['established', 'listener', 'no-listener'] as const;
const TWO_32 = 2 ** 32;

function bad(field: string, detail: string): TracerError {
  return new TracerError('ACKSCOPE_ERR_TRACER_EVENT', `tracer frame: field ${field} is missing or invalid`, { field, frame: detail });
}

/** Splits and decodes the stream; push() as chunks arrive, end() when it closes. */
export class TracerFrameDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private readonly flows = new Map<number, { srcAddr: string; srcPort: number; dstAddr: string; dstPort: number }>();

  /** The events completed by this chunk, in stream order. Throws TracerError on a malformed frame. */
  push(chunk: Buffer): TracerEvent[] {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const events: TracerEvent[] = [];
    let at = 0;
    while (buf.length - at >= HEADER) {
      const kind = buf.readUInt32LE(at);
      const length = buf.readUInt32LE(at + 4);
      const expected = kind === FRAME_FLOW ? FLOW_FRAME_BYTES : kind === FRAME_CALL ? CALL_FRAME_BYTES : kind === FRAME_MOMENT ? MOMENT_FRAME_BYTES : -1;
      if (kind === FRAME_TEXT ? length > MAX_TEXT : length !== expected) throw bad('(frame)', `kind ${kind} length ${length}`);
      if (buf.length - at - HEADER < length) break;
      const p = at + HEADER;
      if (kind === FRAME_TEXT) events.push(parseTracerLine(buf.toString('utf8', p, p + length)));
      else if (kind === FRAME_FLOW) this.readFlow(buf, p);
      else if (kind === FRAME_CALL) events.push(this.readCall(buf, p));
      else events.push(this.readMoment(buf, p));
      at = p + length;
    }
    this.pending = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    return events;
  }

  /** The stream closed: a partial frame left over is an error. */
  end(): void {
    if (this.pending.length > 0) throw bad('(frame)', `${this.pending.length} bytes of an unfinished frame at the end`);
  }

  private readFlow(b: Buffer, p: number): void {
    const flowId = b.readUInt32LE(p);
    if (flowId < 1) throw bad('flowId', 'flow');
    const addr = (at: number) => {
      const end = b.indexOf(0, at);
      const s = b.toString('latin1', at, end < 0 || end > at + ADDR_BYTES ? at + ADDR_BYTES : end);
      if (s.length === 0) throw bad('flow', `flow ${flowId}`);
      return s;
    };
    this.flows.set(flowId, {
      srcPort: b.readUInt16LE(p + 4),
      dstPort: b.readUInt16LE(p + 6),
      srcAddr: addr(p + 8),
      dstAddr: addr(p + 8 + ADDR_BYTES),
    });
  }

  private flow(flowId: number): TracedFlow {
    const f = this.flows.get(flowId);
    if (!f) throw bad('flow', `flowId ${flowId} before its flow frame`);
    return { srcAddr: f.srcAddr, srcPort: f.srcPort, dstAddr: f.dstAddr, dstPort: f.dstPort };
  }

  private readCall(b: Buffer, p: number): CallEvent {
    const enter = b.readBigUInt64LE(p);
    const exit = b.readBigUInt64LE(p + 8);
    if (exit < enter) throw bad('exitNs', 'call');
    const offsetStart = u64(b, p + 16, 'offsetStart');
    const offsetEnd = u64(b, p + 24, 'offsetEnd');
    if (offsetEnd < offsetStart) throw bad('offsetEnd', 'call');
    const returned = b.readBigInt64LE(p + 48);
    if (returned < 0n || returned > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('returned', 'call');
    const pid = b.readUInt32LE(p + 56);
    const tid = b.readUInt32LE(p + 60);
    const fd = b.readInt32LE(p + 64);
    const flowId = b.readUInt32LE(p + 68);
    if (pid < 1) throw bad('pid', 'call');
    if (tid < 1) throw bad('tid', 'call');
    if (fd < -1) throw bad('fd', 'call');
    const syscall = SYSCALL_BY_NR[b.readUInt16LE(p + 88)];
    if (!syscall) throw bad('syscall', 'call');
    const offsetBasis = BASIS_BY_CODE[b.readUInt8(p + 90)];
    if (!offsetBasis) throw bad('offsetBasis', 'call');
    return {
      type: 'call',
      pid,
      tid,
      syscall,
      api: `linux:${syscall}`,
      fd,
      flow: this.flow(flowId),
      flowId,
      seqStart: b.readUInt32LE(p + 72),
      seqEnd: b.readUInt32LE(p + 76),
      offsetStart,
      offsetEnd,
      requested: u64(b, p + 32, 'requested'),
      returned: Number(returned),
      bytes: u64(b, p + 40, 'bytes'),
      buffers: b.readUInt32LE(p + 80),
      messages: b.readUInt32LE(p + 84),
      errno: null,
      enterNs: enter.toString(),
      exitNs: exit.toString(),
      offsetBasis,
      interleaved: b.readUInt8(p + 91) !== 0,
    };
  }

  private readMoment(b: Buffer, p: number): MomentEvent {
    const ns = b.readBigUInt64LE(p).toString();
    const offsetStart = u64(b, p + 8, 'offsetStart');
    const offsetEnd = u64(b, p + 16, 'offsetEnd');
    const flowId = b.readUInt32LE(p + 24);
    if (flowId < 1) throw bad('flowId', 'moment');
    const seq = b.readUInt32LE(p + 28);
    const cpu = b.readUInt32LE(p + 36);
    const moment = MOMENT_BY_CODE[b.readUInt8(p + 40)];
    if (!moment) throw bad('moment', 'moment');
    const flow = this.flow(flowId);
    if (moment === 'ack-arrived' || moment === 'ack-processed') {
      return { type: 'moment', flowId, flow, cpu, ns, moment, ackSeq: seq, ackOffset: offsetEnd };
    }
    if (offsetEnd < offsetStart) throw bad('offsetEnd', 'moment');
    return {
      type: 'moment',
      flowId,
      flow,
      cpu,
      ns,
      moment,
      seq,
      endSeq: b.readUInt32LE(p + 32),
      offsetStart,
      offsetEnd,
      fin: b.readUInt8(p + 41) !== 0,
    };
  }
}

/** An unsigned 64-bit field as a safe integer (offsets and byte counts stay far below 2^53). */
function u64(b: Buffer, at: number, field: string): number {
  const hi = b.readUInt32LE(at + 4);
  if (hi >= 0x200000) throw bad(field, `${field} beyond 2^53`);
  return hi * TWO_32 + b.readUInt32LE(at);
}
