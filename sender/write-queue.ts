/**
 * A write in flight. A class, so every pending write has the same shape (monomorphic
 * property access in the completion path). submitted* is CLOCK_REALTIME as seconds and
 * nanoseconds (capture/native realtimeStamp): numbers, no BigInt made per write.
 */
export class PendingWrite {
  writeId = 0;
  offsetStart = 0;
  submittedSec = 0;
  submittedNsec = 0;
  writeReturned = 1;
  queuedAhead = 0;
  length = 0;
  buffers = 0;
  /** Hand-offs to the kernel before this write's own (orders it against TCP_INFO readings). */
  handedSeq = Number.MAX_SAFE_INTEGER; // never handed (a group still corked) shares no reading
  done = false;

  /** Makes this object a fresh write (objects are reused: see WriteQueue). */
  reset(writeId: number, offsetStart: number): this {
    this.writeId = writeId;
    this.offsetStart = offsetStart;
    this.submittedSec = 0;
    this.submittedNsec = 0;
    this.writeReturned = 1;
    this.queuedAhead = 0;
    this.length = 0;
    this.buffers = 0;
    this.handedSeq = Number.MAX_SAFE_INTEGER;
    this.done = false;
    return this;
  }
}

export type WriteCallback = (err?: Error | null) => void;

/**
 * Writes in flight in posting order (Node calls write callbacks in write order), each
 * with its caller's callback: a ring of PendingWrite objects made once and reused, so a
 * write allocates nothing (an object per write was most of the instrumented run's
 * scavenges, bench/sender-overhead.ts). The ring doubles when full (a program may have
 * any number of writes outstanding).
 */
export class WriteQueue {
  private writes: PendingWrite[];
  private callbacks: (WriteCallback | undefined)[];
  private head = 0;
  private count = 0;

  /** `capacity`: a power of two (the ring's index is masked). */
  constructor(capacity = 64) {
    if (capacity < 1 || (capacity & (capacity - 1)) !== 0) throw new RangeError(`write queue: capacity ${capacity} is not a power of two`);
    this.writes = Array.from({ length: capacity }, () => new PendingWrite());
    this.callbacks = new Array<WriteCallback | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  /**
   * Appends a write and returns its record, reset. The record is this queue's: valid
   * until the write is shifted out and a later push reuses it.
   */
  push(writeId: number, offsetStart: number, callback: WriteCallback | undefined): PendingWrite {
    if (this.count === this.writes.length) this.grow();
    const at = (this.head + this.count) & (this.writes.length - 1);
    this.count++;
    this.callbacks[at] = callback;
    return this.writes[at].reset(writeId, offsetStart);
  }

  /** Takes back the last push (the write call threw: it never happened). */
  dropLast(): void {
    const at = (this.head + this.count - 1) & (this.writes.length - 1);
    this.callbacks[at] = undefined;
    this.count--;
  }

  /** The oldest write's callback (call before shift()). */
  oldestCallback(): WriteCallback | undefined {
    return this.callbacks[this.head];
  }

  /** Removes the oldest write and returns its record (valid until the next push). */
  shift(): PendingWrite {
    if (this.count === 0) throw new Error('write queue: a completion with no write in flight');
    const at = this.head;
    this.callbacks[at] = undefined;
    this.head = (at + 1) & (this.writes.length - 1);
    this.count--;
    return this.writes[at];
  }

  private grow(): void {
    const n = this.writes.length;
    const writes: PendingWrite[] = [];
    const callbacks: (WriteCallback | undefined)[] = [];
    for (let i = 0; i < n; i++) {
      writes.push(this.writes[(this.head + i) & (n - 1)]);
      callbacks.push(this.callbacks[(this.head + i) & (n - 1)]);
    }
    for (let i = n; i < 2 * n; i++) {
      writes.push(new PendingWrite());
      callbacks.push(undefined);
    }
    this.writes = writes;
    this.callbacks = callbacks;
    this.head = 0;
  }
}
