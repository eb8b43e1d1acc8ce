import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testApp } from './helpers/app.js';
import { ipv4Tcp, sackOption, concat, type TcpSpec } from './helpers/packets.js';
import { FrameWriter } from '../db/frame-writer.js';
import { LINKTYPE_RAW } from '../capture/decode/linktypes.js';
import { encodeTag, TAG_BYTES } from '../capture/decode/tag.js';
import { createSession } from '../db/sessions.js';
import type { Db } from '../db/connection.js';

/**
 * The correlation fed by the real capture path: hand-built TCP packets go through
 * FrameWriter (decode, flow tracking, unwrapping, tags) into
 * SQLite, completions are posted through the API, and the stages are read back.
 */
const T0 = 1_764_061_234_000_000_000n;
const at = (us: number) => T0 + BigInt(us * 1000);
const CLIENT = { src: '10.0.0.1', dst: '10.0.0.2', sport: 40000, dport: 7000 };
const SERVER = { src: '10.0.0.2', dst: '10.0.0.1', sport: 7000, dport: 40000 };

class Capture {
  readonly writer: FrameWriter;
  constructor(db: Db, readonly sessionId: number) {
    this.writer = new FrameWriter(db, sessionId);
  }
  frame(us: number, spec: TcpSpec): this {
    const bytes = ipv4Tcp(spec);
    this.writer.addFrame(LINKTYPE_RAW, at(us), bytes.length, bytes.length, bytes);
    return this;
  }
  finish(): void {
    this.writer.finish();
  }
}

function completion(writeId: number, start: number, end: number, submittedUs: number, completedUs: number, over: object = {}) {
  return {
    flow: { srcAddr: CLIENT.src, srcPort: CLIENT.sport, dstAddr: CLIENT.dst, dstPort: CLIENT.dport },
    writeId,
    offsetStart: start,
    offsetEnd: end,
    submittedNs: at(submittedUs).toString(),
    completedNs: at(completedUs).toString(),
    bytesReported: end - start,
    api: 'posix:send',
    buffers: 1,
    status: 'ok',
    ...over,
  };
}

async function post(app: Awaited<ReturnType<typeof testApp>>['app'], sessionId: number, records: object[]) {
  const res = await app.inject({ method: 'POST', url: `/sessions/${sessionId}/completions`, payload: records });
  assert.ok(res.statusCode < 300, res.body);
}

async function stages(app: Awaited<ReturnType<typeof testApp>>['app'], sessionId: number) {
  const res = await app.inject({ url: `/sessions/${sessionId}/correlations?sort=writeId&limit=1000` });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { items: Record<string, unknown>[] }).items;
}

test('captured frames: sequence wrap-around, GSO super-frame, retransmission, SACK before ACK, queued, capture stopped', async () => {
  const { app, close } = await testApp();
  try {
    const sessionId = createSession(app.db, { name: 'wrap', kind: 'import' }).id;
    const isn = 2 ** 32 - 1000; // the client's sequence numbers wrap inside write 0
    const sisn = 77;
    const c = new Capture(app.db, sessionId);
    const data = (us: number, off: number, len: number) =>
      c.frame(us, { ...CLIENT, seq: (isn + 1 + off) % 2 ** 32, ack: sisn + 1, flags: 'PA', payload: new Uint8Array(len) });
    const ack = (us: number, off: number, sacks?: [number, number][]) =>
      c.frame(us, {
        ...SERVER,
        seq: sisn + 1,
        ack: (isn + 1 + off) % 2 ** 32,
        flags: 'A',
        options: sacks ? concat(new Uint8Array([1, 1]), sackOption(sacks.map(([l, r]) => [(isn + 1 + l) % 2 ** 32, (isn + 1 + r) % 2 ** 32]))) : undefined,
      });
    c.frame(0, { ...CLIENT, seq: isn, flags: 'S' });
    c.frame(1, { ...SERVER, seq: sisn, ack: isn + 1, flags: 'SA' });
    c.frame(2, { ...CLIENT, seq: isn + 1, ack: sisn + 1, flags: 'A' });
    data(10, 0, 3000); // one GSO super-frame: writes 0 and 1, across the wrap
    data(15, 3000, 1000); // write 2, lost on the way
    data(16, 4000, 1000); // write 3
    ack(20, 3000, [[4000, 5000]]); // write 3 SACKed, write 2 not yet acked
    data(25, 3000, 1000); // write 2 retransmitted
    ack(30, 5000);
    data(40, 5000, 1000); // write 4 leaves after its completion
    ack(45, 6000);
    c.finish();
    await post(app, sessionId, [
      completion(0, 0, 1000, 5, 12),
      completion(1, 1000, 3000, 6, 22),
      completion(2, 3000, 4000, 13, 28),
      completion(3, 4000, 5000, 14, 24),
      completion(4, 5000, 6000, 31, 35),
      completion(5, 6000, 7000, 41, 60), // never sent while the capture ran (it ended at 45)
    ]);
    const rows = await stages(app, sessionId);
    const view = rows.map((r) => [r.writeId, r.stage, r.reason]);
    assert.deepEqual(view, [
      [0, 'wire', null],
      [1, 'acked', null],
      [2, 'wire', null],
      [3, 'wire', null],
      [4, 'queued', null],
      [5, 'unknown', 'capture-stopped-before'],
    ]);
    assert.equal(rows[0].lastWireNs, at(10).toString(), 'the super-frame carried write 0 past the wrap');
    assert.equal(rows[1].firstWireNs, at(10).toString());
    assert.equal(rows[1].ackedNs, at(20).toString());
    assert.equal(rows[2].lastWireNs, at(15).toString(), 'first transmission wins over the retransmission at 25');
    assert.equal(rows[2].retransmitted, true);
    assert.equal(rows[2].sackedNs, null);
    assert.equal(rows[3].retransmitted, false);
    assert.equal(rows[3].sackedNs, at(20).toString(), 'SACKed at 20, cumulatively acked at 30');
    assert.equal(rows[3].ackedNs, at(30).toString());
    assert.equal(rows[4].firstWireNs, at(40).toString());
  } finally {
    await close();
  }
});

test('captured frames: a connection captured mid-stream, and a reused port', async () => {
  const { app, close } = await testApp();
  try {
    const sessionId = createSession(app.db, { name: 'mid', kind: 'import' }).id;
    const c = new Capture(app.db, sessionId);
    // mid-stream: no SYN, so capture offsets count from the first byte seen, which the
    // completions' offsets cannot be placed against
    const mid = { ...CLIENT, sport: 41000 };
    c.frame(10, { ...mid, seq: 500_000, ack: 9, flags: 'PA', payload: new Uint8Array(100) });
    c.frame(12, { ...mid, src: CLIENT.dst, dst: CLIENT.src, sport: 7000, dport: 41000, seq: 9, ack: 500_100, flags: 'A' });
    // port reuse: two connections on one 4-tuple, told apart by time
    const reuse = { ...CLIENT, sport: 42000 };
    const back = { ...SERVER, dport: 42000 };
    for (const [t0, isn] of [[100, 1000], [300, 900_000]]) {
      c.frame(t0, { ...reuse, seq: isn, flags: 'S' });
      c.frame(t0 + 1, { ...back, seq: 5, ack: isn + 1, flags: 'SA' });
      c.frame(t0 + 2, { ...reuse, seq: isn + 1, ack: 6, flags: 'A' });
      c.frame(t0 + 10, { ...reuse, seq: isn + 1, ack: 6, flags: 'PA', payload: new Uint8Array(100) });
      c.frame(t0 + 20, { ...back, seq: 6, ack: isn + 101, flags: 'A' });
      c.frame(t0 + 30, { ...reuse, seq: isn + 101, ack: 6, flags: 'FA' });
    }
    c.finish();
    const flow = (port: number) => ({ flow: { srcAddr: CLIENT.src, srcPort: port, dstAddr: CLIENT.dst, dstPort: 7000 } });
    await post(app, sessionId, [
      completion(7, 700, 800, 5, 15, flow(41000)),
      completion(0, 0, 100, 105, 115, flow(42000)),
      completion(1, 0, 100, 305, 325, flow(42000)),
    ]);
    const rows = await stages(app, sessionId);
    const flows = (await app.inject({ url: `/sessions/${sessionId}/summary` })).json().flows as { flowId: number; endpoints: string }[];
    assert.equal(flows.filter((f) => f.endpoints?.includes(':42000')).length, 2, 'two flows for the reused port');
    const byPort = (port: number, id: number) => rows.find((r) => (r.flow as { srcPort: number }).srcPort === port && r.writeId === id)!;
    assert.deepEqual([byPort(41000, 7).stage, byPort(41000, 7).reason], ['unknown', 'capture-started-after']);
    const first = byPort(42000, 0);
    const second = byPort(42000, 1);
    assert.notEqual(first.flowId, second.flowId);
    assert.deepEqual([first.stage, first.lastWireNs], ['wire', at(110).toString()]);
    assert.deepEqual([second.stage, second.lastWireNs, second.ackedNs], ['acked', at(310).toString(), at(320).toString()]);
  } finally {
    await close();
  }
});

test('captured write tags: ordering verdicts in order, interleaved, reordered', async () => {
  const { app, close } = await testApp();
  try {
    const sessionId = createSession(app.db, { name: 'tags', kind: 'import' }).id;
    const c = new Capture(app.db, sessionId);
    const write = (writeId: number, offset: number, length: number) => {
      const bytes = new Uint8Array(length).fill(0x61 + writeId);
      encodeTag(bytes, 0, { writeId, length, offset });
      return bytes;
    };
    // each case: the bytes the wire carried, in order
    const w0 = write(0, 0, 100);
    const w1 = write(1, 100, 100);
    const cases: [string, number, Uint8Array[]][] = [
      ['in-order', 43000, [w0, w1]],
      ['interleaved', 43001, [w0.subarray(0, 50), w1, w0.subarray(50)]],
      ['reordered', 43002, [w1, w0]],
    ];
    assert.ok(TAG_BYTES < 50);
    for (const [, port, pieces] of cases) {
      const me = { ...CLIENT, sport: port };
      const peer = { ...SERVER, dport: port };
      c.frame(0, { ...me, seq: 10, flags: 'S' });
      c.frame(1, { ...peer, seq: 20, ack: 11, flags: 'SA' });
      let off = 0;
      pieces.forEach((p, i) => {
        c.frame(10 + i, { ...me, seq: 11 + off, ack: 21, flags: 'PA', payload: p });
        off += p.length;
      });
      c.frame(20, { ...peer, seq: 21, ack: 11 + off, flags: 'A' });
    }
    c.finish();
    const records = cases.flatMap(([, port]) => [
      completion(0, 0, 100, 1, 30, { flow: { srcAddr: CLIENT.src, srcPort: port, dstAddr: CLIENT.dst, dstPort: 7000 } }),
      completion(1, 100, 200, 2, 30, { flow: { srcAddr: CLIENT.src, srcPort: port, dstAddr: CLIENT.dst, dstPort: 7000 } }),
    ]);
    await post(app, sessionId, records);
    const summary = (await app.inject({ url: `/sessions/${sessionId}/summary` })).json();
    for (const [verdict, port] of cases) {
      const flow = summary.flows.find((f: { endpoints: string }) => f.endpoints.includes(`:${port} `));
      assert.equal(flow.ordering.verdict, verdict, `${port}: ${JSON.stringify(flow.ordering)}`);
      if (verdict !== 'in-order') assert.ok(flow.ordering.firstViolation.message.length > 0);
    }
    assert.equal(summary.apis[0].ordering.verdict, 'reordered', 'per api: the worst of its flows');
  } finally {
    await close();
  }
});
