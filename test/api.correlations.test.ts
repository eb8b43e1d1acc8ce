import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testApp } from './helpers/app.js';
import { storeMatrix } from './helpers/stores.js';
import { StoredSynthetic } from './helpers/synthetic-store.js';
import { SyntheticSession, at } from '../fixtures/flowbuilder.js';
import { correlateSession } from '../analysis/correlation.js';
import { explainCorrelation } from '../db/correlation-reads.js';
import { ReasonSchema, StageSchema } from '../service/schemas/correlation.js';
import { STAGES, UNKNOWN_REASONS } from '../correlate/types.js';

const A: [string, number] = ['10.0.0.1', 40000];
const B: [string, number] = ['10.0.0.2', 7000];

interface Row {
  writeId: number;
  flowId: number | null;
  stage: string;
  reason: string | null;
  firstWireNs: string | null;
  lastWireNs: string | null;
  ackedNs: string | null;
  sackedNs: string | null;
  retransmitted: boolean;
  gaps: { submitToCompleteNs: string; lastWireMinusCompleteNs: string | null; ackedMinusCompleteNs: string | null };
  tcpInfo: { stage: string; agrees: boolean | null } | null;
  nearBoundary: boolean;
  uncertain: boolean;
  decidingGapNs: string | null;
  bytesReported: number;
  completedNs: string;
}

async function allCorrelations(app: Awaited<ReturnType<typeof testApp>>['app'], sessionId: number, query = ''): Promise<Row[]> {
  const rows: Row[] = [];
  let cursor: string | null = null;
  do {
    const res: { statusCode: number; body: string; json: () => unknown } = await app.inject({ url: `/sessions/${sessionId}/correlations?limit=3${query}${cursor ? `&cursor=${cursor}` : ''}` });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { items: Row[]; nextCursor: string | null };
    rows.push(...body.items);
    cursor = body.nextCursor;
  } while (cursor);
  return rows;
}

const ns = (us: number) => at(us).toString();

/** The tests whose synthetic sessions are written through the store run on both stores (helpers/synthetic-store.ts); the others read SQLite itself. */
const STORES = storeMatrix();

for (const { store, testApp: storeApp } of STORES) test(`[${store}] every stage on a synthetic flow with known answers`, async () => {
  const { app, close } = await storeApp();
  try {
    const stored = new StoredSynthetic(app, 'stages');
    const s = stored.session;
    const f = s.flow({ a: A, b: B, firstUs: 0 });
    const w = (writeId: number, start: number, end: number, submittedUs: number, completedUs: number, extra = {}) =>
      s.completion({ src: A, dst: B, writeId, start, end, submittedUs, completedUs, ...extra });
    // write 0: acked before it completed
    f.segment(50, 0, 1000).ack(80, 1000);
    w(0, 0, 1000, 0, 100);
    // write 1: half on the wire at completion
    f.segment(140, 1000, 1000).segment(160, 2000, 1000).ack(200, 3000);
    w(1, 1000, 3000, 110, 150);
    // write 2: all on the wire, not acked; TCP info agrees
    f.segment(220, 3000, 1000).ack(300, 4000);
    w(2, 3000, 4000, 210, 230, { tcpInfo: { bytesSent: 4000, bytesAcked: 3000 } });
    // write 3: still queued; TCP info says it was handed to IP already (disagreement)
    f.segment(330, 4000, 1000).ack(400, 5000);
    w(3, 4000, 5000, 310, 320, { tcpInfo: { bytesSent: 5000, bytesAcked: 4000 } });
    // write 4: retransmitted; the first transmission is its wire time
    f.segment(420, 5000, 1000).segment(460, 5000, 1000).ack(470, 6000);
    w(4, 5000, 6000, 410, 480);
    // writes 5, 6: 5's segment lost, 6 SACKed at 540 before the cumulative ACK at 600
    f.segment(500, 6000, 1000).segment(501, 7000, 1000).ack(540, 6000, [[7000, 8000]]);
    f.segment(560, 6000, 1000).ack(600, 8000);
    w(5, 6000, 7000, 490, 700);
    w(6, 7000, 8000, 495, 580);
    // writes 7-9: one GSO super-frame carries all three; write 9 completes short
    f.segment(720, 8000, 3000).ack(800, 11000);
    w(7, 8000, 9000, 700, 710);
    w(8, 9000, 10000, 701, 730);
    w(9, 10000, 11000, 702, 810, { bytesReported: 500 });
    // write 10: completes 2 µs after its last byte left: near the boundary (margin 5 µs)
    f.segment(900, 11000, 100).ack(990, 11100);
    w(10, 11000, 11100, 890, 902);
    s.finish();
    const id = await stored.publish();

    const rows = await allCorrelations(app, id);
    assert.equal(rows.length, 11);
    const byWrite = new Map(rows.map((r) => [r.writeId, r]));
    const stage = (id: number) => byWrite.get(id)!.stage;
    assert.deepEqual(
      rows.map((r) => [r.writeId, r.stage]),
      [[0, 'acked'], [1, 'partial-wire'], [2, 'wire'], [3, 'queued'], [4, 'acked'], [6, 'wire'], [5, 'acked'], [7, 'queued'], [8, 'wire'], [9, 'acked'], [10, 'wire']],
      'default order: by completion time',
    );
    assert.equal(stage(5), 'acked', 'its retransmission was acked at 600, before it completed at 700');
    const w0 = byWrite.get(0)!;
    assert.equal(w0.firstWireNs, ns(50));
    assert.equal(w0.ackedNs, ns(80));
    assert.equal(w0.gaps.submitToCompleteNs, '100000');
    assert.equal(w0.gaps.ackedMinusCompleteNs, '-20000');
    assert.equal(w0.gaps.lastWireMinusCompleteNs, '-50000');
    const w1 = byWrite.get(1)!;
    assert.deepEqual([w1.firstWireNs, w1.lastWireNs], [ns(140), ns(160)]);
    const w4 = byWrite.get(4)!;
    assert.equal(w4.lastWireNs, ns(420), 'first transmission wins');
    assert.equal(w4.retransmitted, true);
    assert.equal(byWrite.get(3)!.retransmitted, false);
    assert.equal(byWrite.get(5)!.retransmitted, true);
    assert.equal(byWrite.get(6)!.retransmitted, false);
    assert.equal(byWrite.get(6)!.sackedNs, ns(540));
    assert.equal(byWrite.get(6)!.ackedNs, ns(600));
    assert.equal(byWrite.get(5)!.sackedNs, null);
    for (const id of [7, 8, 9]) assert.equal(byWrite.get(id)!.lastWireNs, ns(720), 'GSO super-frame');
    assert.equal(byWrite.get(8)!.firstWireNs, ns(720));
    assert.deepEqual(byWrite.get(2)!.tcpInfo, { bytesSent: 4000, bytesAcked: 3000, stage: 'wire', agrees: true });
    assert.deepEqual(byWrite.get(3)!.tcpInfo, { bytesSent: 5000, bytesAcked: 4000, stage: 'wire', agrees: false });
    assert.equal(byWrite.get(0)!.tcpInfo, null);
    const w10 = byWrite.get(10)!;
    assert.deepEqual([w10.nearBoundary, w10.decidingGapNs, w10.uncertain], [true, '2000', false]);
    assert.equal(byWrite.get(2)!.nearBoundary, false);

    // filters and sorting
    const wires = await allCorrelations(app, id, '&stage=wire&sort=writeId&order=desc');
    assert.deepEqual(wires.map((r) => r.writeId), [10, 8, 6, 2]);
    const window = await allCorrelations(app, id, `&from=${ns(300)}&to=${ns(600)}`);
    assert.deepEqual(window.map((r) => r.writeId), [3, 4, 6]);
    assert.deepEqual((await allCorrelations(app, id, `&flow=${f.id + 1000}`)).length, 0);

    // summary
    const res = await app.inject({ url: `/sessions/${id}/summary` });
    assert.equal(res.statusCode, 200, res.body);
    const sum = res.json();
    assert.equal(sum.overall.completions, 11);
    assert.deepEqual(
      Object.fromEntries(Object.entries(sum.overall.stages).map(([k, v]) => [k, (v as { count: number }).count])),
      { socket: 0, qdisc: 0, queued: 2, 'partial-wire': 1, wire: 4, acked: 4, unknown: 0 },
    );
    assert.equal(sum.overall.stages.wire.share, 4 / 11);
    assert.equal(sum.overall.retransmitted, 2);
    assert.equal(sum.overall.sackedBeforeAck, 1);
    assert.deepEqual(sum.overall.tcpInfo, { compared: 2, agree: 1, disagree: 1 });
    assert.deepEqual(sum.overall.partial, {
      verdict: 'found',
      completions: 11,
      partial: 1,
      examples: [{ writeId: 9, length: 1000, bytesReported: 500, status: 'ok' }],
    });
    assert.equal(sum.overall.gaps.submitToComplete.count, 11);
    assert.equal(sum.overall.gaps.submitToComplete.max, '210000', 'write 5: 490 → 700 µs');
    assert.equal(sum.overall.nearBoundary, 1);
    assert.equal(sum.flows.length, 1);
    assert.equal(sum.flows[0].flowId, f.id);
    assert.equal(sum.flows[0].flowRetransmits, 2);
    assert.equal(sum.flows[0].ordering.verdict, 'no-tags');
    assert.deepEqual(sum.apis.map((a: { api: string; completions: number }) => [a.api, a.completions]), [['node:socket.write', 11]]);
  } finally {
    await close();
  }
});

for (const { store, testApp: storeApp } of STORES) test(`[${store}] unknown stages name their reason; mid-stream capture aligned by tags; 64-bit offsets; port reuse; drops`, async () => {
  const { app, close } = await storeApp();
  try {
    const stored = new StoredSynthetic(app, 'unknowns');
    const s = stored.session;
    // mid-stream: capture offset 0 is the sender's offset 100_500 (no SYN); a tag tells so
    const C: [string, number] = ['10.0.0.3', 41000];
    const mid = s.flow({ a: C, b: B, firstUs: 10, synSeen: false });
    mid.segment(10, 0, 500).ack(15, 500);
    mid.segment(20, 500, 1000).tag(20, 500, 101, 101_000, 1000).ack(30, 1500);
    s.completion({ src: C, dst: B, writeId: 99, start: 99_000, end: 100_000, submittedUs: 1, completedUs: 8 });
    s.completion({ src: C, dst: B, writeId: 100, start: 100_000, end: 101_000, submittedUs: 2, completedUs: 12 });
    s.completion({ src: C, dst: B, writeId: 101, start: 101_000, end: 102_000, submittedUs: 18, completedUs: 25 });
    // a hole: the capture missed [1000, 2000) but saw what followed
    const D: [string, number] = ['10.0.0.4', 42000];
    const holey = s.flow({ a: D, b: B, firstUs: 0 });
    holey.segment(10, 0, 1000).segment(30, 2000, 1000).ack(60, 3000);
    s.completion({ src: D, dst: B, writeId: 1, start: 1000, end: 2000, submittedUs: 5, completedUs: 20 });
    // past 4 GiB: offsets beyond 2^32 (the raw sequence numbers wrapped)
    const E: [string, number] = ['10.0.0.5', 43000];
    const big = s.flow({ a: E, b: B, firstUs: 0, isn: 2 ** 32 - 10 });
    const G = 2 ** 32;
    big.segment(100, G - 1000, 1000).segment(110, G, 1000).ack(150, G + 1000);
    s.completion({ src: E, dst: B, writeId: 7, start: G - 1000, end: G + 1000, submittedUs: 90, completedUs: 120 });
    // port reuse: the same 4-tuple twice; each write belongs to the connection of its time
    const R: [string, number] = ['10.0.0.6', 44000];
    const first = s.flow({ a: R, b: B, firstUs: 0 });
    first.segment(10, 0, 100).ack(20, 100);
    const second = s.flow({ a: B, b: R, firstUs: 500 }); // seen from the other side first
    second.segment(510, 0, 100, { dir: 1 }).ack(530, 100, undefined, 0);
    s.completion({ src: R, dst: B, writeId: 0, start: 0, end: 100, submittedUs: 5, completedUs: 25 });
    s.completion({ src: R, dst: B, writeId: 1, start: 0, end: 100, submittedUs: 505, completedUs: 520 });
    // no flow at all, and a write after the capture stopped
    s.completion({ src: ['10.9.9.9', 1], dst: B, writeId: 0, start: 0, end: 10, submittedUs: 5, completedUs: 6 });
    s.completion({ src: D, dst: B, writeId: 2, start: 3000, end: 4000, submittedUs: 900, completedUs: 950 });
    s.finish({ startedUs: 0, stoppedUs: 700 });
    const id = await stored.publish();

    const rows = await allCorrelations(app, id);
    const find = (port: number, writeId: number) =>
      rows.find((r) => (r as unknown as { flow: { srcPort: number } }).flow.srcPort === port && r.writeId === writeId)!;
    assert.deepEqual([find(41000, 99).stage, find(41000, 99).reason], ['unknown', 'capture-started-after']);
    assert.deepEqual([find(41000, 100).stage, find(41000, 100).lastWireNs], ['wire', ns(10)]);
    assert.equal(find(41000, 100).firstWireNs, null, 'its first byte left before the capture began');
    const w101 = find(41000, 101);
    assert.deepEqual([w101.stage, w101.firstWireNs, w101.lastWireNs, w101.ackedNs], ['wire', ns(20), ns(20), ns(30)]);
    assert.deepEqual([find(42000, 1).stage, find(42000, 1).reason], ['unknown', 'bytes-not-captured']);
    const wrapped = find(43000, 7);
    assert.deepEqual([wrapped.stage, wrapped.firstWireNs, wrapped.lastWireNs, wrapped.ackedNs], ['wire', ns(100), ns(110), ns(150)]);
    assert.deepEqual([find(44000, 0).flowId, find(44000, 0).stage], [first.id, 'acked']);
    assert.deepEqual([find(44000, 1).flowId, find(44000, 1).stage], [second.id, 'wire']);
    assert.deepEqual([find(1, 0).stage, find(1, 0).reason, find(1, 0).flowId], ['unknown', 'flow-not-found', null]);
    assert.deepEqual([find(42000, 2).stage, find(42000, 2).reason], ['unknown', 'capture-stopped-before']);

    const sum = (await app.inject({ url: `/sessions/${id}/summary` })).json();
    assert.deepEqual(sum.overall.unknownReasons, {
      'capture-started-after': 1,
      'bytes-not-captured': 1,
      'flow-not-found': 1,
      'capture-stopped-before': 1,
    });
    const unmatched = sum.flows.find((f: { flowId: number | null }) => f.flowId === null);
    assert.equal(unmatched.completions, 1);
    assert.equal(sum.flows.find((f: { flowId: number }) => f.flowId === mid.id).ordering.verdict, 'in-order');

    // kernel drops make every "not yet" unknown; an ACK seen before completion still counts
    await app.store.updateSession(id, { pcap_dropped: 3 });
    const dropped = await allCorrelations(app, id);
    const d = (port: number, writeId: number) =>
      dropped.find((r) => (r as unknown as { flow: { srcPort: number } }).flow.srcPort === port && r.writeId === writeId)!;
    assert.deepEqual([d(43000, 7).stage, d(43000, 7).reason], ['unknown', 'kernel-drops'], 'the cache saw the drop counter change');
    assert.equal(d(44000, 0).stage, 'acked');
    const after = (await app.inject({ url: `/sessions/${id}/summary` })).json();
    assert.equal(after.capture.drops.dropped, 3);
  } finally {
    await close();
  }
});

for (const { store, testApp: storeApp } of STORES) test(`[${store}] a partial completion is staged on the bytes it reported, its submitted range kept for the partial verdict`, async () => {
  const { app, close } = await storeApp();
  try {
    const stored = new StoredSynthetic(app, 'partial');
    const s = stored.session;
    const f = s.flow({ a: A, b: B, firstUs: 0 });
    // send(65536) returns 4608 at 100 µs; those 4608 bytes left and were acked inside the
    // call; the rest of the buffer (which the call never accepted) left at 200 µs
    f.segment(20, 0, 4608).ack(50, 4608).segment(200, 4608, 65536 - 4608).ack(300, 65536);
    s.completion({ src: A, dst: B, writeId: 0, start: 0, end: 65536, submittedUs: 10, completedUs: 100, bytesReported: 4608, tcpInfo: { bytesSent: 4608, bytesAcked: 4608 } });
    s.finish();
    const id = await stored.publish();
    const [row] = await allCorrelations(app, id);
    assert.equal(row.stage, 'acked', 'the 4608 bytes the call accepted were acked before it returned');
    assert.equal(row.ackedNs, ns(50));
    assert.equal(row.lastWireNs, ns(20));
    assert.deepEqual([row.tcpInfo?.stage, row.tcpInfo?.agrees], ['acked', true]);
    const full = row as unknown as { offsetStart: number; offsetEnd: number };
    assert.deepEqual([full.offsetStart, full.offsetEnd, row.bytesReported], [0, 65536, 4608], 'the submitted range is kept');
    const sum = (await app.inject({ url: `/sessions/${id}/summary` })).json();
    assert.equal(sum.overall.partial.verdict, 'found');
    assert.deepEqual(sum.overall.partial.examples, [{ writeId: 0, length: 65536, bytesReported: 4608, status: 'ok' }]);
  } finally {
    await close();
  }
});

for (const { store, testApp: storeApp } of STORES) test(`[${store}] one completion far from the capture is refused at ingest; let in on purpose, it is unknown alone; it can be deleted`, async () => {
  const { app, close } = await storeApp();
  try {
    const stored = new StoredSynthetic(app, 'poison');
    const s = stored.session;
    const f = s.flow({ a: A, b: B, firstUs: 0 });
    f.segment(50, 0, 1000).ack(80, 1000).segment(150, 1000, 1000).ack(180, 2000);
    s.finish();
    const id = await stored.publish();
    const flow = { srcAddr: A[0], srcPort: A[1], dstAddr: B[0], dstPort: B[1] };
    const rec = (writeId: number, start: number, submittedNs: string, completedNs: string) => ({
      flow, writeId, offsetStart: start, offsetEnd: start + 1000, submittedNs, completedNs, bytesReported: 1000, api: 'posix:send', buffers: 1, status: 'ok',
    });
    const good = rec(0, 0, ns(10), ns(100));
    const bad = rec(1, 1000, '1', ns(170));
    const refused = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: [good, bad] });
    assert.equal(refused.statusCode, 400, refused.body);
    const err = refused.json().error;
    assert.equal(err.code, 'ACKSCOPE_ERR_COMPLETION_INVALID');
    assert.match(err.message, /^record 1: submittedNs: /, 'names the record and the field');
    assert.ok(err.message.includes(ns(50)) && err.message.includes(ns(180)), `names the session's time span: ${err.message}`);
    assert.match(err.message, /allowFarFromCapture/, 'names the way out for a session without a capture');
    const none = (await app.inject({ url: `/sessions/${id}/completions` })).json();
    assert.equal(none.items.length, 0, 'all or nothing');

    // let in on purpose: the correlation still answers, the bad row alone is unknown
    const forced = await app.inject({ method: 'POST', url: `/sessions/${id}/completions?allowFarFromCapture=true`, payload: [good, bad] });
    assert.equal(forced.statusCode, 200, forced.body);
    const rows = await allCorrelations(app, id, '&sort=writeId');
    assert.deepEqual(rows.map((r) => [r.writeId, r.stage, r.reason]), [[0, 'acked', null], [1, 'unknown', 'time-out-of-range']]);
    for (const url of ['summary', 'export/timeline.json', 'export/timeline.csv', 'export/trace.json']) {
      const res = await app.inject({ url: `/sessions/${id}/${url}` });
      assert.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 300)}`);
    }
    const sum = (await app.inject({ url: `/sessions/${id}/summary` })).json();
    assert.deepEqual(sum.overall.unknownReasons, { 'time-out-of-range': 1 });

    // and it can be removed
    const listed = (await app.inject({ url: `/sessions/${id}/completions` })).json().items as { id: number; writeId: number }[];
    const badId = listed.find((c) => c.writeId === 1)!.id;
    const del = await app.inject({ method: 'DELETE', url: `/sessions/${id}/completions/${badId}` });
    assert.equal(del.statusCode, 204, del.body);
    assert.equal((await app.inject({ method: 'DELETE', url: `/sessions/${id}/completions/${badId}` })).statusCode, 404);
    assert.deepEqual((await allCorrelations(app, id)).map((r) => [r.writeId, r.stage]), [[0, 'acked']]);
    const again = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: [rec(1, 1000, ns(110), ns(170))] });
    assert.equal(again.statusCode, 200, again.body);
    assert.deepEqual((await allCorrelations(app, id, '&sort=writeId')).map((r) => [r.writeId, r.stage]), [[0, 'acked'], [1, 'wire']],
      'a new row after the delete is seen (the cache does not serve the old result)');
  } finally {
    await close();
  }
});

for (const { store, testApp: storeApp } of STORES) test(`[${store}] clock uncertainty: a stage decided by less than the claimed clock error is marked uncertain`, async () => {
  const { app, close } = await storeApp();
  try {
    const stored = new StoredSynthetic(app, 'remote', { clockUncertaintyNs: 50_000n });
    const s = stored.session;
    const f = s.flow({ a: A, b: B });
    f.segment(10, 0, 100).ack(200, 100);
    f.segment(300, 100, 100).ack(310, 200);
    s.completion({ src: A, dst: B, writeId: 0, start: 0, end: 100, submittedUs: 1, completedUs: 40 }); // 30 µs after the wire
    s.completion({ src: A, dst: B, writeId: 1, start: 100, end: 200, submittedUs: 250, completedUs: 500 }); // 190 µs after the ACK
    s.finish();
    const id = await stored.publish();
    const rows = await allCorrelations(app, id, '&sort=writeId');
    assert.deepEqual(rows.map((r) => [r.stage, r.uncertain, r.decidingGapNs]), [['wire', true, '30000'], ['acked', false, '190000']]);
    const sum = (await app.inject({ url: `/sessions/${id}/summary` })).json();
    assert.equal(sum.overall.uncertain, 1);
    assert.equal(sum.clockUncertaintyNs, '50000');
  } finally {
    await close();
  }
});

for (const { store, testApp: storeApp } of STORES) test(`[${store}] ordering verdicts from the tags table: in order, interleaved, reordered`, async () => {
  const { app, close } = await storeApp();
  try {
    const stored = new StoredSynthetic(app, 'tags');
    const s = stored.session;
    const flows: Record<string, number> = {};
    const cases: [string, [number, number | null, number | null, number | null][]][] = [
      ['in-order', [[0, 0, 0, 100], [100, 1, 100, 100], [200, 2, 200, 100]]],
      ['interleaved', [[0, 0, 0, 100], [100, null, null, null], [200, 2, 200, 100]]],
      ['reordered', [[0, 0, 0, 100], [100, 2, 200, 100], [200, 1, 100, 100]]],
    ];
    cases.forEach(([name, tags], i) => {
      const port = 45000 + i;
      const f = s.flow({ a: ['10.0.1.1', port], b: B });
      f.segment(10, 0, 300).ack(20, 300);
      for (const [off, id, claimed, len] of tags) f.tag(10, off, id, claimed, len);
      for (let w = 0; w < 3; w++) {
        s.completion({ src: ['10.0.1.1', port], dst: B, writeId: w, start: w * 100, end: w * 100 + 100, submittedUs: 1 + w, completedUs: 30, api: name });
      }
      flows[name] = f.id;
    });
    s.finish();
    const id = await stored.publish();
    const sum = (await app.inject({ url: `/sessions/${id}/summary` })).json();
    for (const [name] of cases) {
      const flow = sum.flows.find((f: { flowId: number }) => f.flowId === flows[name]);
      assert.equal(flow.ordering.verdict, name);
      assert.equal(sum.apis.find((a: { api: string }) => a.api === name).ordering.verdict, name, 'per api too');
    }
    const re = sum.flows.find((f: { flowId: number }) => f.flowId === flows.reordered).ordering.firstViolation;
    assert.deepEqual([re.kind, re.streamOff, re.writeId], ['reordered', 100, 2]);
    assert.equal(sum.flows.find((f: { flowId: number }) => f.flowId === flows['in-order']).ordering.firstViolation, null);
  } finally {
    await close();
  }
});

for (const { store, testApp: storeApp } of STORES) test(`[${store}] exports: timeline JSON and CSV agree, trace loads as trace-event JSON; errors are JSON`, async () => {
  const { app, close } = await storeApp();
  try {
    const stored = new StoredSynthetic(app, 'exports');
    const s = stored.session;
    const f = s.flow({ a: A, b: B });
    f.segment(10, 0, 100).ack(20, 100).segment(30, 100, 100).ack(40, 200);
    s.completion({ src: A, dst: B, writeId: 0, start: 0, end: 100, submittedUs: 1, completedUs: 25, api: 'posix:send' });
    s.completion({ src: A, dst: B, writeId: 1, start: 100, end: 200, submittedUs: 5, completedUs: 35, api: 'posix:send' });
    s.finish();
    const id = await stored.publish();
    const json = await app.inject({ url: `/sessions/${id}/export/timeline.json` });
    assert.equal(json.statusCode, 200, json.body);
    assert.match(String(json.headers['content-disposition']), /attachment; filename="ackscope-session-\d+-timeline.json"/);
    const items = json.json().items as Row[];
    assert.deepEqual(items.map((r) => [r.writeId, r.stage]), [[0, 'acked'], [1, 'wire']]);

    const csv = await app.inject({ url: `/sessions/${id}/export/timeline.csv` });
    assert.equal(csv.statusCode, 200);
    assert.match(String(csv.headers['content-type']), /^text\/csv/);
    const lines = csv.body.trimEnd().split('\r\n');
    assert.equal(lines.length, 3);
    const header = lines[0].split(',');
    const first = Object.fromEntries(lines[1].split(',').map((v, i) => [header[i], v]));
    assert.equal(first.stage, 'acked');
    assert.equal(first.completedNs, items[0].completedNs);
    assert.equal(first.ackedNs, items[0].ackedNs);

    const trace = await app.inject({ url: `/sessions/${id}/export/trace.json` });
    assert.equal(trace.statusCode, 200);
    const doc = trace.json() as { traceEvents: { ph: string; ts: number; pid: number; tid: number; name: string; dur?: number; args?: { name?: string } }[]; otherData: { baseNs: string } };
    assert.ok(Array.isArray(doc.traceEvents));
    for (const e of doc.traceEvents) for (const k of ['ph', 'ts', 'pid', 'tid', 'name'] as const) assert.ok(e[k] !== undefined, k);
    const proc = doc.traceEvents.filter((e) => e.name === 'process_name');
    assert.equal(proc.length, 1, 'one process for the one flow');
    assert.match(proc[0].args!.name!, /10\.0\.0\.1:40000/);
    const w0 = doc.traceEvents.find((e) => e.ph === 'X' && e.name === 'write 0')!;
    const base = BigInt(doc.otherData.baseNs);
    assert.equal(BigInt(Math.round(w0.ts * 1000)) + base, at(1), 'ts is microseconds after baseNs');
    assert.equal(w0.dur, 24);

    const empty = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'empty', kind: 'import' } })).json();
    const emptySummary = await app.inject({ url: `/sessions/${empty.id}/summary` });
    assert.equal(emptySummary.statusCode, 200, emptySummary.body);
    assert.equal(emptySummary.json().overall.completions, 0);
    assert.equal(emptySummary.json().overall.gaps.submitToComplete.p50, null);
    assert.equal((await app.inject({ url: `/sessions/${empty.id}/export/trace.json` })).json().traceEvents.length, 0);

    const missing = await app.inject({ url: '/sessions/999/summary' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
    const badCursor = await app.inject({ url: `/sessions/${id}/correlations?cursor=zzz` });
    assert.equal(badCursor.statusCode, 400);
    assert.equal(badCursor.json().error.code, 'ACKSCOPE_ERR_VALIDATION');
    const badStage = await app.inject({ url: `/sessions/${id}/correlations?stage=sideways` });
    assert.equal(badStage.statusCode, 400);
  } finally {
    await close();
  }
});

test('every look-up is an index search, never a scan of a table, and the completions need no sort', async () => {
  const { app, close } = await testApp();
  try {
    const plans = explainCorrelation(app.db);
    for (const [name, plan] of Object.entries(plans)) {
      // scanning a subquery's rows (the walk's runs) or a constant row is no table scan
      assert.doesNotMatch(plan, /\bSCAN (?!CONSTANT ROW|\(subquery-\d+\))/, `${name}: ${plan}`);
      assert.match(plan, /SEARCH/, `${name}: ${plan}`);
    }
    assert.match(plans.sentRun, /SEARCH sent_advances USING PRIMARY KEY \(flow_id=\? AND dir=\? AND sent_max>\?\)/);
    assert.match(plans.ackRun, /SEARCH ack_advances USING PRIMARY KEY \(flow_id=\? AND dir=\? AND acked_max>\?\)/);
    for (const name of ['nextUnkeyedPair', 'keyedPairs', 'unkeyedRun', 'keyedRun'] as const) assert.doesNotMatch(plans[name], /TEMP B-TREE/, `${name}: ${plans[name]}`);
    assert.match(plans.unkeyedRun, /completions_unkeyed \(session_id=\? AND src_addr=\? AND src_port=\? AND dst_addr=\? AND dst_port=\? AND write_id>\?\)/);
    assert.match(plans.keyedRun, /\(session_id=\? AND flow_key=\? AND write_id>\?\)/);
    assert.match(plans.firstSent, /sent_advances USING PRIMARY KEY \(flow_id=\? AND dir=\? AND sent_max>\?\)/);
    assert.match(plans.firstAck, /ack_advances USING PRIMARY KEY \(flow_id=\? AND dir=\? AND acked_max>\?\)/);
    assert.match(plans.sacksOfSide, /sacks_by_time \(flow_id=\? AND dir=\?\)/);
    assert.match(plans.retransOfSide, /retransmissions_by_flow \(flow_id=\? AND dir=\?\)/);
    assert.match(plans.firstFrame, /INTEGER PRIMARY KEY/);
  } finally {
    await close();
  }
});

test('the API schema names exactly the stages and reasons the classification uses', () => {
  const literals = (schema: unknown) => (schema as { enum: string[] }).enum;
  assert.deepEqual(literals(StageSchema), [...STAGES]);
  assert.deepEqual(literals(ReasonSchema), [...UNKNOWN_REASONS]);
  assert.deepEqual([...STAGES], ['socket', 'qdisc', 'queued', 'partial-wire', 'wire', 'acked', 'unknown'], 'the ladder of docs/design-notes.md');
});

test('consecutive writes sharing frames reuse the last look-up instead of asking SQLite again', async () => {
  const { app, close } = await testApp();
  try {
    const s = new SyntheticSession(app.db, 'memo');
    const f = s.flow({ a: A, b: B });
    // ten 1000-byte segments, each acked; twenty 500-byte writes, two per segment
    for (let i = 0; i < 10; i++) f.segment(10 + i * 10, i * 1000, 1000).ack(15 + i * 10, (i + 1) * 1000);
    for (let k = 0; k < 20; k++) s.completion({ src: A, dst: B, writeId: k, start: k * 500, end: k * 500 + 500, submittedUs: 1 + k, completedUs: 200 });
    s.finish();
    const c = correlateSession(app.db, s.id, { reads: 'seek' });
    assert.equal(c.records.length, 20);
    assert.ok(c.records.every((r) => r.stage === 'acked'));
    // one first-transmission and one ACK look-up per segment; 3 per write without the memory
    assert.equal(c.stats.queries, 20);
    // the merge walk reads each direction's ten advances in one run
    const walked = correlateSession(app.db, s.id);
    assert.deepEqual(walked.records, c.records);
    assert.equal(walked.stats.queries, 2);
  } finally {
    await close();
  }
});
