import { captureFileError } from './frame.js';

/**
 * The one way to read inside a record or block (after libpcap's sf-pcapng.c): every read
 * goes through take(n), which refuses to pass `end` and says where and by how much.
 * Positions are indexes into `view`; fileBase maps them to file offsets for messages.
 */
export class BoundedCursor {
  view: DataView;
  pos: number;
  end: number;
  fileBase: number;
  littleEndian: boolean;

  constructor(view: DataView, pos: number, end: number, fileBase: number, littleEndian: boolean) {
    this.view = view;
    this.pos = pos;
    this.end = end;
    this.fileBase = fileBase;
    this.littleEndian = littleEndian;
  }

  /** File offset of the cursor's position. */
  get fileOffset(): number {
    return this.fileBase + this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Reserves n bytes and returns where they start; `what` names them in the refusal. */
  take(n: number, what: string): number {
    if (n < 0 || this.pos + n > this.end) {
      throw captureFileError(this.fileOffset, `${what} needs ${n} bytes but only ${this.end - this.pos} remain in the block`);
    }
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.take(1, what));
  }

  u16(what: string): number {
    return this.view.getUint16(this.take(2, what), this.littleEndian);
  }

  u32(what: string): number {
    return this.view.getUint32(this.take(4, what), this.littleEndian);
  }

  /** Signed 64-bit as a number (exact up to 2^53; enough for offsets and seconds). */
  i64(what: string): number {
    const at = this.take(8, what);
    const low = this.view.getUint32(at + (this.littleEndian ? 0 : 4), this.littleEndian);
    const high = this.view.getInt32(at + (this.littleEndian ? 4 : 0), this.littleEndian);
    return high * 0x1_0000_0000 + low;
  }

  u64(what: string): bigint {
    return this.view.getBigUint64(this.take(8, what), this.littleEndian);
  }
}

/**
 * Keeps the bytes of an incomplete record between pushes. Only the unparsed tail is
 * copied; while a record known to need N bytes is incomplete, chunks are only listed and
 * joined once N bytes are there (no quadratic copying for a large block).
 */
export class ChunkJoiner {
  private pending: Uint8Array[] = [];
  private pendingLength = 0;
  /** Bytes the incomplete record needs before parsing can go on (0: unknown, try each push). */
  private needed = 0;
  /** File offset of the first pending byte. */
  private pendingOffset = 0;

  /** The bytes to parse now (pending + chunk) and their file offset, or null to wait for more. */
  join(chunk: Uint8Array): { bytes: Uint8Array; fileBase: number } | null {
    if (this.pendingLength === 0) return { bytes: chunk, fileBase: this.pendingOffset };
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    if (this.pendingLength < this.needed) return null;
    const joined = new Uint8Array(this.pendingLength);
    let at = 0;
    for (const part of this.pending) {
      joined.set(part, at);
      at += part.length;
    }
    this.pending = [];
    this.pendingLength = 0;
    return { bytes: joined, fileBase: this.pendingOffset };
  }

  /**
   * Keeps bytes[consumed..] for the next push; `needed` is how many bytes the record
   * starting there needs in all, when the parser knows it.
   */
  keep(bytes: Uint8Array, fileBase: number, consumed: number, needed = 0): void {
    // copy: the caller's chunk may be reused after push returns
    const tail = bytes.slice(consumed);
    this.pending = tail.length > 0 ? [tail] : [];
    this.pendingLength = tail.length;
    this.pendingOffset = fileBase + consumed;
    this.needed = needed;
  }

  get pendingBytes(): number {
    return this.pendingLength;
  }

  get pendingFileOffset(): number {
    return this.pendingOffset;
  }
}
