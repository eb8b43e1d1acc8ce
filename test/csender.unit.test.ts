import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cSenderArgs, parseTotals, wineDrivePath } from '../sender/c/run.js';
import { encodeTag, TAG_BYTES } from '../capture/decode/tag.js';
import { walkTags } from './helpers/wire.js';

/** The pure parts around the C senders, and the wire check the live tests rely on. */

test('cSenderArgs spells every option the C senders take, and only those given', () => {
  assert.deepEqual(cSenderArgs({ kind: 'posix', target: '10.0.0.2:7000', count: 5, size: 100, mode: 'serial' }, 'out.ndjson'), [
    '10.0.0.2:7000', '--count', '5', '--size', '100', '--mode', 'serial', '--out', 'out.ndjson',
  ]);
  assert.deepEqual(
    cSenderArgs(
      { kind: 'winsock', target: '[::1]:9', count: 2, size: [1, 2], mode: 'overlapped', window: 4, buffers: 3, sndbuf: 0, nodelay: true, tag: true },
      'Z:\\tmp\\o',
    ),
    ['[::1]:9', '--count', '2', '--size', '1,2', '--mode', 'overlapped', '--window', '4', '--buffers', '3', '--sndbuf', '0', '--nodelay', '--tag', '--out', 'Z:\\tmp\\o'],
  );
});

test('parseTotals reads the summary line and nothing else', () => {
  assert.deepEqual(parseTotals('ackscope-send-posix: records=12 bytes=3000 partial=2 errors=1\n'), {
    records: 12, bytes: 3000, partial: 2, errors: 1,
  });
  assert.equal(parseTotals('ackscope-send-posix: connect 127.0.0.1:1: Connection refused\n'), null);
});

test("wineDrivePath names a Unix path through Wine's Z: drive", () => {
  assert.equal(wineDrivePath('/tmp/ackscope-x/completions.ndjson'), 'Z:\\tmp\\ackscope-x\\completions.ndjson');
});

function stream(writes: { writeId: number; length: number; offset: number }[], order: number[]): Buffer {
  const parts = order.map((i) => {
    const w = writes[i];
    const b = Buffer.alloc(w.length, 0x61);
    encodeTag(b, 0, w);
    return b;
  });
  return Buffer.concat(parts);
}

test('walkTags follows writes header to header, and stops where one is torn or missing', () => {
  const writes = [
    { writeId: 0, length: 100, offset: 0 },
    { writeId: 1, length: 50, offset: 100 },
    { writeId: 2, length: 80, offset: 150 },
  ];
  const whole = walkTags(stream(writes, [0, 1, 2]));
  assert.equal(whole.brokenAt, null);
  assert.deepEqual(whole.tags.map((t) => [t.writeId, t.at, t.offset]), [[0, 0, 0], [1, 100, 100], [2, 150, 150]]);

  // reordered writes still walk (each is whole) but claim offsets they were not found at
  const reordered = walkTags(stream(writes, [0, 2, 1]));
  assert.equal(reordered.brokenAt, null);
  assert.notEqual(reordered.tags[1].offset, reordered.tags[1].at);

  // a write cut short: the next header is not where its predecessor said it would be
  const torn = Buffer.concat([stream(writes, [0]).subarray(0, 60), stream(writes, [1, 2])]);
  const walk = walkTags(torn);
  assert.equal(walk.tags.length, 1);
  assert.equal(walk.brokenAt, 100);
  assert.ok(TAG_BYTES === 24);
});
