/**
 * How much of a pcapng byte stream is whole blocks: what a file cut short by a crash
 * (a write torn by SIGKILL, a full disk) can keep so that readers (tshark, ackscope's
 * own) open it cleanly. Pure: the caller reads the bytes (recording/capture-file-repair.ts).
 */

const SECTION_HEADER = 0x0a0d0d0a; // the same in both byte orders
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export interface BlockWalk {
  /** Bytes from the start of the buffer that are whole, well-formed blocks. */
  complete: number;
  /** Byte order of the section the walk ended in (null: no section header seen yet). */
  littleEndian: boolean | null;
  /** Total length the first incomplete block announces (it runs past the buffer), if it could be read. */
  need: number | null;
  /** Why the walk stopped before the end of the buffer, if not for an incomplete block. */
  malformed: string | null;
}

/**
 * Walks whole blocks from the start of `buf` (which begins at a block boundary), with the
 * byte order of the section it is in (null at the start of a file). Each block must
 * answer yes to: at least 12 bytes? total length a multiple of 4? trailer length equal
 * to header length? A section header decides the byte order from its magic.
 */
export function walkCompleteBlocks(buf: Uint8Array, littleEndian: boolean | null): BlockWalk {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let le = littleEndian;
  let at = 0;
  const stop = (need: number | null, malformed: string | null): BlockWalk => ({ complete: at, littleEndian: le, need, malformed });
  while (at < buf.length) {
    if (buf.length - at < 12) return stop(null, null);
    const type = view.getUint32(at, true);
    let blockLe = le;
    if (type === SECTION_HEADER) {
      const magicLe = view.getUint32(at + 8, true);
      if (magicLe === BYTE_ORDER_MAGIC) blockLe = true;
      else if (view.getUint32(at + 8, false) === BYTE_ORDER_MAGIC) blockLe = false;
      else return stop(null, `section header at byte ${at} has no byte-order magic`);
    } else if (blockLe === null) {
      return stop(null, `byte ${at}: a pcapng file starts with a section header block, found type 0x${type.toString(16)}`);
    }
    const length = view.getUint32(at + 4, blockLe!);
    if (length < 12 || length % 4 !== 0) return stop(null, `block at byte ${at}: total length ${length} is not a multiple of 4 of at least 12`);
    if (at + length > buf.length) return stop(length, null);
    const trailer = view.getUint32(at + length - 4, blockLe!);
    if (trailer !== length) return stop(null, `block at byte ${at}: trailer length ${trailer} differs from header length ${length}`);
    le = blockLe;
    at += length;
  }
  return stop(null, null);
}
