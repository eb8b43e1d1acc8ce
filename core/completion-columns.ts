import type { CompletionRow } from './completion.js';

/**
 * Validated completions of one upload packed into typed columns, a batch at a time, so
 * they cross to the ingest worker (recording/completion-ingest.ts) as one transferred
 * ArrayBuffer instead of structured-cloned row objects (~1 µs a row), and the request
 * thread keeps no row once its batch left. Texts (addresses, api, status, immediate)
 * become small numbers: each distinct text is sent once per upload (`newTexts`), as is
 * each distinct flow (`newFlows`); the receiving side appends them to its own tables.
 */
export interface PackedCompletions {
  /** Record index (in the upload) of row 0. */
  first: number;
  count: number;
  /** Per row: the upload's flow number (index into the flows sent so far). */
  flow: Int32Array;
  /** Per row, INT_FIELDS.length numbers; NaN: null. */
  ints: Float64Array;
  /** Per row: submittedNs, completedNs. */
  ns: BigInt64Array;
  /** Per row: api, status, immediate as text numbers; -1: null. */
  texts: Int32Array;
  /** Rows with `extra`: [row in this batch, JSON text]. */
  extras: [number, string][];
  /** Flows first seen in this batch, numbered on from the flows sent before. */
  newFlows: { srcAddr: string; srcPort: number; dstAddr: string; dstPort: number }[];
  /** Texts first seen in this batch, numbered on from the texts sent before. */
  newTexts: string[];
}

/** The integer fields of a row in the order of PackedCompletions.ints. */
export const INT_FIELDS = [
  'writeId',
  'offsetStart',
  'offsetEnd',
  'bytesReported',
  'buffers',
  'writeReturned',
  'writableLength',
  'tcpBytesSent',
  'tcpBytesAcked',
  'tcpNotsentBytes',
  'tcpUnacked',
  'tcpBytesRetrans',
  'tcpRttUs',
  'tcpInfoFrom',
] as const satisfies readonly (keyof CompletionRow)[];
export const INT_WIDTH = INT_FIELDS.length;
export const TEXT_WIDTH = 3;

/**
 * Bytes per row of a batch's one ArrayBuffer: ints (14 × 8), ns (2 × 8), flow (4),
 * texts (3 × 4). The columns lie one after the other, each batchRows long, in that
 * order, so the whole batch is one BLOB that SQLite reads in place
 * (db/native/packed_completions.c).
 */
export const PACKED_ROW_BYTES = INT_WIDTH * 8 + 2 * 8 + 4 + TEXT_WIDTH * 4;

/** A batch's columns all lie in this one ArrayBuffer (PACKED_ROW_BYTES a row of its capacity). */
export function packedBuffer(b: PackedCompletions): ArrayBuffer {
  return b.ints.buffer as ArrayBuffer;
}

/** The ArrayBuffers of a batch, for postMessage's transfer list. */
export function transferList(b: PackedCompletions): ArrayBuffer[] {
  return [packedBuffer(b)];
}

/**
 * Packs the rows of one upload in order. add() returns a full batch (or null); end()
 * the last, partial one.
 */
export class CompletionPacker {
  private batch: PackedCompletions;
  /** The upload's flows by srcPort · 65536 + dstPort. */
  private readonly flowsByPorts = new Map<number, { srcAddr: string; dstAddr: string; n: number }[]>();
  private flows = 0;
  private readonly textNumbers = new Map<string, number>();
  private rows = 0;

  constructor(readonly batchRows = 4096) {
    this.batch = this.fresh();
  }

  add(row: CompletionRow): PackedCompletions | null {
    const b = this.batch;
    const k = b.count++;
    b.flow[k] = this.flowOf(row, b);
    const ints = b.ints;
    let p = k * INT_WIDTH;
    // written out, not a loop over INT_FIELDS: named loads (a test checks the order)
    ints[p++] = row.writeId;
    ints[p++] = row.offsetStart;
    ints[p++] = row.offsetEnd;
    ints[p++] = row.bytesReported;
    ints[p++] = row.buffers;
    ints[p++] = row.writeReturned ?? NaN;
    ints[p++] = row.writableLength ?? NaN;
    ints[p++] = row.tcpBytesSent ?? NaN;
    ints[p++] = row.tcpBytesAcked ?? NaN;
    ints[p++] = row.tcpNotsentBytes ?? NaN;
    ints[p++] = row.tcpUnacked ?? NaN;
    ints[p++] = row.tcpBytesRetrans ?? NaN;
    ints[p++] = row.tcpRttUs ?? NaN;
    ints[p] = row.tcpInfoFrom ?? NaN;
    b.ns[2 * k] = row.submittedNs;
    b.ns[2 * k + 1] = row.completedNs;
    b.texts[TEXT_WIDTH * k] = this.textOf(row.api, b);
    b.texts[TEXT_WIDTH * k + 1] = this.textOf(row.status, b);
    b.texts[TEXT_WIDTH * k + 2] = row.immediate === null ? -1 : this.textOf(row.immediate, b);
    if (row.extra !== null) b.extras.push([k, row.extra]);
    this.rows++;
    if (b.count < this.batchRows) return null;
    this.batch = this.fresh();
    return b;
  }

  /** The rows not yet handed out (null: none). */
  end(): PackedCompletions | null {
    const b = this.batch;
    if (b.count === 0) return null;
    this.batch = this.fresh();
    return b;
  }

  private fresh(): PackedCompletions {
    const n = this.batchRows;
    const buffer = new ArrayBuffer(n * PACKED_ROW_BYTES); // the layout of PACKED_ROW_BYTES
    return {
      first: this.rows,
      count: 0,
      ints: new Float64Array(buffer, 0, n * INT_WIDTH),
      ns: new BigInt64Array(buffer, n * INT_WIDTH * 8, n * 2),
      flow: new Int32Array(buffer, n * (INT_WIDTH * 8 + 16), n),
      texts: new Int32Array(buffer, n * (INT_WIDTH * 8 + 16 + 4), n * TEXT_WIDTH),
      extras: [],
      newFlows: [],
      newTexts: [],
    };
  }

  private flowOf(row: CompletionRow, b: PackedCompletions): number {
    // by the two ports first (a number key, no string built per row), then the addresses
    // (the same string objects, from the request's address cache, compare at once)
    const ports = row.srcPort * 65536 + row.dstPort;
    let same = this.flowsByPorts.get(ports);
    if (same === undefined) this.flowsByPorts.set(ports, (same = []));
    for (let i = 0; i < same.length; i++) {
      const f = same[i];
      if (row.srcAddr === f.srcAddr && row.dstAddr === f.dstAddr) return f.n;
    }
    const n = this.flows++;
    same.push({ srcAddr: row.srcAddr, dstAddr: row.dstAddr, n });
    b.newFlows.push({ srcAddr: row.srcAddr, srcPort: row.srcPort, dstAddr: row.dstAddr, dstPort: row.dstPort });
    return n;
  }

  private textOf(text: string, b: PackedCompletions): number {
    let n = this.textNumbers.get(text);
    if (n === undefined) {
      n = this.textNumbers.size;
      this.textNumbers.set(text, n);
      b.newTexts.push(text);
    }
    return n;
  }
}
