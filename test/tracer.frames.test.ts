import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TracerError } from '../tracer/errors.js';
import { parseTracerLine } from '../tracer/events.js';
import {
  CALL_FRAME_BYTES,
  FLOW_FRAME_BYTES,
  FRAME_CALL,
  FRAME_FLOW,
  FRAME_MOMENT,
  FRAME_TEXT,
  MOMENT_FRAME_BYTES,
  TracerFrameDecoder,
} from '../tracer/frames.js';

/**
 * The binary event stream's decoder (pure). Frames are laid out here by hand from
 * tracer/src/frames.h; that the tracer's own frames decode to the same events as its NDJSON
 * lines is tested live (test/tracer.live.test.ts, two tracers on one program).
 */

function frame(kind: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(kind, 0);
  h.writeUInt32LE(payload.length, 4);
  return Buffer.concat([h, payload]);
}
const text = (line: string) => frame(FRAME_TEXT, Buffer.from(line, 'utf8'));

function flowFrame(flowId: number, src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  const b = Buffer.alloc(FLOW_FRAME_BYTES);
  b.writeUInt32LE(flowId, 0);
  b.writeUInt16LE(srcPort, 4);
  b.writeUInt16LE(dstPort, 6);
  b.write(src, 8, 'latin1');
  b.write(dst, 8 + 46, 'latin1');
  return frame(FRAME_FLOW, b);
}

interface CallFields {
  enterNs: bigint; exitNs: bigint; offsetStart: number; offsetEnd: number; requested: number; bytes: number; returned: bigint;
  pid: number; tid: number; fd: number; flowId: number; seqStart: number; seqEnd: number; buffers: number; messages: number;
  nr: number; basis: number; interleaved: number;
}
function callFrame(c: CallFields): Buffer {
  const b = Buffer.alloc(CALL_FRAME_BYTES);
  b.writeBigUInt64LE(c.enterNs, 0);
  b.writeBigUInt64LE(c.exitNs, 8);
  b.writeBigUInt64LE(BigInt(c.offsetStart), 16);
  b.writeBigUInt64LE(BigInt(c.offsetEnd), 24);
  b.writeBigUInt64LE(BigInt(c.requested), 32);
  b.writeBigUInt64LE(BigInt(c.bytes), 40);
  b.writeBigInt64LE(c.returned, 48);
  b.writeUInt32LE(c.pid, 56);
  b.writeUInt32LE(c.tid, 60);
  b.writeInt32LE(c.fd, 64);
  b.writeUInt32LE(c.flowId, 68);
  b.writeUInt32LE(c.seqStart, 72);
  b.writeUInt32LE(c.seqEnd, 76);
  b.writeUInt32LE(c.buffers, 80);
  b.writeUInt32LE(c.messages, 84);
  b.writeUInt16LE(c.nr, 88);
  b.writeUInt8(c.basis, 90);
  b.writeUInt8(c.interleaved, 91);
  return frame(FRAME_CALL, b);
}
function momentFrame(m: { ns: bigint; offsetStart: number; offsetEnd: number; flowId: number; seq: number; endSeq: number; cpu: number; moment: number; fin: number }): Buffer {
  const b = Buffer.alloc(MOMENT_FRAME_BYTES);
  b.writeBigUInt64LE(m.ns, 0);
  b.writeBigUInt64LE(BigInt(m.offsetStart), 8);
  b.writeBigUInt64LE(BigInt(m.offsetEnd), 16);
  b.writeUInt32LE(m.flowId, 24);
  b.writeUInt32LE(m.seq, 28);
  b.writeUInt32LE(m.endSeq, 32);
  b.writeUInt32LE(m.cpu, 36);
  b.writeUInt8(m.moment, 40);
  b.writeUInt8(m.fin, 41);
  return frame(FRAME_MOMENT, b);
}

const START = '{"type":"start","mode":"command","pid":7003,"cgroupId":0,"followChildren":true,"clockOffsetNs":"1796603250573992827","clockWindowNs":44,"ns":"1796603531070094466"}';
const FAILED = '{"type":"call","pid":7003,"tid":7003,"syscall":"write","api":"linux:write","fd":3,"flow":{"srcAddr":"::1","srcPort":46614,"dstAddr":"::1","dstPort":9100},"flowId":2,"seqStart":5,"seqEnd":5,"offsetStart":0,"offsetEnd":0,"requested":10,"returned":-32,"bytes":0,"buffers":1,"messages":1,"errno":"EPIPE","enterNs":"1796603531217861751","exitNs":"1796603531217963128","offsetBasis":"established","interleaved":false}';
const STATS = '{"type":"stats","final":true,"lost":3,"callsSeen":34,"calls":5,"callsNotTcp":29,"uncovered":0,"sendsOutsideSyscall":0,"moments":25,"momentsWithoutAnchor":0,"inflightFull":0,"events":30,"clockOffsetNs":"1796603250573992827","clockWindowNs":44,"ns":"1796603531432588467"}';

const CALL: CallFields = {
  enterNs: 1_796_603_531_217_861_751n, exitNs: 1_796_603_531_217_963_128n, offsetStart: 5_000_000_000, offsetEnd: 5_000_016_384,
  requested: 16384, bytes: 16384, returned: 16384n, pid: 7003, tid: 7004, fd: 3, flowId: 1, seqStart: 4_294_967_000, seqEnd: 16088,
  buffers: 1, messages: 1, nr: 44, basis: 1, interleaved: 1,
};

function stream(): Buffer {
  return Buffer.concat([
    text(START),
    flowFrame(1, '127.0.0.1', 46614, '127.0.0.2', 9100),
    callFrame(CALL),
    momentFrame({ ns: 1_796_603_531_217_921_502n, offsetStart: 5_000_000_000, offsetEnd: 5_000_016_384, flowId: 1, seq: 4_294_967_000, endSeq: 16088, cpu: 1, moment: 3, fin: 1 }),
    momentFrame({ ns: 1_796_603_531_217_933_388n, offsetStart: 0, offsetEnd: 5_000_016_384, flowId: 1, seq: 16088, endSeq: 16088, cpu: 0, moment: 5, fin: 0 }),
    text(FAILED),
    text(STATS),
  ]);
}

const EXPECTED = [
  parseTracerLine(START),
  {
    type: 'call', pid: 7003, tid: 7004, syscall: 'sendto', api: 'linux:sendto', fd: 3,
    flow: { srcAddr: '127.0.0.1', srcPort: 46614, dstAddr: '127.0.0.2', dstPort: 9100 }, flowId: 1,
    seqStart: 4_294_967_000, seqEnd: 16088, offsetStart: 5_000_000_000, offsetEnd: 5_000_016_384, requested: 16384,
    returned: 16384, bytes: 16384, buffers: 1, messages: 1, errno: null, enterNs: '1796603531217861751',
    exitNs: '1796603531217963128', offsetBasis: 'listener', interleaved: true,
  },
  {
    type: 'moment', moment: 'driver', flowId: 1, flow: { srcAddr: '127.0.0.1', srcPort: 46614, dstAddr: '127.0.0.2', dstPort: 9100 },
    seq: 4_294_967_000, endSeq: 16088, offsetStart: 5_000_000_000, offsetEnd: 5_000_016_384, fin: true, cpu: 1, ns: '1796603531217921502',
  },
  {
    type: 'moment', moment: 'ack-processed', flowId: 1, flow: { srcAddr: '127.0.0.1', srcPort: 46614, dstAddr: '127.0.0.2', dstPort: 9100 },
    ackSeq: 16088, ackOffset: 5_000_016_384, cpu: 0, ns: '1796603531217933388',
  },
  parseTracerLine(FAILED),
  parseTracerLine(STATS),
];

test('binary frames decode to the events the NDJSON lines carry; text frames are the lines themselves', () => {
  const d = new TracerFrameDecoder();
  assert.deepEqual(d.push(stream()), EXPECTED);
  d.end();
});

test('a frame split anywhere across chunks decodes the same', () => {
  const all = stream();
  for (let cut = 1; cut < all.length; cut++) {
    const d = new TracerFrameDecoder();
    const got = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
    d.end();
    assert.deepEqual(got, EXPECTED, `cut at byte ${cut}`);
  }
  const d = new TracerFrameDecoder();
  const got = [];
  for (let i = 0; i < all.length; i++) got.push(...d.push(all.subarray(i, i + 1)));
  assert.deepEqual(got, EXPECTED, 'one byte at a time');
});

test('a malformed stream is a TracerError naming what is wrong, never a guessed event', () => {
  const flow = flowFrame(1, '127.0.0.1', 1, '127.0.0.1', 2);
  const cases: [Buffer, string][] = [
    [frame(9, Buffer.alloc(4)), '(frame)'],
    [frame(FRAME_CALL, Buffer.alloc(CALL_FRAME_BYTES - 1)), '(frame)'],
    [callFrame(CALL), 'flow'], // no flow frame before it
    [Buffer.concat([flow, callFrame({ ...CALL, offsetEnd: CALL.offsetStart - 1 })]), 'offsetEnd'],
    [Buffer.concat([flow, callFrame({ ...CALL, exitNs: CALL.enterNs - 1n })]), 'exitNs'],
    [Buffer.concat([flow, callFrame({ ...CALL, nr: 0 })]), 'syscall'],
    [Buffer.concat([flow, callFrame({ ...CALL, pid: 0 })]), 'pid'],
    [Buffer.concat([flow, callFrame({ ...CALL, offsetEnd: 2 ** 53 })]), 'offsetEnd'],
    [Buffer.concat([flow, momentFrame({ ns: 1n, offsetStart: 0, offsetEnd: 1, flowId: 1, seq: 0, endSeq: 1, cpu: 0, moment: 7, fin: 0 })]), 'moment'],
    [text('{"type":"call"}'), 'offsetStart'],
  ];
  for (const [bytes, field] of cases) {
    assert.throws(() => new TracerFrameDecoder().push(bytes), (err: unknown) => {
      assert.ok(err instanceof TracerError);
      assert.equal(err.code, 'ACKSCOPE_ERR_TRACER_EVENT');
      assert.equal(err.details?.field, field);
      return true;
    }, field);
  }
  const d = new TracerFrameDecoder();
  d.push(stream().subarray(0, 20));
  assert.throws(() => d.end(), (err: unknown) => err instanceof TracerError && err.details?.field === '(frame)');
});
