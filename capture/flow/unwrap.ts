/**
 * 32-bit TCP sequence numbers to 64-bit stream offsets. Offsets are plain numbers: exact
 * up to 2^53 bytes (docs/design-notes.md). Byte 0 is the first payload byte, ISN + 1.
 */
const TWO_32 = 0x1_0000_0000;

/**
 * The stream offset of raw sequence number `seq`, for a direction whose offset 0 is
 * sequence number `base` (ISN + 1), choosing among the candidates 2^32 apart the one
 * nearest `reference` (an offset already known in that direction, e.g. its high-water mark).
 */
export function unwrapOffset(seq: number, base: number, reference: number): number {
  const position = (seq - base) >>> 0; // offset modulo 2^32
  const referenceLow = ((reference % TWO_32) + TWO_32) % TWO_32;
  const delta = (position - referenceLow) | 0; // signed distance, −2^31 … 2^31−1
  return reference + delta;
}
