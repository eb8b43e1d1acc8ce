/**
 * RowBinary, ClickHouse's plain binary row format, for streamed inserts over HTTP
 * (measured here: 673 k rows/s against 193-214 k for JSONEachRow; CLICKHOUSE.md).
 * Per column: integers little-endian in their width, String as a LEB128 length and its
 * bytes, Nullable(T) as one byte (1: NULL) then T when not NULL.
 * Pure: rows in, Buffer chunks out. Every value is checked against its column type,
 * so a wrong value is refused here (ACKSCOPE_ERR_STORE_VALUE), not stored as garbage.
 */
import { AckscopeError } from '../core/errors.js';
import type { Column, ColumnType, IntegerType, ScalarType } from './tables.js';

/** ~1 MiB per chunk: few HTTP writes, little memory held. */
const CHUNK_BYTES = 1 << 20;

type Put = (value: unknown) => void;

const WIDTH: Record<IntegerType, number> = { UInt8: 1, UInt16: 2, UInt32: 4, UInt64: 8, Int8: 1, Int16: 2, Int32: 4, Int64: 8 };
const RANGE: Record<IntegerType, [number, number]> = {
  UInt8: [0, 0xff],
  UInt16: [0, 0xffff],
  UInt32: [0, 0xffffffff],
  UInt64: [0, Number.MAX_SAFE_INTEGER],
  Int8: [-0x80, 0x7f],
  Int16: [-0x8000, 0x7fff],
  Int32: [-0x80000000, 0x7fffffff],
  Int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};
const BIG_RANGE = { UInt64: [0n, 0xffffffffffffffffn], Int64: [-0x8000000000000000n, 0x7fffffffffffffffn] } as const;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function refuse(column: string, type: ColumnType, value: unknown): AckscopeError {
  const shown = typeof value === 'string' ? `a string of ${value.length} characters` : typeof value === 'bigint' || typeof value === 'number' ? String(value) : String(value === null ? 'null' : typeof value);
  return new AckscopeError('ACKSCOPE_ERR_STORE_VALUE', `column ${column} (${type}): cannot store ${shown}`, { column });
}

/** Encodes rows (arrays in column order) into RowBinary chunks. */
export class RowBinaryEncoder {
  #buf = Buffer.allocUnsafe(CHUNK_BYTES + 4096);
  #pos = 0;
  readonly #puts: Put[];
  rows = 0;

  constructor(readonly columns: readonly Column[]) {
    this.#puts = columns.map((c) => this.#compile(c.name, c.type));
  }

  #room(bytes: number): void {
    if (this.#pos + bytes <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + bytes));
    this.#buf.copy(bigger, 0, 0, this.#pos);
    this.#buf = bigger;
  }

  #compile(name: string, type: ColumnType): Put {
    const nullable = /^Nullable\((.+)\)$/.exec(type);
    if (nullable) {
      const inner = this.#compileScalar(name, nullable[1] as ScalarType, type);
      return (value) => {
        this.#room(1);
        if (value === null || value === undefined) {
          this.#buf[this.#pos++] = 1;
        } else {
          this.#buf[this.#pos++] = 0;
          inner(value);
        }
      };
    }
    return this.#compileScalar(name, type as ScalarType, type);
  }

  #compileScalar(name: string, scalar: ScalarType, type: ColumnType): Put {
    if (scalar === 'String') {
      return (value) => {
        let bytes: number;
        if (typeof value === 'string') {
          if (LONE_SURROGATE.test(value)) throw refuse(name, type, value);
          bytes = Buffer.byteLength(value, 'utf8');
          this.#room(10 + bytes);
          this.#varint(bytes);
          this.#pos += this.#buf.write(value, this.#pos, 'utf8');
        } else if (value instanceof Uint8Array) {
          bytes = value.length;
          this.#room(10 + bytes);
          this.#varint(bytes);
          this.#buf.set(value, this.#pos);
          this.#pos += bytes;
        } else {
          throw refuse(name, type, value);
        }
      };
    }
    const width = WIDTH[scalar];
    if (width === undefined) throw new AckscopeError('ACKSCOPE_ERR_INTERNAL', `no RowBinary encoding for ${type}`);
    const [min, max] = RANGE[scalar];
    const signed = scalar.startsWith('Int');
    if (width === 8) {
      const [bmin, bmax] = BIG_RANGE[scalar as 'UInt64' | 'Int64'];
      return (value) => {
        let big: bigint;
        if (typeof value === 'bigint') big = value;
        else if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) big = BigInt(value);
        else throw refuse(name, type, value);
        if (big < bmin || big > bmax) throw refuse(name, type, value);
        this.#room(8);
        if (signed) this.#buf.writeBigInt64LE(big, this.#pos);
        else this.#buf.writeBigUInt64LE(big, this.#pos);
        this.#pos += 8;
      };
    }
    return (value) => {
      // better-sqlite3 with safeIntegers hands every integer as a bigint
      const n = typeof value === 'bigint' && value >= BigInt(min) && value <= BigInt(max) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw refuse(name, type, value);
      this.#room(4);
      const buf = this.#buf;
      if (width === 4) {
        if (signed) buf.writeInt32LE(n, this.#pos);
        else buf.writeUInt32LE(n, this.#pos);
      } else if (width === 2) {
        if (signed) buf.writeInt16LE(n, this.#pos);
        else buf.writeUInt16LE(n, this.#pos);
      } else {
        buf[this.#pos] = n & 0xff;
      }
      this.#pos += width;
    };
  }

  #varint(n: number): void {
    while (n >= 0x80) {
      this.#buf[this.#pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.#buf[this.#pos++] = n;
  }

  /** Appends one row; returns a full chunk when one is ready to send, else null. */
  push(row: readonly unknown[]): Buffer | null {
    if (row.length !== this.#puts.length) {
      throw new AckscopeError('ACKSCOPE_ERR_STORE_VALUE', `row has ${row.length} values for ${this.#puts.length} columns`);
    }
    const start = this.#pos;
    try {
      for (let i = 0; i < row.length; i++) this.#puts[i](row[i]);
    } catch (err) {
      this.#pos = start; // a refused row leaves nothing half-written
      throw err;
    }
    this.rows++;
    return this.#pos >= CHUNK_BYTES ? this.flush() : null;
  }

  /** What is buffered, as its own Buffer (null when empty). */
  flush(): Buffer | null {
    if (this.#pos === 0) return null;
    const chunk = Buffer.from(this.#buf.subarray(0, this.#pos));
    this.#pos = 0;
    return chunk;
  }
}

/** Rows → RowBinary chunks, lazily: the insert pulls as the socket drains. */
export function* encodeRowBinary(columns: readonly Column[], rows: Iterable<readonly unknown[]>, counter?: { rows: number }): Generator<Buffer> {
  const encoder = new RowBinaryEncoder(columns);
  for (const row of rows) {
    const chunk = encoder.push(row);
    if (chunk) yield chunk;
  }
  const last = encoder.flush();
  if (last) yield last;
  if (counter) counter.rows = encoder.rows;
}
