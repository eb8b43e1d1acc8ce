/**
 * The write tag: a 24-byte header `ackscope send --tag` (and the C senders) put at the
 * start of every write, so the capture can check that the wire carried each write whole
 * and in posting order. Big-endian, the same for every sender:
 *
 *   0  "AKST" magic        4  version (1)   5..7 reserved (0)
 *   8  writeId  u32       12  length u32 (bytes of the whole write, header included)
 *  16  offset   u64 (stream offset of the write's first byte)
 *
 * Pure functions; no allocation on the decode path.
 */
export const TAG_BYTES = 24;
export const TAG_VERSION = 1;
const MAGIC = 0x414b5354; // "AKST"

export interface WriteTag {
  writeId: number;
  length: number;
  offset: number;
}

/** Writes the header into `out` at `at` (out must have 24 bytes there). */
export function encodeTag(out: Uint8Array, at: number, tag: WriteTag): void {
  const view = new DataView(out.buffer, out.byteOffset + at, TAG_BYTES);
  view.setUint32(0, MAGIC);
  view.setUint8(4, TAG_VERSION);
  view.setUint8(5, 0);
  view.setUint16(6, 0);
  view.setUint32(8, tag.writeId >>> 0);
  view.setUint32(12, tag.length >>> 0);
  view.setBigUint64(16, BigInt(tag.offset));
}

/**
 * Reads a header at `at`; returns false when the bytes there are not a tag (wrong magic
 * or version, or fewer than 24 bytes available). Fills `out` only on success.
 */
export function decodeTag(view: DataView, at: number, out: WriteTag): boolean {
  if (at < 0 || at + TAG_BYTES > view.byteLength) return false;
  if (view.getUint32(at) !== MAGIC || view.getUint8(at + 4) !== TAG_VERSION) return false;
  out.writeId = view.getUint32(at + 8);
  out.length = view.getUint32(at + 12);
  // offsets stay exact as numbers up to 2^53 (docs/design-notes.md)
  out.offset = view.getUint32(at + 16) * 0x1_0000_0000 + view.getUint32(at + 20);
  return true;
}
