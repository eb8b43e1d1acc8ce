import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_BYTES, decodeTag, encodeTag, type WriteTag } from '../capture/decode/tag.js';

test('a tag round-trips, offsets past 4 GiB included', () => {
  const buf = new Uint8Array(40);
  encodeTag(buf, 8, { writeId: 4_000_000_000, length: 65_536, offset: 2 ** 40 + 17 });
  const out: WriteTag = { writeId: -1, length: -1, offset: -1 };
  assert.equal(decodeTag(new DataView(buf.buffer), 8, out), true);
  assert.deepEqual(out, { writeId: 4_000_000_000, length: 65_536, offset: 2 ** 40 + 17 });
  assert.deepEqual([...buf.subarray(8, 12)], [0x41, 0x4b, 0x53, 0x54]);
});

test('no tag: wrong magic, wrong version, too few bytes', () => {
  const buf = new Uint8Array(TAG_BYTES);
  encodeTag(buf, 0, { writeId: 1, length: 24, offset: 0 });
  const out: WriteTag = { writeId: -1, length: -1, offset: -1 };
  assert.equal(decodeTag(new DataView(buf.buffer, 0, TAG_BYTES - 1), 0, out), false);
  const badVersion = buf.slice();
  badVersion[4] = 2;
  assert.equal(decodeTag(new DataView(badVersion.buffer), 0, out), false);
  const badMagic = buf.slice();
  badMagic[0] = 0;
  assert.equal(decodeTag(new DataView(badMagic.buffer), 0, out), false);
  assert.equal(out.writeId, -1, 'out untouched on failure');
});

test('mid-stream: the scanner finds the first whole header, passes over look-alikes, and walks on from it', async () => {
  const { TagScanner } = await import('../capture/flow/tags.js');
  const { offsetShiftFromTags } = await import('../correlate/ordering.js');
  // writes of 100 bytes, each starting with its tag; the capture begins 50 bytes into
  // write 0 (sender offset 1,000,050), so capture offset = sender offset − 1,000,050
  const shift = 1_000_050;
  const stream = new Uint8Array(450);
  for (let k = 1; k <= 4; k++) encodeTag(stream, k * 100 - 50, { writeId: k, length: 100, offset: 1_000_000 + k * 100 });
  // payload of write 0 that merely looks like a header: magic and version, reserved bytes not zero
  encodeTag(stream, 10, { writeId: 99, length: 100, offset: 5 });
  stream[15] = 7;
  const found: { at: number; writeId: number | null; offset: number | null }[] = [];
  const scanner = new TagScanner();
  const view = new DataView(stream.buffer);
  const segment = (start: number, end: number, midStream = true) =>
    scanner.scan({ id: 1 }, 0, start, end, start, view, start, end - start, 0n, (_f, _d, at, tag) => found.push({ at, writeId: tag?.writeId ?? null, offset: tag?.offset ?? null }), midStream);
  segment(0, 120);
  segment(120, 260); // write 3's header starts at 250 and is split across this segment and the next
  segment(260, 450);
  assert.deepEqual(found, [
    { at: 50, writeId: 1, offset: 1_000_100 },
    { at: 150, writeId: 2, offset: 1_000_200 },
    { at: 250, writeId: 3, offset: 1_000_300 },
    { at: 350, writeId: 4, offset: 1_000_400 },
  ]);
  const rows = found.map((f) => ({ streamOff: f.at, writeId: f.writeId, claimedOff: f.offset, claimedLen: 100, tsNs: 0 }));
  assert.equal(offsetShiftFromTags(rows), shift);

  // with the SYN seen the first header is due at offset 0: a stream that starts otherwise is untagged
  const withSyn: unknown[] = [];
  new TagScanner().scan({ id: 1 }, 0, 0, 120, 0, view, 0, 120, 0n, () => withSyn.push(1), false);
  assert.deepEqual(withSyn, []);
});
