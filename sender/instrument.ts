import type { Socket } from 'node:net';
import { realtimeNs, socketTcpInfoInto, TCP_INFO_SLOTS } from '../capture/native/index.js';
import { AckscopeError } from '../core/errors.js';
import { CompletionBlock } from './completion-block.js';
import type { CompletionRecord, FlowAddress, CompletionDestination } from '../core/completion.js';
import { destinationFor, MemoryDestination, type DestinationSpec } from './destinations.js';

export interface InstrumentOptions {
  /**
   * Where records go: `{ url?, session }` (the service; url defaults to ACKSCOPE_URL),
   * `{ db, session }` (a local database), or any CompletionDestination. Default: kept in memory
   * (`instrumented.records`).
   */
  destination?: DestinationSpec;
  /**
   * Called with each record as it is made (after the reporter got it), and completedNs −
   * submittedNs. Records are made in blocks of BLOCK_ROWS completions, and on flush/close.
   */
  onRecord?: (record: CompletionRecord, latencyNs: number) => void;
  /**
   * When to read TCP_INFO (see TcpInfoPolicy): 'every' completion, once per 'burst', or
   * 'off'. true means 'every', false 'off'. Default DEFAULT_TCP_INFO_POLICY.
   */
  tcpInfo?: boolean | TcpInfoPolicy;
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
  /** Records so far (every completion up to now), when no destination was given (memory). */
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

/**
 * When a completion reads TCP_INFO (one getsockopt, ~0.4 µs in C, ~0.8 µs through the
 * addon, on a ~1.6 µs loopback write):
 * - every: at each completion.
 * - burst: Node calls completions back-to-back (a tick-queue drain of synchronous
 *   writes, or one libuv pass over finished write requests). The first completion of a
 *   burst reads TCP_INFO; a later completion of the same burst (before the next
 *   microtask checkpoint) shares that reading if its bytes were handed to the kernel
 *   before the reading was taken, and says so with `tcpInfoFrom` (the writeId whose
 *   completion read it). TCP counters only grow, so a shared reading is a lower bound
 *   of the counters at this completion, and sent + not-sent still covers the write.
 * - off: no TCP_INFO.
 */
export type TcpInfoPolicy = 'every' | 'burst' | 'off';
export const TCP_INFO_POLICIES: readonly TcpInfoPolicy[] = ['every', 'burst', 'off'];
// bench/sender-overhead.ts 200000 5 (median write rate vs plain socket.write, shared
// 2-core machine): every 53–57%, burst 79–85% (94% of records share a reading), off
// 81–88%. burst keeps TCP_INFO on (lower bounds, marked) at nearly the cost of off.
export const DEFAULT_TCP_INFO_POLICY: TcpInfoPolicy = 'burst';

/** The policy an option value names (booleans are the older on/off form). */
export function tcpInfoPolicy(option: boolean | TcpInfoPolicy | undefined): TcpInfoPolicy {
  if (option === undefined) return DEFAULT_TCP_INFO_POLICY;
  if (option === true) return 'every';
  if (option === false) return 'off';
  return option;
}

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
  /** Hand-offs to the kernel before this write's own (orders it against TCP_INFO readings). */
  handedSeq = Number.MAX_SAFE_INTEGER; // never handed (a group still corked) shares no reading
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
 *   const probe = instrument(socket, { destination: { session: 12 } });   // records → the service
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
 * - tcpInfo: TCP_INFO read at completion, as stream offsets (capture/native), per
 *   TcpInfoPolicy (`tcpInfoFrom` marks a reading shared within a burst).
 * Completions are kept in typed columns and made into records a block at a time
 * (sender/completion-block.ts); records are flushed to the reporter automatically when
 * the socket closes.
 */
export function instrument(socket: Socket, options: InstrumentOptions = {}): Instrumented {
  const marked = socket as Socket & { [INSTRUMENTED]?: true };
  if (marked[INSTRUMENTED]) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'socket: already instrumented (every write would be recorded twice)', {
      field: 'socket',
    });
  }
  marked[INSTRUMENTED] = true;
  const memory = options.destination === undefined ? new MemoryDestination() : undefined;
  const { reporter, close } = memory ? { reporter: memory as CompletionDestination, close: () => {} } : destinationFor(options.destination!);
  const api = options.api ?? 'node:socket.write';
  const policy = tcpInfoPolicy(options.tcpInfo);
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

  // The burst's TCP_INFO reading (in tcpSlots): which write's completion took it, the
  // hand-offs made before it (writes handed later cannot share it), and whether the
  // burst is still on.
  let readingWriteId = -1;
  let readingHanded = 0;
  let readingLive = false;
  let burstEndQueued = false;
  const endBurst = () => {
    readingLive = false;
    burstEndQueued = false;
  };
  let handed = 0;

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

  // Kept in memory (no reporter), full blocks wait as columns until the records are
  // asked for: objects made during the run are copied by every scavenge (GC was 12% of
  // the instrumented run's CPU vs 2% plain). A reporter gets each block as it fills.
  const waitingBlocks: CompletionBlock[] = [];
  let block = new CompletionBlock();
  let blockFlow: FlowAddress | undefined;
  const emit = (record: CompletionRecord, latencyNs: number) => {
    reporter.add(record);
    if (onRecord) onRecord(record, latencyNs);
  };
  /** Makes the records of the completions so far and hands them to the reporter. */
  const drainBlock = () => {
    for (const waiting of waitingBlocks.splice(0)) waiting.drain(blockFlow!, api, emit);
    if (block.count > 0) block.drain(blockFlow!, api, emit);
  };
  const blockFilled = () => {
    if (memory && !onRecord) {
      waitingBlocks.push(block);
      block = new CompletionBlock();
    } else {
      drainBlock();
    }
  };

  const complete = (pending: PendingWrite, err: Error | null | undefined, completedNs: bigint) => {
    pending.done = true;
    stats.records++;
    const f = knownFlow();
    if (!f) {
      stats.unattributable++;
      return;
    }
    blockFlow = f;
    const failed = err !== null && err !== undefined;
    if (failed) stats.errors++;
    let tcp: Float64Array | null = null;
    let tcpFrom = -1;
    if (
      policy === 'burst' &&
      readingLive &&
      !failed &&
      pending.handedSeq < readingHanded &&
      tcpSlots[0] + tcpSlots[2] >= pending.offsetStart + pending.length // the reading saw its bytes (sent + not sent)
    ) {
      tcp = tcpSlots;
      tcpFrom = readingWriteId;
    } else if (policy !== 'off') {
      readingLive = false;
      try {
        socketTcpInfoInto(socket, tcpSlots);
        tcp = tcpSlots;
      } catch {
        tcp = null; // socket already closed (after an error): no kernel state left to read
      }
      if (policy === 'burst' && tcp !== null) {
        readingWriteId = pending.writeId;
        readingHanded = handed;
        readingLive = true;
        if (!burstEndQueued) {
          burstEndQueued = true;
          queueMicrotask(endBurst); // the burst ends at the next microtask checkpoint
        }
      }
    }
    block.add(
      pending.writeId,
      pending.offsetStart,
      pending.length,
      pending.buffers,
      pending.writeReturned,
      pending.queuedAhead,
      pending.submittedNs,
      completedNs,
      failed ? errorName(err) : null,
      tcp,
      tcpFrom,
    );
    if (block.full) blockFilled();
  };

  // Node calls write callbacks in write order, so plain writes share ONE callback and a
  // queue instead of a closure each: Node then batches the callbacks of synchronous
  // writes into one tick (a closure per write cost ~7% of the plain write rate). A write
  // Node refuses at once (after end() or destroy()) is called back out of turn: it gets
  // its own closure.
  const queued: (PendingWrite | undefined)[] = [];
  const queuedCallbacks: (WriteCallback | undefined)[] = [];
  let queueHead = 0;
  const onQueuedWriteDone = (err?: Error | null) => {
    const completedNs = realtimeNs(); // first thing: the moment Node reported completion
    const pending = queued[queueHead]!;
    const cb = queuedCallbacks[queueHead];
    queued[queueHead] = undefined;
    queuedCallbacks[queueHead] = undefined;
    queueHead++;
    if (queueHead === queued.length || queueHead >= 4096) {
      queued.splice(0, queueHead);
      queuedCallbacks.splice(0, queueHead);
      queueHead = 0;
    }
    complete(pending, err, completedNs);
    if (cb) cb(err);
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
    pending.handedSeq = handed++;
    offset += length;
    let ret: boolean;
    // false once ended, destroyed or errored: Node may then call back out of turn
    const inTurn = socket.writable;
    if (inTurn) {
      queued.push(pending);
      queuedCallbacks.push(cb);
    }
    try {
      pending.submittedNs = realtimeNs();
      ret = originalWrite.call(
        socket,
        chunk as string,
        enc as BufferEncoding,
        inTurn
          ? onQueuedWriteDone
          : (err?: Error | null) => {
              const completedNs = realtimeNs();
              complete(pending, err, completedNs);
              if (cb) cb(err);
            },
      );
    } catch (err) {
      // write() refused the argument synchronously: no call happened, no id is used
      if (inTurn) {
        queued.pop();
        queuedCallbacks.pop();
      }
      nextWriteId--;
      handed--;
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
      g.handedSeq = handed++;
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
    drainBlock();
    await reporter.flush();
  };
  socket.once('close', () => {
    flushing = flush().finally(close);
    flushing.catch(() => {}); // surfaced by flush() below
  });

  return {
    socket,
    get records() {
      if (!memory) return [];
      drainBlock();
      return memory.records;
    },
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
