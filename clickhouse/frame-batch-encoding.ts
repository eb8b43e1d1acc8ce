/**
 * A batch of the frame packer (capture/frame-packer.ts: decode → track → typed columns)
 * as RowBinary rows of the ClickHouse tables (tables.ts), pure: batch in, one Buffer per
 * table out. The writing half of the frame writer on ClickHouse, as db/frame-rows.ts is
 * on SQLite; clickhouse/frame-batches.ts sends what this makes.
 *
 * The two big tables (frames, and the advance rows: about one row per frame each) are
 * written straight from the packer's Float64Array/BigInt64Array columns into one Buffer
 * of the batch's exact size: no row arrays, no BigInt per value (the timestamps' 8 bytes
 * are copied as they lie in the BigInt64Array; RowBinary is little-endian like the
 * machines this runs on, checked at load). The copy from SQLite (copy-session.ts)
 * read every 64-bit value as a BigInt. The rare rows (flows, SACK blocks, retransmitted
 * ranges, write tags) go through the checked RowBinaryEncoder (row-binary.ts).
 *
 * Flows are versioned (migrations/clickhouse/004): a flow gets a row of all its columns
 * in each batch that changed it, with `version` = the batch's sequence number in this
 * encoder (1, 2, …); readers take the highest. A flow first seen in a batch that holds
 * no update of it (an import holds the updates back) gets a row with SQLite's defaults,
 * as SQLite's INSERT does before its UPDATE.
 */
import { endianness } from 'node:os';
import { AckscopeError } from '../core/errors.js';
import { FRAME_WIDTH, type FlowUpdate, type NewFlow, type PackedFrames } from '../capture/frame-packer.js';
import { ADVANCE_WIDTH, type PackedAdvances } from '../capture/advance-runs.js';
import { RowBinaryEncoder } from './row-binary.js';
import type { IdBlocks } from './id-blocks.js';
import { TABLES, type TableName } from './tables.js';

/** The tables a batch of frames fills, in the order they are written: frames last (see frame-batches.ts). */
export const FRAME_BATCH_TABLES = ['flows', 'sent_advances', 'ack_advances', 'sacks', 'tags', 'retransmissions', 'frames'] as const satisfies readonly TableName[];
export type FrameBatchTable = (typeof FRAME_BATCH_TABLES)[number];

/** Where the rows go: the session, the host they came from, and the ids before this writer's (another host's rows in the session). */
export interface FrameBatchTarget {
  sessionId: number;
  host: string;
  /** Added to the packer's flow numbers (1, 2, …): flow_id. Default 0. */
  flowBase?: number;
  /** Added to the packer's frame numbers: frame_no. Default 0. */
  frameBase?: number;
  /**
   * Instead of the bases: the blocks of flow ids and frame numbers this writer claimed
   * (a live capture, which other hosts' captures may run beside: id-blocks.ts).
   */
  flowIds?: IdBlocks;
  frameIds?: IdBlocks;
}

/**
 * The column order this file writes, checked against tables.ts at load: a column added
 * there (a migration) without its value here fails at once, not as garbage in the table.
 */
const WRITTEN: Record<'frames' | 'sent_advances' | 'ack_advances', readonly string[]> = {
  frames: [
    'session_id', 'frame_no', 'flow_id', 'host', 'dir', 'ts_ns', 'caplen', 'wirelen', 'tcp_flags', 'seq_raw', 'ack_raw',
    'seq_off', 'payload_len', 'ack_off', 'window', 'retransmit', 'sent_max', 'acked_max', 'sent_advanced', 'ack_advanced',
    'sack_count', 'file_offset',
  ],
  sent_advances: ['session_id', 'flow_id', 'dir', 'sent_max', 'ts_ns', 'seq_off'],
  ack_advances: ['session_id', 'flow_id', 'dir', 'acked_max', 'ts_ns'],
};
for (const [table, columns] of Object.entries(WRITTEN)) {
  const defined = TABLES[table as keyof typeof WRITTEN].columns.map((c) => c.name);
  if (defined.join() !== columns.join()) {
    throw new Error(`clickhouse/frame-batch-encoding.ts writes ${table} as (${columns.join(', ')}) but tables.ts defines (${defined.join(', ')})`);
  }
}
if (endianness() !== 'LE') throw new Error('clickhouse/frame-batch-encoding.ts copies int64 values as they lie in memory: little-endian machines only');

const TWO_32 = 4294967296;

/** A Buffer filled front to back; integers from JavaScript numbers (exact up to 2^53). */
class Bytes {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
  }
  u32(v: number): void {
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }
  /** Int64 or UInt64 below 2^53, two's complement: high word floor(v / 2^32), low word the rest. */
  i64(v: number): void {
    const hi = Math.floor(v / TWO_32);
    this.buf.writeUInt32LE(v - hi * TWO_32, this.pos);
    this.buf.writeInt32LE(hi, this.pos + 4);
    this.pos += 8;
  }
  /** Nullable(Int64): NaN is the packer's SQL null. */
  i64OrNull(v: number): void {
    if (v !== v) {
      this.buf[this.pos++] = 1;
    } else {
      this.buf[this.pos++] = 0;
      this.i64(v);
    }
  }
  copy(from: Buffer, start: number, length: number): void {
    from.copy(this.buf, this.pos, start, start + length);
    this.pos += length;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** The bytes of a String value: LEB128 length, then UTF-8. */
function stringBytes(text: string): Buffer {
  const utf8 = Buffer.from(text, 'utf8');
  const length: number[] = [];
  let n = utf8.length;
  while (n >= 0x80) {
    length.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  length.push(n);
  return Buffer.concat([Buffer.from(length), utf8]);
}

function uint64Bytes(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

/** A flow's columns as SQLite's flows row holds them after `INSERT` and before any `UPDATE` (migrations/001). */
function defaultFlowRow(f: NewFlow): FlowUpdate {
  return [f.flow, null, null, 0, 0, null, null, null, null, 0, f.firstNs, 0, 0, 0, 0, 0];
}

export class FrameBatchEncoder {
  private readonly sessionBytes: Buffer;
  private readonly hostBytes: Buffer;
  /** The packer's flow number → flow_id, its frame number → frame_no (a base added, or the claimed blocks). */
  private readonly flowId: (n: number) => number;
  private readonly frameNo: (n: number) => number;
  /** Identity of each flow this encoder has seen (index: the packer's flow number), for its later versions. */
  private readonly flows: NewFlow[] = [];
  private version = 0;

  constructor(readonly target: FrameBatchTarget) {
    this.sessionBytes = uint64Bytes(target.sessionId);
    this.hostBytes = stringBytes(target.host);
    const flowBase = target.flowBase ?? 0;
    const frameBase = target.frameBase ?? 0;
    const flowIds = target.flowIds;
    const frameIds = target.frameIds;
    this.flowId = flowIds ? (n) => flowIds.at(n) : (n) => flowBase + n;
    this.frameNo = frameIds ? (n) => frameIds.at(n) : (n) => frameBase + n;
  }

  /** The batch's rows as RowBinary, one Buffer per table that has rows. */
  encode(batch: PackedFrames): Map<FrameBatchTable, Buffer> {
    const out = new Map<FrameBatchTable, Buffer>();
    const put = (table: FrameBatchTable, bytes: Buffer | null) => {
      if (bytes !== null && bytes.length > 0) out.set(table, bytes);
    };
    put('flows', this.flowRows(batch));
    put('sent_advances', this.advanceRows(batch.sentAdvances, true));
    put('ack_advances', this.advanceRows(batch.ackAdvances, false));
    const { sessionId } = this.target;
    const { flowId, frameNo } = this;
    put('sacks', encodeRows('sacks', batch.sacks.map((s) => [sessionId, flowId(s[1]), s[2], s[3], s[4], s[5], frameNo(s[0])])));
    put('tags', encodeRows('tags', batch.tags.map((t) => [sessionId, flowId(t[0]), t[1], t[2], t[3], t[4], t[5], frameNo(t[6]), t[7]])));
    put(
      'retransmissions',
      encodeRows('retransmissions', batch.retransmissions.map((r) => [sessionId, flowId(r[0]), r[1], r[2], r[3], r[4], frameNo(r[5])])),
    );
    put('frames', this.frameRows(batch));
    return out;
  }

  private flowRows(batch: PackedFrames): Buffer | null {
    for (const f of batch.newFlows) this.flows[f.flow] = f;
    if (batch.newFlows.length === 0 && batch.flowUpdates.length === 0) return null;
    const version = ++this.version;
    const updated = new Set(batch.flowUpdates.map((u) => u[0]));
    const rows = [...batch.newFlows.filter((f) => !updated.has(f.flow)).map(defaultFlowRow), ...batch.flowUpdates];
    return encodeRows(
      'flows',
      rows.map((u) => {
        const f = this.flows[u[0]];
        if (!f) throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', `flow ${u[0]} updated before it was seen by this writer`);
        // tables.ts order: identity, then the columns FlowUpdate carries after the flow number
        return [
          this.target.sessionId, this.flowId(f.flow), this.target.host, f.ipVersion, f.aAddr, f.aPort, f.bAddr, f.bPort,
          u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], f.firstNs, u[10], u[11], u[12], u[13], u[14], u[15], version,
        ];
      }),
    );
  }

  private advanceRows(rows: PackedAdvances, withSeq: boolean): Buffer | null {
    const { count, numbers } = rows;
    if (count === 0) return null;
    const rowBytes = 8 + 8 + 1 + 8 + 8 + (withSeq ? 8 : 0);
    const out = new Bytes(Buffer.allocUnsafe(count * rowBytes));
    const ts = Buffer.from(rows.ts.buffer, rows.ts.byteOffset, rows.ts.byteLength);
    const session = this.sessionBytes;
    const { flowId } = this;
    for (let r = 0, p = 0; r < count; r++, p += ADVANCE_WIDTH) {
      out.copy(session, 0, 8);
      out.i64(flowId(numbers[p]));
      out.u8(numbers[p + 1]);
      out.i64(numbers[p + 2]);
      out.copy(ts, r * 8, 8);
      if (withSeq) out.i64(numbers[p + 3]);
    }
    return out.done();
  }

  private frameRows(batch: PackedFrames): Buffer | null {
    const { count, frames: v } = batch;
    if (count === 0) return null;
    const host = this.hostBytes;
    // fixed widths, three Nullable(Int64) at most 9 bytes each
    const rowBytes = 8 + 8 + 8 + host.length + 1 + 8 + 4 + 4 + 2 + 4 + 4 + 8 + 4 + 9 + 8 + 1 + 8 + 9 + 1 + 1 + 2 + 9;
    const out = new Bytes(Buffer.allocUnsafe(count * rowBytes));
    const ts = Buffer.from(batch.ts.buffer, batch.ts.byteOffset, batch.ts.byteLength);
    const session = this.sessionBytes;
    const { flowId, frameNo } = this;
    for (let r = 0; r < count; r++) {
      let p = r * FRAME_WIDTH;
      out.copy(session, 0, 8);
      out.i64(frameNo(v[p++])); // frame_no
      out.i64(flowId(v[p++])); // flow_id
      out.copy(host, 0, host.length);
      out.u8(v[p++]); // dir
      out.copy(ts, r * 8, 8); // ts_ns
      out.u32(v[p++]); // caplen
      out.u32(v[p++]); // wirelen
      out.u16(v[p++]); // tcp_flags
      out.u32(v[p++]); // seq_raw
      out.u32(v[p++]); // ack_raw
      out.i64(v[p++]); // seq_off
      out.u32(v[p++]); // payload_len
      out.i64OrNull(v[p++]); // ack_off
      out.i64(v[p++]); // window
      out.u8(v[p++]); // retransmit
      out.i64(v[p++]); // sent_max
      out.i64OrNull(v[p++]); // acked_max
      out.u8(v[p++]); // sent_advanced
      out.u8(v[p++]); // ack_advanced
      out.u16(v[p++]); // sack_count
      out.i64OrNull(v[p]); // file_offset
    }
    return out.done();
  }
}

/** Rare rows (arrays in tables.ts order) through the checked encoder, as one Buffer. */
function encodeRows(table: TableName, rows: readonly (readonly unknown[])[]): Buffer | null {
  if (rows.length === 0) return null;
  const encoder = new RowBinaryEncoder(TABLES[table].columns);
  const chunks: Buffer[] = [];
  for (const row of rows) {
    const chunk = encoder.push(row);
    if (chunk) chunks.push(chunk);
  }
  const last = encoder.flush();
  if (last) chunks.push(last);
  return Buffer.concat(chunks);
}
