// Which prefix of a pcapng stream is whole blocks: for a capture file whose writer was
// killed mid-write. The whole file is written by ackscope's pcapng writer and read back by
// tshark (the witness) after the cut.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PcapngWriter } from '../capture/pcap/pcapng-writer.js';
import { walkCompleteBlocks } from '../capture/pcap/pcapng-blocks.js';
import { trimTornPcapng } from '../recording/capture-file-repair.js';
import { tempDir } from './helpers/app.js';

function sample(packets: number): { bytes: Buffer; blockEnds: number[] } {
  const chunks: Buffer[] = [];
  const blockEnds: number[] = [];
  let total = 0;
  const w = new PcapngWriter((b) => {
    chunks.push(Buffer.from(b));
    total += b.length;
  });
  w.flush();
  blockEnds.push(total); // section header
  const ifId = w.addInterface({ linkType: 1, snaplen: 65535, name: 'lo' });
  w.flush();
  blockEnds.push(total);
  for (let i = 0; i < packets; i++) {
    const frame = Buffer.alloc(60 + i * 7, i);
    w.writePacket(ifId, 1_700_000_000_000_000_000n + BigInt(i), frame, 0, frame.length, frame.length);
    w.flush();
    blockEnds.push(total);
  }
  w.close();
  return { bytes: Buffer.concat(chunks), blockEnds };
}

test('every cut keeps exactly the whole blocks before it (pure)', () => {
  const { bytes, blockEnds } = sample(5);
  assert.equal(walkCompleteBlocks(bytes, null).complete, bytes.length);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const expected = Math.max(0, ...blockEnds.filter((e) => e <= cut));
    const walk = walkCompleteBlocks(bytes.subarray(0, cut), null);
    assert.equal(walk.complete, expected, `cut at ${cut}`);
    assert.equal(walk.malformed, null);
  }
});

test('a block whose trailer disagrees, or a file not starting with a section header, stops the walk with the reason', () => {
  const { bytes, blockEnds } = sample(3);
  const bad = Buffer.from(bytes);
  bad.writeUInt32LE(0xdead0, blockEnds[2] - 4); // trailer of the first packet block
  const walk = walkCompleteBlocks(bad, null);
  assert.equal(walk.complete, blockEnds[1]);
  assert.match(walk.malformed!, new RegExp(`trailer length ${0xdead0} differs from header length`));
  assert.match(walkCompleteBlocks(bytes.subarray(blockEnds[0]), null).malformed!, /starts with a section header/);
});

test('a big-endian section is walked in its own byte order', () => {
  // SHB, big-endian, 28 bytes: type, length, magic, major 1, minor 0, section length -1, length
  const shb = Buffer.alloc(28);
  shb.writeUInt32BE(0x0a0d0d0a, 0);
  shb.writeUInt32BE(28, 4);
  shb.writeUInt32BE(0x1a2b3c4d, 8);
  shb.writeUInt16BE(1, 12);
  shb.writeBigInt64BE(-1n, 16);
  shb.writeUInt32BE(28, 24);
  const walk = walkCompleteBlocks(Buffer.concat([shb, shb.subarray(0, 20)]), null);
  assert.deepEqual(walk, { complete: 28, littleEndian: false, need: 28, malformed: null });
});

test('trimTornPcapng cuts a torn file back to whole blocks and tshark reads every packet', () => {
  const t = tempDir();
  try {
    const { bytes, blockEnds } = sample(50);
    const file = join(t.dir, 'capture.pcapng');
    writeFileSync(file, bytes.subarray(0, blockEnds[40] + 33));
    assert.deepEqual(trimTornPcapng(file), { keptBytes: blockEnds[40], cutBytes: 33 });
    const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' });
    assert.equal(out.trim().split('\n').length, 39, 'section + interface + 39 packet blocks');
    assert.deepEqual(trimTornPcapng(file), { keptBytes: blockEnds[40], cutBytes: 0 }, 'a whole file is left as it is');
    assert.equal(trimTornPcapng(join(t.dir, 'none.pcapng')), null);
  } finally {
    t.cleanup();
  }
});
