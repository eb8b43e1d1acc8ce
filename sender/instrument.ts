import type { Socket } from 'node:net';
import { realtimeStamp, realtimeStampSlots, socketTcpInfoInto, TCP_INFO_SLOTS } from '../capture/native/index.js';
import { AckscopeError } from '../core/errors.js';
import { CompletionBlock } from './completion-block.js';
import { PendingWrite, WriteQueue, type WriteCallback } from './write-queue.js';
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
   * Called with each record as it is made (after the destination got it), and completedNs −
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
  /** Delivers the records still buffered; resolves when the destination has them all. */
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
// 81–88%; by CPU per write at load 9–15 after the allocation-free path: every 50–51%,
// burst 76–84%, off 80–84% (docs/design-notes.md). burst keeps TCP_INFO on (lower bounds, marked) at nearly the
// cost of off.
export const DEFAULT_TCP_INFO_POLICY: TcpInfoPolicy = 'burst';

/** The policy an option value names (booleans are the older on/off form). */
export function tcpInfoPolicy(option: boolean | TcpInfoPolicy | undefined): TcpInfoPolicy {
  if (option === undefined) return DEFAULT_TCP_INFO_POLICY;
  if (option === true) return 'every';
  if (option === false) return 'off';
  return option;
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
 * (sender/completion-block.ts); records are flushed to the destination automatically when
 * the socket closes.
 */
export function instrument(socket: Socket, options: InstrumentOptions = {}): Instrumented {
  return new SocketInstrumentation(socket, options);
}

/**
 * The state of one instrumented socket and the write/uncork/end that replace the
 * socket's own. Fields are grouped by what they track: the socket's own methods, the
 * stream position, the in-order write queue, the TCP_INFO burst reading and the
 * completion columns.
 */
class SocketInstrumentation implements Instrumented {
  readonly socket: Socket;
  readonly stats: InstrumentStats = { records: 0, errors: 0, unattributable: 0 };

  // Where records go; `memory` is set (and is the destination) when none was given.
  private readonly memory: MemoryDestination | undefined;
  private readonly destination: CompletionDestination;
  private readonly closeDestination: () => void;
  private readonly api: string;
  private readonly policy: TcpInfoPolicy;
  private readonly onRecord: InstrumentOptions['onRecord'];

  // The socket's methods: `own*` were the socket's own properties (put back by restore();
  // undefined: inherited, so restore() deletes ours); `original*` are what we call.
  private readonly ownWrite: Socket['write'] | undefined;
  private readonly ownUncork: Socket['uncork'] | undefined;
  private readonly ownEnd: Socket['end'] | undefined;
  private readonly ownConnect: Socket['connect'] | undefined;
  private readonly originalWrite: Socket['write'];
  private readonly originalUncork: Socket['uncork'];
  private readonly originalEnd: Socket['end'];

  // Stream position: the next call's writeId and offset, the corked group being
  // gathered (one record at uncork), and the 4-tuple once known.
  private nextWriteId = 0;
  private offset: number;
  private group: PendingWrite | null = null;
  private flow: FlowAddress | undefined;

  // Node calls write callbacks in write order, so plain writes share ONE callback and a
  // queue instead of a closure each: Node then batches the callbacks of synchronous
  // writes into one tick (a closure per write cost ~7% of the plain write rate). A write
  // Node refuses at once (after end() or destroy()) is called back out of turn: it gets
  // its own closure.
  private readonly queue = new WriteQueue();

  // CLOCK_REALTIME as [seconds, nanoseconds], filled by realtimeStamp() (no BigInt per reading).
  private readonly clock = realtimeStampSlots();

  // TCP_INFO is read into one reused array: the object form costs ~2 µs a call, most of
  // it building the object in C++; this form ~0.4 µs (the getsockopt itself).
  private readonly tcpSlots = new Float64Array(TCP_INFO_SLOTS.length);
  // Hand-offs to the kernel so far (write calls and uncorked groups).
  private handed = 0;
  // The burst's TCP_INFO reading (in tcpSlots): which write's completion took it, the
  // hand-offs made before it (writes handed later cannot share it), and whether the
  // burst is still on.
  private readingWriteId = -1;
  private readingHanded = 0;
  private readingLive = false;
  private burstEndQueued = false;

  // Kept in memory (no destination given), full blocks wait as columns until the records are
  // asked for: objects made during the run are copied by every scavenge (GC was 12% of
  // the instrumented run's CPU vs 2% plain). A destination gets each block as it fills.
  private readonly waitingBlocks: CompletionBlock[] = [];
  private block = new CompletionBlock();
  private blockFlow: FlowAddress | undefined;

  /** Set when the socket closed: the final flush, which flush() then awaits. */
  private flushing: Promise<void> | undefined;

  // Callbacks made once per socket, never per write.
  private readonly onQueuedWriteDone = (err?: Error | null): void => this.completeQueued(err);
  private readonly endBurst = (): void => {
    this.readingLive = false;
    this.burstEndQueued = false;
  };
  private readonly emit = (record: CompletionRecord, latencyNs: number): void => {
    this.destination.add(record);
    if (this.onRecord) this.onRecord(record, latencyNs);
  };

  constructor(socket: Socket, options: InstrumentOptions) {
    const marked = socket as Socket & { [INSTRUMENTED]?: true };
    if (marked[INSTRUMENTED]) {
      throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', 'socket: already instrumented (every write would be recorded twice)', {
        field: 'socket',
      });
    }
    marked[INSTRUMENTED] = true;
    this.socket = socket;
    this.memory = options.destination === undefined ? new MemoryDestination() : undefined;
    const { reporter, close } = this.memory
      ? { reporter: this.memory as CompletionDestination, close: () => {} }
      : destinationFor(options.destination!);
    this.destination = reporter;
    this.closeDestination = close;
    this.api = options.api ?? 'node:socket.write';
    this.policy = tcpInfoPolicy(options.tcpInfo);
    this.onRecord = options.onRecord;
    this.offset = options.startOffset ?? socket.bytesWritten ?? 0;

    const own = (name: 'write' | 'uncork' | 'end') => (Object.prototype.hasOwnProperty.call(socket, name) ? socket[name] : undefined);
    this.ownWrite = own('write') as Socket['write'] | undefined;
    this.ownUncork = own('uncork') as Socket['uncork'] | undefined;
    this.ownEnd = own('end') as Socket['end'] | undefined;
    this.originalWrite = socket.write;
    this.originalUncork = socket.uncork;
    this.originalEnd = socket.end;

    this.knownFlow();
    socket.once('connect', () => this.knownFlow());
    const write = ((chunk: unknown, encoding?: unknown, callback?: unknown) => this.onWrite(chunk, encoding, callback)) as Socket['write'];
    socket.write = write;
    // Socket.prototype.connect() puts the prototype's write back on the socket (Node's net.js):
    // a socket instrumented before it connects would lose its instrumentation there.
    this.ownConnect = Object.prototype.hasOwnProperty.call(socket, 'connect') ? socket.connect : undefined;
    const connect = socket.connect;
    socket.connect = ((...args: unknown[]) => {
      const result = (connect as (...a: unknown[]) => Socket).apply(socket, args);
      if (socket.write !== write && (socket as Socket & { [INSTRUMENTED]?: true })[INSTRUMENTED]) socket.write = write;
      return result;
    }) as Socket['connect'];
    socket.uncork = () => this.onUncork();
    socket.end = ((...args: unknown[]) => this.onEnd(args)) as Socket['end'];
    socket.once('close', () => this.onClose());
  }

  // --- Instrumented -------------------------------------------------------------------

  get records(): CompletionRecord[] {
    if (!this.memory) return [];
    this.drainBlocks();
    return this.memory.records;
  }

  writev(buffers: readonly (Uint8Array | string)[], callback?: WriteCallback): boolean {
    if (buffers.length === 0) throw new TypeError('writev needs at least one buffer');
    const socket = this.socket;
    socket.cork();
    let ret = true;
    for (let i = 0; i < buffers.length; i++) {
      ret = socket.write(buffers[i], i === buffers.length - 1 ? callback : undefined);
    }
    socket.uncork();
    return ret;
  }

  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    else await this.deliver();
  }

  restore(): void {
    delete (this.socket as Socket & { [INSTRUMENTED]?: true })[INSTRUMENTED];
    restoreProperty(this.socket, 'write', this.ownWrite);
    restoreProperty(this.socket, 'uncork', this.ownUncork);
    restoreProperty(this.socket, 'end', this.ownEnd);
    restoreProperty(this.socket, 'connect', this.ownConnect);
  }

  // --- the socket's write, uncork, end --------------------------------------------------

  private onWrite(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    let cb = callback as WriteCallback | undefined;
    let enc = encoding as BufferEncoding | undefined;
    if (typeof encoding === 'function') {
      cb = encoding as WriteCallback;
      enc = undefined;
    }
    const length =
      typeof chunk === 'string' ? Buffer.byteLength(chunk, enc ?? 'utf8') : ((chunk as Uint8Array)?.byteLength ?? 0);
    if (this.socket.writableCorked > 0) return this.writeCorked(chunk, enc, cb, length);

    const socket = this.socket;
    // false once ended, destroyed or errored: Node may then call back out of turn
    const inTurn = socket.writable;
    const pending = inTurn ? this.queue.push(this.nextWriteId++, this.offset, cb) : new PendingWrite().reset(this.nextWriteId++, this.offset);
    pending.length = length;
    pending.buffers = 1;
    pending.queuedAhead = socket.writableLength;
    pending.handedSeq = this.handed++;
    this.offset += length;
    let ret: boolean;
    try {
      this.stampSubmitted(pending);
      ret = this.originalWrite.call(
        socket,
        chunk as string,
        enc as BufferEncoding,
        inTurn ? this.onQueuedWriteDone : this.outOfTurnCallback(pending, cb),
      );
    } catch (err) {
      // write() refused the argument synchronously: no call happened, no id is used
      if (inTurn) this.queue.dropLast();
      this.nextWriteId--;
      this.handed--;
      this.offset -= length;
      throw err;
    }
    pending.writeReturned = ret ? 1 : 0;
    return ret;
  }

  /**
   * The callback of a write Node may call back out of turn: a closure of its own, made
   * here so that onWrite itself captures nothing (no context allocated per write).
   */
  private outOfTurnCallback(pending: PendingWrite, cb: WriteCallback | undefined): WriteCallback {
    return (err?: Error | null) => {
      realtimeStamp();
      this.complete(pending, err, this.clock[0], this.clock[1]);
      if (cb) cb(err);
    };
  }

  /** A write while corked: part of a group Node sends as one writev at uncork(). */
  private writeCorked(chunk: unknown, enc: BufferEncoding | undefined, cb: WriteCallback | undefined, length: number): boolean {
    const opensGroup = this.group === null;
    const member = this.group ?? new PendingWrite().reset(this.nextWriteId, this.offset);
    // provisional: replaced at uncork(), kept if the socket dies while corked
    if (opensGroup) this.stampSubmitted(member);
    const ret = this.originalWrite.call(this.socket, chunk as string, enc as BufferEncoding, (err?: Error | null) => {
      if (!member.done) {
        realtimeStamp();
        this.complete(member, err, this.clock[0], this.clock[1]);
      }
      if (cb) cb(err);
    });
    // counted only once write() accepted the argument (it throws on a bad one)
    if (opensGroup) {
      this.group = member;
      this.nextWriteId++;
    }
    member.length += length;
    member.buffers++;
    this.offset += length;
    member.writeReturned = ret ? 1 : 0;
    return ret;
  }

  private onUncork(): void {
    const socket = this.socket;
    const group = this.group;
    if (group && socket.writableCorked === 1) {
      this.group = null;
      group.queuedAhead = Math.max(0, socket.writableLength - group.length);
      this.stampSubmitted(group);
      group.handedSeq = this.handed++;
    }
    this.originalUncork.call(socket);
  }

  // end(data) writes through the stream's internals, not this.write: route it through ours.
  private onEnd(args: unknown[]): Socket {
    const [data, encoding, cb] = args;
    if (data !== undefined && data !== null && typeof data !== 'function') {
      const callback = typeof encoding === 'function' ? encoding : cb;
      const enc = typeof encoding === 'string' ? encoding : undefined;
      this.onWrite(data, enc);
      return (this.originalEnd as (cb?: () => void) => Socket).call(this.socket, callback as (() => void) | undefined);
    }
    return (this.originalEnd as (...a: unknown[]) => Socket).apply(this.socket, args);
  }

  private onClose(): void {
    this.flushing = this.deliver().finally(this.closeDestination);
    this.flushing.catch(() => {}); // surfaced by flush()
  }

  // --- completions ----------------------------------------------------------------------

  /** Completes the oldest in-order write (the queue's head) and calls its callback. */
  private completeQueued(err: Error | null | undefined): void {
    realtimeStamp(); // first thing: the moment Node reported completion
    const queue = this.queue;
    const cb = queue.oldestCallback();
    // the record is the queue's: used up by complete() before cb can write (and reuse it)
    this.complete(queue.shift(), err, this.clock[0], this.clock[1]);
    if (cb) cb(err);
  }

  /** submitted* of a write: CLOCK_REALTIME now, just before the call hands it over. */
  private stampSubmitted(pending: PendingWrite): void {
    realtimeStamp();
    pending.submittedSec = this.clock[0];
    pending.submittedNsec = this.clock[1];
  }

  /** Records one completion in the current block (a row, no record object yet). */
  private complete(pending: PendingWrite, err: Error | null | undefined, completedSec: number, completedNsec: number): void {
    pending.done = true;
    const stats = this.stats;
    stats.records++;
    const flow = this.knownFlow();
    if (!flow) {
      stats.unattributable++;
      return;
    }
    this.blockFlow = flow;
    const failed = err !== null && err !== undefined;
    if (failed) stats.errors++;
    let tcp: Float64Array | null = null;
    let tcpFrom = -1;
    if (this.policy === 'burst' && !failed && this.readingCovers(pending)) {
      tcp = this.tcpSlots;
      tcpFrom = this.readingWriteId;
    } else if (this.policy !== 'off' && this.readTcpInfo(pending.writeId)) {
      tcp = this.tcpSlots;
    }
    const block = this.block;
    block.add(
      pending.writeId,
      pending.offsetStart,
      pending.length,
      pending.buffers,
      pending.writeReturned,
      pending.queuedAhead,
      pending.submittedSec,
      pending.submittedNsec,
      completedSec,
      completedNsec,
      failed ? errorName(err) : null,
      tcp,
      tcpFrom,
    );
    if (block.full) this.blockFilled();
  }

  /** Whether this completion may share the burst's reading: handed before it, bytes seen. */
  private readingCovers(pending: PendingWrite): boolean {
    return (
      this.readingLive &&
      pending.handedSeq < this.readingHanded &&
      this.tcpSlots[0] + this.tcpSlots[2] >= pending.offsetStart + pending.length // the reading saw its bytes (sent + not sent)
    );
  }

  /** Reads TCP_INFO into tcpSlots (false: the socket is gone); under 'burst' it opens a burst. */
  private readTcpInfo(writeId: number): boolean {
    this.readingLive = false;
    try {
      socketTcpInfoInto(this.socket, this.tcpSlots);
    } catch {
      return false; // socket already closed (after an error): no kernel state left to read
    }
    if (this.policy === 'burst') {
      this.readingWriteId = writeId;
      this.readingHanded = this.handed;
      this.readingLive = true;
      if (!this.burstEndQueued) {
        this.burstEndQueued = true;
        queueMicrotask(this.endBurst); // the burst ends at the next microtask checkpoint
      }
    }
    return true;
  }

  /** The 4-tuple, read once the socket is connected and kept (a destroyed socket forgets it). */
  private knownFlow(): FlowAddress | undefined {
    if (this.flow) return this.flow;
    // Not while connecting: Node caches the local address it reads then (0.0.0.0:0).
    if (this.socket.connecting) return undefined;
    const { localAddress, localPort, remoteAddress, remotePort } = this.socket;
    if (localAddress && localPort !== undefined && remoteAddress && remotePort !== undefined) {
      this.flow = { srcAddr: localAddress, srcPort: localPort, dstAddr: remoteAddress, dstPort: remotePort };
    }
    return this.flow;
  }

  // --- records --------------------------------------------------------------------------

  private blockFilled(): void {
    if (this.memory && !this.onRecord) {
      this.waitingBlocks.push(this.block);
      this.block = new CompletionBlock();
    } else {
      this.drainBlocks();
    }
  }

  /** Makes the records of the completions so far and hands them to the destination. */
  private drainBlocks(): void {
    for (const waiting of this.waitingBlocks.splice(0)) waiting.drain(this.blockFlow!, this.api, this.emit);
    if (this.block.count > 0) this.block.drain(this.blockFlow!, this.api, this.emit);
  }

  /** Delivers the records still buffered; resolves when the destination has them all. */
  private async deliver(): Promise<void> {
    this.drainBlocks();
    await this.destination.flush();
  }
}

function restoreProperty(socket: Socket, name: 'write' | 'uncork' | 'end' | 'connect', own: unknown): void {
  if (own === undefined) delete (socket as unknown as Record<string, unknown>)[name];
  else (socket as unknown as Record<string, unknown>)[name] = own;
}

/** The record's status for an error: its code (ECONNRESET, EPIPE, ...) or name. */
export function errorName(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.length > 0 ? code.slice(0, 200) : err.name || 'Error';
}
