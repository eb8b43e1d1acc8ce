/**
 * The tracer's NDJSON events (tracer/src/tracer.c writes them; docs/trace.md describes
 * them) and a pure parser: one line in, one typed event out, or a TracerError naming the
 * field. No I/O here.
 */
import { TracerError } from './errors.js';

export interface TracedFlow {
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
}

export type SyscallName = 'write' | 'writev' | 'sendto' | 'sendmsg' | 'sendmmsg';
export type UncoveredSyscall = 'sendfile' | 'splice' | 'io_uring_enter';
export type MomentName = 'qdisc-in' | 'qdisc-out' | 'driver' | 'ack-arrived' | 'ack-processed' | 'retransmit';

export interface StartEvent {
  type: 'start';
  mode: 'pid' | 'cgroup' | 'command';
  pid: number;
  cgroupId: number;
  followChildren: boolean;
  clockOffsetNs: string;
  clockWindowNs: number;
  ns: string;
}

/** One send syscall on a TCP socket. */
export interface CallEvent {
  type: 'call';
  pid: number;
  tid: number;
  syscall: SyscallName;
  api: string;
  fd: number;
  flow: TracedFlow;
  /** The tracer's number for the socket (unique within one run). */
  flowId: number;
  /** The socket's write sequence before and after the call (32-bit). */
  seqStart: number;
  seqEnd: number;
  /** Stream offsets of the bytes TCP accepted (end exclusive; byte 0 follows the SYN). */
  offsetStart: number;
  offsetEnd: number;
  /** Bytes the call asked for. */
  requested: number;
  /** The syscall's return value (negative: −errno; sendmmsg: messages sent). */
  returned: number;
  /** Bytes TCP accepted during the call. */
  bytes: number;
  buffers: number;
  messages: number;
  errno: string | null;
  enterNs: string;
  exitNs: string;
  /** How the connect side's SYN was taken out of the offsets: seen at ESTABLISHED, or guessed from a listener on the local port. */
  offsetBasis: 'established' | 'listener' | 'no-listener';
  /** The socket's write sequence moved by more than this call's bytes (another writer). */
  interleaved: boolean;
}

interface MomentBase {
  type: 'moment';
  flowId: number;
  flow: TracedFlow;
  cpu: number;
  ns: string;
}
/** A transmit-side moment of a range of the stream. */
export interface TxMomentEvent extends MomentBase {
  moment: 'qdisc-in' | 'qdisc-out' | 'driver' | 'retransmit';
  seq: number;
  endSeq: number;
  offsetStart: number;
  offsetEnd: number;
  fin: boolean;
}
/** An ACK moment: everything below ackOffset is acknowledged. */
export interface AckMomentEvent extends MomentBase {
  moment: 'ack-arrived' | 'ack-processed';
  ackSeq: number;
  ackOffset: number;
}
export type MomentEvent = TxMomentEvent | AckMomentEvent;

/** A send the tracer does not turn into a record: sendfile, splice, io_uring (syscall null: a TCP send outside any traced syscall, e.g. an io_uring worker). */
export interface UncoveredEvent {
  type: 'uncovered';
  pid: number;
  tid: number;
  syscall: UncoveredSyscall | null;
  api: string;
  fd: number;
  returned: number;
  bytes: number;
  flowId: number | null;
  flow: TracedFlow | null;
  enterNs: string;
  exitNs: string;
}

export interface StatsEvent {
  type: 'stats';
  final: boolean;
  /** Events lost: the ring buffer was full. */
  lost: number;
  callsSeen: number;
  calls: number;
  callsNotTcp: number;
  uncovered: number;
  sendsOutsideSyscall: number;
  moments: number;
  momentsWithoutAnchor: number;
  inflightFull: number;
  events: number;
  clockOffsetNs: string;
  clockWindowNs: number;
  ns: string;
}

export interface ExitEvent {
  type: 'exit';
  pid: number;
  exitCode: number | null;
  signal: string | null;
}

export type TracerEvent = StartEvent | CallEvent | MomentEvent | UncoveredEvent | StatsEvent | ExitEvent;

type Obj = Record<string, unknown>;

function bad(field: string, line: string): TracerError {
  return new TracerError('ACKSCOPE_ERR_TRACER_EVENT', `tracer event: field ${field} is missing or invalid`, {
    field,
    line: line.length > 300 ? `${line.slice(0, 300)}…` : line,
  });
}

const NS = /^[0-9]{1,20}$/;
const SIGNED_NS = /^-?[0-9]{1,20}$/;

function int(o: Obj, k: string, line: string, min = 0): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(k, line);
  return v;
}
function bool(o: Obj, k: string, line: string): boolean {
  const v = o[k];
  if (typeof v !== 'boolean') throw bad(k, line);
  return v;
}
function ns(o: Obj, k: string, line: string, re = NS): string {
  const v = o[k];
  if (typeof v !== 'string' || !re.test(v)) throw bad(k, line);
  return v;
}
function str<T extends string>(o: Obj, k: string, line: string, allowed?: readonly T[]): T {
  const v = o[k];
  if (typeof v !== 'string' || v.length === 0 || (allowed && !allowed.includes(v as T))) throw bad(k, line);
  return v as T;
}
function flow(o: Obj, k: string, line: string): TracedFlow {
  const f = o[k];
  if (typeof f !== 'object' || f === null) throw bad(k, line);
  const fo = f as Obj;
  return {
    srcAddr: str(fo, 'srcAddr', line),
    srcPort: port(fo, 'srcPort', line),
    dstAddr: str(fo, 'dstAddr', line),
    dstPort: port(fo, 'dstPort', line),
  };
}
function port(o: Obj, k: string, line: string): number {
  const v = int(o, k, line);
  if (v > 65535) throw bad(k, line);
  return v;
}

const SYSCALLS = ['write', 'writev', 'sendto', 'sendmsg', 'sendmmsg'] as const;
const UNCOVERED = ['sendfile', 'splice', 'io_uring_enter'] as const;
const TX = ['qdisc-in', 'qdisc-out', 'driver', 'retransmit'] as const;
const ACK = ['ack-arrived', 'ack-processed'] as const;

/** Parses one NDJSON line of the tracer. Throws TracerError (ACKSCOPE_ERR_TRACER_EVENT). */
export function parseTracerLine(line: string): TracerEvent {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    throw bad('(json)', line);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('(json)', line);
  const e = o as Obj;
  switch (e.type) {
    case 'start':
      return {
        type: 'start',
        mode: str(e, 'mode', line, ['pid', 'cgroup', 'command'] as const),
        pid: int(e, 'pid', line),
        cgroupId: int(e, 'cgroupId', line),
        followChildren: bool(e, 'followChildren', line),
        clockOffsetNs: ns(e, 'clockOffsetNs', line, SIGNED_NS),
        clockWindowNs: int(e, 'clockWindowNs', line),
        ns: ns(e, 'ns', line),
      };
    case 'call': {
      const offsetStart = int(e, 'offsetStart', line);
      const offsetEnd = int(e, 'offsetEnd', line);
      if (offsetEnd < offsetStart) throw bad('offsetEnd', line);
      const enterNs = ns(e, 'enterNs', line);
      const exitNs = ns(e, 'exitNs', line);
      if (BigInt(exitNs) < BigInt(enterNs)) throw bad('exitNs', line);
      const errno = e.errno;
      if (errno !== null && (typeof errno !== 'string' || !/^E[A-Z0-9]+$/.test(errno))) throw bad('errno', line);
      return {
        type: 'call',
        pid: int(e, 'pid', line, 1),
        tid: int(e, 'tid', line, 1),
        syscall: str(e, 'syscall', line, SYSCALLS),
        api: str(e, 'api', line),
        fd: int(e, 'fd', line, -1),
        flow: flow(e, 'flow', line),
        flowId: int(e, 'flowId', line, 1),
        seqStart: int(e, 'seqStart', line),
        seqEnd: int(e, 'seqEnd', line),
        offsetStart,
        offsetEnd,
        requested: int(e, 'requested', line),
        returned: int(e, 'returned', line, -4095),
        bytes: int(e, 'bytes', line),
        buffers: int(e, 'buffers', line),
        messages: int(e, 'messages', line),
        errno,
        enterNs,
        exitNs,
        offsetBasis: str(e, 'offsetBasis', line, ['established', 'listener', 'no-listener'] as const),
        interleaved: bool(e, 'interleaved', line),
      };
    }
    case 'moment': {
      const moment = str(e, 'moment', line, [...TX, ...ACK] as const);
      const base = {
        type: 'moment' as const,
        flowId: int(e, 'flowId', line, 1),
        flow: flow(e, 'flow', line),
        cpu: int(e, 'cpu', line),
        ns: ns(e, 'ns', line),
      };
      if (moment === 'ack-arrived' || moment === 'ack-processed') {
        return { ...base, moment, ackSeq: int(e, 'ackSeq', line), ackOffset: int(e, 'ackOffset', line) };
      }
      const offsetStart = int(e, 'offsetStart', line);
      const offsetEnd = int(e, 'offsetEnd', line);
      if (offsetEnd < offsetStart) throw bad('offsetEnd', line);
      return {
        ...base,
        moment,
        seq: int(e, 'seq', line),
        endSeq: int(e, 'endSeq', line),
        offsetStart,
        offsetEnd,
        fin: bool(e, 'fin', line),
      };
    }
    case 'uncovered': {
      const hasFlow = e.flowId !== null;
      return {
        type: 'uncovered',
        pid: int(e, 'pid', line, 1),
        tid: int(e, 'tid', line, 1),
        syscall: e.syscall === null ? null : str(e, 'syscall', line, UNCOVERED),
        api: str(e, 'api', line),
        fd: int(e, 'fd', line, -1),
        returned: int(e, 'returned', line, -Number.MAX_SAFE_INTEGER),
        bytes: int(e, 'bytes', line),
        flowId: hasFlow ? int(e, 'flowId', line, 1) : null,
        flow: hasFlow ? flow(e, 'flow', line) : null,
        enterNs: ns(e, 'enterNs', line),
        exitNs: ns(e, 'exitNs', line),
      };
    }
    case 'stats':
      return {
        type: 'stats',
        final: bool(e, 'final', line),
        lost: int(e, 'lost', line),
        callsSeen: int(e, 'callsSeen', line),
        calls: int(e, 'calls', line),
        callsNotTcp: int(e, 'callsNotTcp', line),
        uncovered: int(e, 'uncovered', line),
        sendsOutsideSyscall: int(e, 'sendsOutsideSyscall', line),
        moments: int(e, 'moments', line),
        momentsWithoutAnchor: int(e, 'momentsWithoutAnchor', line),
        inflightFull: int(e, 'inflightFull', line),
        events: int(e, 'events', line),
        clockOffsetNs: ns(e, 'clockOffsetNs', line, SIGNED_NS),
        clockWindowNs: int(e, 'clockWindowNs', line),
        ns: ns(e, 'ns', line),
      };
    case 'exit': {
      const code = e.exitCode;
      const sig = e.signal;
      if (code !== null && (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > 255)) {
        throw bad('exitCode', line);
      }
      if (sig !== null && (typeof sig !== 'string' || !/^SIG[A-Z0-9]+$/.test(sig))) throw bad('signal', line);
      return { type: 'exit', pid: int(e, 'pid', line, 1), exitCode: code, signal: sig };
    }
    default:
      throw bad('type', line);
  }
}
