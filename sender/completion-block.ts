import type { CompletionRecord, FlowAddress } from '../core/completion.js';

/** Rows per block: records are made (and reported) in batches of this many completions. */
export const BLOCK_ROWS = 4096;

/** Numbers of one TCP_INFO reading kept per reading: the 6 slots and the writeId whose completion read it. */
const READING_WIDTH = 7;

/**
 * Completions waiting to become records, kept in preallocated typed columns so a
 * completion allocates nothing and formats nothing: the records (objects, ns as decimal
 * strings) are made for a whole block at once, when it fills or on flush.
 * (bench/sender-overhead.ts: an object with two BigInt→string conversions per
 * completion cost ~0.15 µs of a ~0.5 µs instrumentation overhead.)
 *
 * The columns share one ArrayBuffer, each as narrow as its values allow (66 bytes a
 * row, was 17 Float64 columns, 136 bytes): a block kept in memory is fresh memory the
 * kernel must fault in and zero, ~0.6 µs per KiB here, so its size is CPU per write. A
 * TCP_INFO reading is kept once, and rows point at it: under the 'burst' policy ~94% of
 * rows share one, which were 6 numbers copied per row.
 */
export class CompletionBlock {
  count = 0;
  // 8-byte columns first, then 4-byte, then 1-byte: every view stays aligned
  private readonly writeId: Float64Array;
  private readonly offsetStart: Float64Array;
  private readonly length: Float64Array;
  private readonly queuedAhead: Float64Array;
  /** CLOCK_REALTIME seconds; nanoseconds (< 1e9) in the Uint32 columns (no BigInt per time). */
  private readonly submittedSec: Float64Array;
  private readonly completedSec: Float64Array;
  private readonly submittedNsec: Uint32Array;
  private readonly completedNsec: Uint32Array;
  private readonly buffers: Uint32Array;
  /** The row's TCP_INFO reading (index into `readings`), -1: none. */
  private readonly reading: Int32Array;
  private readonly writeReturned: Uint8Array;
  /** 1: the reading was taken at an earlier completion of the same burst (the record's tcpInfoFrom). */
  private readonly sharedReading: Uint8Array;
  /** READING_WIDTH numbers per reading, grown as readings come (one per row at most). */
  private readings = new Float64Array(64 * READING_WIDTH);
  private readingCount = 0;
  /** Error status by row (errors are rare: no column). */
  private readonly failures = new Map<number, string>();

  constructor() {
    const n = BLOCK_ROWS;
    const buffer = new ArrayBuffer(n * (6 * 8 + 4 * 4 + 2));
    let at = 0;
    const f64 = () => new Float64Array(buffer, (at += 8 * n) - 8 * n, n);
    const u32 = () => new Uint32Array(buffer, (at += 4 * n) - 4 * n, n);
    const u8 = () => new Uint8Array(buffer, (at += n) - n, n);
    this.writeId = f64();
    this.offsetStart = f64();
    this.length = f64();
    this.queuedAhead = f64();
    this.submittedSec = f64();
    this.completedSec = f64();
    this.submittedNsec = u32();
    this.completedNsec = u32();
    this.buffers = u32();
    this.reading = new Int32Array(buffer, (at += 4 * n) - 4 * n, n);
    this.writeReturned = u8();
    this.sharedReading = u8();
  }

  get full(): boolean {
    return this.count === BLOCK_ROWS;
  }

  /**
   * Appends one completion. `tcp` (or null) holds the reading's first 6 slots;
   * `tcpFrom` the writeId whose completion took it when shared, else -1 (read at this
   * completion). A shared reading is the one its writeId read: kept once per block.
   */
  add(
    writeId: number,
    offsetStart: number,
    length: number,
    buffers: number,
    writeReturned: number,
    queuedAhead: number,
    submittedSec: number,
    submittedNsec: number,
    completedSec: number,
    completedNsec: number,
    failure: string | null,
    tcp: Float64Array | null,
    tcpFrom: number,
  ): void {
    const row = this.count++;
    this.writeId[row] = writeId;
    this.offsetStart[row] = offsetStart;
    this.length[row] = length;
    this.buffers[row] = buffers;
    this.writeReturned[row] = writeReturned;
    this.queuedAhead[row] = queuedAhead;
    this.submittedSec[row] = submittedSec;
    this.submittedNsec[row] = submittedNsec;
    this.completedSec[row] = completedSec;
    this.completedNsec[row] = completedNsec;
    if (failure !== null) this.failures.set(row, failure);
    if (tcp === null) {
      this.reading[row] = -1;
      this.sharedReading[row] = 0;
    } else if (tcpFrom >= 0) {
      const last = this.readingCount - 1;
      this.reading[row] = last >= 0 && this.readings[last * READING_WIDTH + 6] === tcpFrom ? last : this.keepReading(tcp, tcpFrom);
      this.sharedReading[row] = 1;
    } else {
      this.reading[row] = this.keepReading(tcp, writeId);
      this.sharedReading[row] = 0;
    }
  }

  private keepReading(tcp: Float64Array, takenBy: number): number {
    const k = this.readingCount++;
    if (k * READING_WIDTH === this.readings.length) {
      const grown = new Float64Array(this.readings.length * 2);
      grown.set(this.readings);
      this.readings = grown;
    }
    const r = this.readings;
    const t = k * READING_WIDTH;
    for (let i = 0; i < 6; i++) r[t + i] = tcp[i];
    r[t + 6] = takenBy;
    return k;
  }

  /** Makes the records of every row in order, hands each to `emit`, and empties the block. */
  drain(flow: FlowAddress, api: string, emit: (record: CompletionRecord, latencyNs: number) => void): void {
    const n = this.count;
    this.count = 0; // first: an emit that throws must not make the rows appear twice
    try {
      this.emitRows(n, flow, api, emit);
    } finally {
      this.failures.clear();
      this.readingCount = 0;
    }
  }

  private emitRows(n: number, flow: FlowAddress, api: string, emit: (record: CompletionRecord, latencyNs: number) => void): void {
    for (let row = 0; row < n; row++) {
      const failure = this.failures.get(row);
      const length = this.length[row];
      const offsetStart = this.offsetStart[row];
      const submittedSec = this.submittedSec[row];
      const submittedNsec = this.submittedNsec[row];
      const completedSec = this.completedSec[row];
      const completedNsec = this.completedNsec[row];
      const record: CompletionRecord = {
        flow,
        writeId: this.writeId[row],
        offsetStart,
        offsetEnd: offsetStart + length,
        submittedNs: nsText(submittedSec, submittedNsec),
        completedNs: nsText(completedSec, completedNsec),
        bytesReported: failure === undefined ? length : 0,
        api,
        buffers: this.buffers[row],
        status: failure ?? 'ok',
        writeReturned: this.writeReturned[row],
        writableLength: this.queuedAhead[row],
      };
      const reading = this.reading[row];
      if (reading >= 0) {
        const t = reading * READING_WIDTH;
        const tcp = this.readings;
        record.tcpInfo = {
          bytesSent: tcp[t],
          bytesAcked: tcp[t + 1],
          notsentBytes: tcp[t + 2],
          unacked: tcp[t + 3],
          bytesRetrans: tcp[t + 4],
          rttUs: tcp[t + 5],
        };
        if (this.sharedReading[row] === 1) record.tcpInfoFrom = tcp[t + 6];
      }
      emit(record, (completedSec - submittedSec) * 1e9 + (completedNsec - submittedNsec));
    }
  }
}

/**
 * Epoch nanoseconds as the record's decimal text, from CLOCK_REALTIME's seconds and
 * nanoseconds (0 ≤ nsec < 1e9, both integers): the digits of sec · 10^9 + nsec, with no
 * BigInt made.
 */
export function nsText(sec: number, nsec: number): string {
  if (sec === 0) return String(nsec);
  const digits = String(nsec);
  return String(sec) + '000000000'.slice(digits.length) + digits;
}
