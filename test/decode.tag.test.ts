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
