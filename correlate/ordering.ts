/**
 * Did the wire carry every tagged write whole and in posting order? Pure: fed with the
 * `tags` rows of one flow direction (write headers found on the wire, first transmission
 * only, a NULL write id where a header was due but absent).
 */
export interface TagRow {
  streamOff: number;
  writeId: number | null;
  claimedOff: number | null;
  claimedLen: number | null;
  tsNs: number;
}

export type OrderingVerdict = 'in-order' | 'interleaved' | 'reordered' | 'no-tags';

export interface OrderingViolation {
  kind: 'interleaved' | 'reordered';
  streamOff: number;
  writeId: number | null;
  tsNs: number;
  message: string;
}

export interface OrderingResult {
  verdict: OrderingVerdict;
  /** Tagged writes seen (rows with a header). */
  writesSeen: number;
  firstViolation: OrderingViolation | null;
}

/**
 * Walks the headers in stream order. Each header must sit where the previous write ended
 * (else bytes of writes are mixed: interleaved), carry the next write id in posting
 * order and claim the offset it was found at (else the writes were reordered).
 * The first violation decides the verdict and is shown.
 */
export function orderingVerdict(tags: readonly TagRow[], knownShift: number | null = null): OrderingResult {
  const rows = [...tags].sort((a, b) => a.streamOff - b.streamOff);
  const writesSeen = rows.filter((r) => r.writeId !== null).length;
  if (writesSeen === 0) return { verdict: 'no-tags', writesSeen, firstViolation: null };
  // Capture offsets equal the sender's when the SYN was seen; mid-stream they differ by
  // a constant that the first header tells.
  const shift = knownShift ?? offsetShiftFromTags(rows) ?? 0;

  let prev: (TagRow & { writeId: number; claimedLen: number }) | null = null;
  for (const row of rows) {
    const violation = checkRow(row, prev, shift);
    if (violation) return { verdict: violation.kind, writesSeen, firstViolation: violation };
    if (row.writeId !== null && row.claimedLen !== null) prev = row as TagRow & { writeId: number; claimedLen: number };
  }
  return { verdict: 'in-order', writesSeen, firstViolation: null };
}

function checkRow(
  row: TagRow,
  prev: (TagRow & { writeId: number; claimedLen: number }) | null,
  shift: number,
): OrderingViolation | null {
  const at = { streamOff: row.streamOff, writeId: row.writeId, tsNs: row.tsNs };
  if (row.writeId === null) {
    const after = prev ? ` after write ${prev.writeId} ended` : '';
    return { kind: 'interleaved', ...at, message: `no write header at offset ${row.streamOff}${after}: bytes of another write continue there` };
  }
  if (prev) {
    const prevEnd = prev.streamOff + prev.claimedLen;
    if (row.streamOff < prevEnd) {
      return {
        kind: 'interleaved',
        ...at,
        message: `write ${row.writeId}'s header at offset ${row.streamOff} lies inside write ${prev.writeId} [${prev.streamOff}, ${prevEnd})`,
      };
    }
    if (row.writeId < prev.writeId) {
      return {
        kind: 'reordered',
        ...at,
        message: `write ${row.writeId} reached the wire after write ${prev.writeId} (posted later)`,
      };
    }
    if (row.writeId > prev.writeId + 1) {
      return {
        kind: 'reordered',
        ...at,
        message: `write ${row.writeId} follows write ${prev.writeId} on the wire; write ${prev.writeId + 1} was posted in between`,
      };
    }
    if (row.streamOff > prevEnd) {
      return {
        kind: 'interleaved',
        ...at,
        message: `${row.streamOff - prevEnd} untagged bytes between write ${prev.writeId} (ends ${prevEnd}) and write ${row.writeId}`,
      };
    }
  }
  const posted = row.claimedOff === null ? null : row.claimedOff - shift;
  if (posted !== null && posted !== row.streamOff) {
    return {
      kind: posted > row.streamOff ? 'reordered' : 'interleaved',
      ...at,
      message: `write ${row.writeId} was posted for offset ${posted} but its header reached the wire at ${row.streamOff}`,
    };
  }
  return null;
}

/**
 * Shift from the sender's stream offsets to the capture's, learnt from a tag: a header
 * claiming offset C found at capture offset S means capture = sender − (C − S). Needed
 * when the capture began mid-stream and offsets count from the first byte seen.
 * null when no tag says.
 */
export function offsetShiftFromTags(tags: readonly TagRow[]): number | null {
  for (const t of tags) if (t.writeId !== null && t.claimedOff !== null) return t.claimedOff - t.streamOff;
  return null;
}
