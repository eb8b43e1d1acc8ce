import assert from 'node:assert/strict';
import type { CompletionInput } from '../../core/completion.js';
import type { TagOnWire } from './wire.js';

/**
 * Checks every C-sender test makes of the records themselves
 * (docs/completions.md), written once so each test reads as its scenario.
 */

/** Field types and value rules of one record, as the contract states them. */
export function assertRecordShape(r: CompletionInput, api: string): void {
  assert.equal(typeof r.flow.srcAddr, 'string');
  assert.ok(Number.isInteger(r.flow.srcPort) && r.flow.srcPort > 0);
  assert.ok(Number.isInteger(r.flow.dstPort) && r.flow.dstPort > 0);
  assert.ok(Number.isSafeInteger(r.writeId) && r.writeId >= 0);
  assert.ok(Number.isSafeInteger(r.offsetStart) && r.offsetEnd >= r.offsetStart);
  // ns are exact decimal strings: never a JSON number that would round
  assert.match(String(r.submittedNs), /^[0-9]{19}$/);
  assert.equal(typeof r.submittedNs, 'string');
  assert.equal(typeof r.completedNs, 'string');
  assert.ok(BigInt(r.completedNs) >= BigInt(r.submittedNs), `writeId ${r.writeId}: completed before submitted`);
  assert.ok(r.bytesReported <= r.offsetEnd - r.offsetStart);
  assert.equal(r.api, api);
  assert.ok(r.buffers >= 1);
  assert.equal(typeof r.status, 'string');
}

/** writeIds 0..n-1 and each call starting where the bytes of the one before ended. */
export function assertContiguous(records: readonly CompletionInput[]): void {
  const byId = [...records].sort((a, b) => a.writeId - b.writeId);
  let next = 0;
  byId.forEach((r, i) => {
    assert.equal(r.writeId, i, 'writeIds are 0..n-1 with no gap');
    assert.equal(r.offsetStart, next, `writeId ${r.writeId} starts where the bytes before it ended`);
    next = r.offsetStart + r.bytesReported;
  });
}

export function isPartial(r: CompletionInput): boolean {
  return r.bytesReported < r.offsetEnd - r.offsetStart;
}

/** Posting index of the write a record's call belongs to (its tag's writeId). */
export function writeIndexOf(r: CompletionInput): number {
  const message = (r.extra as { message?: unknown } | undefined)?.message;
  return typeof message === 'number' ? message : r.writeId;
}

/** The lengths of `count` writes that cycle through `sizes` (how the senders' --size list is used). */
export function cycledWriteSizes(count: number, sizes: readonly number[]): number[] {
  return Array.from({ length: count }, (_, i) => sizes[i % sizes.length]);
}

/**
 * The tags on the wire against the records: one tag per write, writes in posting order
 * (tag writeIds 0, 1, 2, ...), each found at the offset it claims with its write's
 * length, and each where the first call of that write started.
 */
export function assertTagsMatchRecords(
  tags: readonly TagOnWire[],
  records: readonly CompletionInput[],
  writeSizes: readonly number[],
): void {
  assert.equal(tags.length, writeSizes.length, 'one tag on the wire per write');
  const firstCallAt = new Map<number, number>();
  for (const r of [...records].sort((a, b) => a.writeId - b.writeId)) {
    if (!firstCallAt.has(writeIndexOf(r))) firstCallAt.set(writeIndexOf(r), r.offsetStart);
  }
  tags.forEach((tag, i) => {
    assert.equal(tag.writeId, i, `tag ${i} in posting order`);
    assert.equal(tag.offset, tag.at, `tag ${i} found at the offset it claims`);
    assert.equal(tag.length, writeSizes[i], `tag ${i} carries its write's length`);
    assert.equal(firstCallAt.get(i), tag.at, `write ${i}'s first call starts where its tag is`);
  });
}
