import type { Socket } from 'node:net';
import { realtimeNs, socketTcpInfoInto, TCP_INFO_SLOTS, type TcpInfo } from '../capture/native/index.js';
import { AckscopeError } from '../service/errors.js';
import type { CompletionRecord, FlowAddress, Reporter } from './record.js';
import { reporterFor, MemoryReporter, type ReportTarget } from './reporters.js';

export interface InstrumentOptions {
  /**
   * Where records go: `{ url?, session }` (the service; url defaults to ACKSCOPE_URL),
   * `{ db, session }` (a local database), or any Reporter. Default: kept in memory
   * (`instrumented.records`).
   */
  report?: ReportTarget;
  /** Called with each record as it is made (after the reporter got it), and completedNs − submittedNs. */
  onRecord?: (record: CompletionRecord, latencyNs: number) => void;
  /** Read TCP_INFO at each completion (default true; one getsockopt per completion). */
  tcpInfo?: boolean;
  /** The record's `api` (default "node:socket.write"). */
  api?: string;
  /** Stream offset of the next byte (default socket.bytesWritten: 0 for a new socket). */
  startOffset?: number;
}

export interface InstrumentStats {
  /** Records made (one per write call or corked group). */
  records: number;
  /** Of those, completed with an error. */
  errors: number;
  /** Completions of a socket that never connected: no flow to name, not reported. */
  unattributable: number;
}

export interface Instrumented {
  readonly socket: Socket;
  /** Records so far, when no report target was given (memory). */
  readonly records: CompletionRecord[];
  readonly stats: InstrumentStats;
  /** Writes several buffers as ONE call (cork, writes, uncork → one writev): one record. */
  writev(buffers: readonly (Uint8Array | string)[], callback?: (err?: Error | null) => void): boolean;
  /** Delivers the records still buffered; resolves when the reporter has them all. */
  flush(): Promise<void>;
  /** Puts the socket's own write/uncork/end back (records already made are kept). */
  restore(): void;
}

const INSTRUMENTED = Symbol('ackscope.instrumented');

type WriteCallback = (err?: Error | null) => void;

/**
 * A write in flight. A class, so every pending write has the same shape (monomorphic
 * property access in the completion path).
 */
class PendingWrite {
  submittedNs = 0n;
  writeReturned = 1;
  queuedAhead = 0;
  length = 0;
  buffers = 0;
  done = false;
  constructor(
    readonly writeId: number,
    readonly offsetStart: number,
  ) {}
}

/**
 * Wraps a net.Socket so every write — and every corked group of writes, which Node
 * hands to the kernel as one writev — yields a completion record (docs/completions.md):
 *
 *   const probe = instrument(socket, { report: { session: 12 } });   // records → the service
 *
 * - writeId counts calls in posting order from 0; offsets are stream offsets.
 * - submittedNs is CLOCK_REALTIME (the capture's clock) read immediately before the
 *   write call (before uncork() for a corked group); completedNs first thing in the
 *   write callback. Node's callback means "handed to the kernel" (or failed).
 * - bytesReported: Node reports no count; a successful write is whole, so it is the
 *   write's length; 0 on error. status: "ok", or the error's code (ECONNRESET, EPIPE,
 *   ERR_STREAM_DESTROYED, ...).
 * - writeReturned: write()'s boolean as 1/0 (the last write of a group);
 *   writableLength: bytes Node buffered ahead of this write at submission.
 * - tcpInfo: TCP_INFO read at completion, as stream offsets (capture/native).
 * Records are flushed to the reporter automatically when the socket closes.
 */
export function instrument(socket: Socket, options: InstrumentOptions = {}): Instrumented {
  const marked = socket as Socket & { [INSTRUMENTED]?: true };
  if (marked[INSTRUMENTED]) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'socket: already instrumented (every write would be recorded twice)', {
      field: 'socket',
    });
  }
  marked[INSTRUMENTED] = true;
  const memory = options.report === undefined ? new MemoryReporter() : undefined;
  const { reporter, close } = memory ? { reporter: memory as Reporter, close: () => {} } : reporterFor(options.report!);
  const api = options.api ?? 'node:socket.write';
  const readTcpInfo = options.tcpInfo ?? true;
  const onRecord = options.onRecord;
  const stats: InstrumentStats = { records: 0, errors: 0, unattributable: 0 };
  // TCP_INFO is read into one reused array: the object form costs ~2 µs a call, most of
  // it building the object in C++; this form ~0.4 µs (the getsockopt itself).
  const tcpSlots = new Float64Array(TCP_INFO_SLOTS.length);

  const ownWrite = Object.prototype.hasOwnProperty.call(socket, 'write') ? socket.write : undefined;
  const ownUncork = Object.prototype.hasOwnProperty.call(socket, 'uncork') ? socket.uncork : undefined;
  const ownEnd = Object.prototype.hasOwnProperty.call(socket, 'end') ? socket.end : undefined;
  const originalWrite = socket.write;
  const originalUncork = socket.uncork;
  const originalEnd = socket.end;

  let nextWriteId = 0;
  let offset = options.startOffset ?? socket.bytesWritten ?? 0;
  let group: PendingWrite | null = null;
  let flow: FlowAddress | undefined;

  /** The 4-tuple, read once the socket is connected and kept (a destroyed socket forgets it). */
  const knownFlow = (): FlowAddress | undefined => {
    if (flow) return flow;
    const { localAddress, localPort, remoteAddress, remotePort } = socket;
    if (localAddress && localPort !== undefined && remoteAddress && remotePort !== undefined) {
      flow = { srcAddr: localAddress, srcPort: localPort, dstAddr: remoteAddress, dstPort: remotePort };
    }
    return flow;
  };
  knownFlow();
  socket.once('connect', knownFlow);

  const complete = (pending: PendingWrite, err: Error | null | undefined, completedNs: bigint) => {
    pending.done = true;
    stats.records++;
    const f = knownFlow();
    if (!f) {
      stats.unattributable++;
      return;
    }
    let tcp: TcpInfo | undefined;
    if (readTcpInfo) {
      try {
        socketTcpInfoInto(socket, tcpSlots);
        tcp = {
          bytesSent: tcpSlots[0],
          bytesAcked: tcpSlots[1],
          notsentBytes: tcpSlots[2],
          unacked: tcpSlots[3],
          bytesRetrans: tcpSlots[4],
          rttUs: tcpSlots[5],
        };
      } catch {
        tcp = undefined; // socket already closed (after an error): no kernel state left to read
      }
    }
    const failed = err !== null && err !== undefined;
    if (failed) stats.errors++;
    const record: CompletionRecord = {
      flow: f,
      writeId: pending.writeId,
      offsetStart: pending.offsetStart,
      offsetEnd: pending.offsetStart + pending.length,
      submittedNs: pending.submittedNs.toString(),
      completedNs: completedNs.toString(),
      bytesReported: failed ? 0 : pending.length,
      api,
      buffers: pending.buffers,
      status: failed ? errorName(err) : 'ok',
      writeReturned: pending.writeReturned,
      writableLength: pending.queuedAhead,
    };
    if (tcp) record.tcpInfo = tcp;
    reporter.add(record);
    if (onRecord) onRecord(record, Number(completedNs - pending.submittedNs));
  };

  function write(this: Socket, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    let cb = callback as WriteCallback | undefined;
    let enc = encoding as BufferEncoding | undefined;
    if (typeof encoding === 'function') {
      cb = encoding as WriteCallback;
      enc = undefined;
    }
    const length =
      typeof chunk === 'string' ? Buffer.byteLength(chunk, enc ?? 'utf8') : ((chunk as Uint8Array)?.byteLength ?? 0);

    if (socket.writableCorked > 0) {
      // Part of a corked group: Node sends the group as one writev at uncork().
      const opensGroup = group === null;
      const member = group ?? new PendingWrite(nextWriteId, offset);
      // provisional: replaced at uncork(), kept if the socket dies while corked
      if (opensGroup) member.submittedNs = realtimeNs();
      const ret = originalWrite.call(socket, chunk as string, enc as BufferEncoding, (err?: Error | null) => {
        if (!member.done) complete(member, err, realtimeNs());
        if (cb) cb(err);
      });
      // counted only once write() accepted the argument (it throws on a bad one)
      if (opensGroup) {
        group = member;
        nextWriteId++;
      }
      member.length += length;
      member.buffers++;
      offset += length;
      member.writeReturned = ret ? 1 : 0;
      return ret;
    }

    const pending = new PendingWrite(nextWriteId++, offset);
    pending.length = length;
    pending.buffers = 1;
    pending.queuedAhead = socket.writableLength;
    offset += length;
    let ret: boolean;
    try {
      pending.submittedNs = realtimeNs();
      ret = originalWrite.call(socket, chunk as string, enc as BufferEncoding, (err?: Error | null) => {
        const completedNs = realtimeNs(); // first thing: the moment Node reported completion
        complete(pending, err, completedNs);
        if (cb) cb(err);
      });
    } catch (err) {
      // write() refused the argument synchronously: no call happened, no id is used
      nextWriteId--;
      offset -= length;
      throw err;
    }
    pending.writeReturned = ret ? 1 : 0;
    return ret;
  }

  function uncork(this: Socket): void {
    if (group && socket.writableCorked === 1) {
      const g = group;
      group = null;
      g.queuedAhead = Math.max(0, socket.writableLength - g.length);
      g.submittedNs = realtimeNs();
    }
    originalUncork.call(socket);
  }

  // end(data) writes through the stream's internals, not this.write: route it through ours.
  function end(this: Socket, ...args: unknown[]): Socket {
    const [data, encoding, cb] = args;
    if (data !== undefined && data !== null && typeof data !== 'function') {
      const callback = typeof encoding === 'function' ? encoding : cb;
      const enc = typeof encoding === 'string' ? encoding : undefined;
      write.call(socket, data, enc);
      return (originalEnd as (cb?: () => void) => Socket).call(socket, callback as (() => void) | undefined);
    }
    return (originalEnd as (...a: unknown[]) => Socket).apply(socket, args);
  }

  socket.write = write as Socket['write'];
  socket.uncork = uncork;
  socket.end = end as Socket['end'];

  let flushing: Promise<void> | undefined;
  const flush = async () => {
    await reporter.flush();
  };
  socket.once('close', () => {
    flushing = flush().finally(close);
    flushing.catch(() => {}); // surfaced by flush() below
  });

  return {
    socket,
    records: memory ? memory.records : [],
    stats,
    writev(buffers, callback) {
      if (buffers.length === 0) throw new TypeError('writev needs at least one buffer');
      socket.cork();
      let ret = true;
      for (let i = 0; i < buffers.length; i++) {
        ret = socket.write(buffers[i], i === buffers.length - 1 ? callback : undefined);
      }
      socket.uncork();
      return ret;
    },
    async flush() {
      if (flushing) await flushing;
      else await flush();
    },
    restore() {
      delete marked[INSTRUMENTED];
      restoreProperty(socket, 'write', ownWrite);
      restoreProperty(socket, 'uncork', ownUncork);
      restoreProperty(socket, 'end', ownEnd);
    },
  };
}

function restoreProperty(socket: Socket, name: 'write' | 'uncork' | 'end', own: unknown): void {
  if (own === undefined) delete (socket as unknown as Record<string, unknown>)[name];
  else (socket as unknown as Record<string, unknown>)[name] = own;
}

/** The record's status for an error: its code (ECONNRESET, EPIPE, ...) or name. */
export function errorName(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.length > 0 ? code.slice(0, 200) : err.name || 'Error';
}
