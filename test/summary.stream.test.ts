/**
 * The streamed summary (correlate/summary-stream.ts over analysis/correlation.ts
 * `correlateEach`) against the reference, `summariseSession` over the whole array of
 * records: percentiles within the bound the streamed summary states (it keeps sketches,
 * not every gap), everything else deep-equal, on synthetic sessions with several flows and apis, partial writes,
 * kernel witness rows, write tags and completions of no captured flow, and on a real
 * loopback capture taken by tcpdump and imported. Then the desk: a capturing session's
 * summary is streamed and leaves no full correlation behind; a stopped one's is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase, type Db } from '../db/connection.js';
import { updateSession } from '../db/sessions.js';
import { storeKernelWitnesses } from '../db/kernel-witness.js';
import { correlateEach, correlateSession, currentCorrelation } from '../analysis/correlation.js';
import { CorrelationDesk } from '../analysis/correlation-desk.js';
import { summariseSession, type SessionSummaryData } from '../correlate/summary.js';
import { SessionSummaryFold, summariseHeld } from '../correlate/summary-stream.js';
import { SKETCH_RELATIVE_ERROR } from '../correlate/quantile-sketch.js';
import { SyntheticSession, T0 } from '../fixtures/flowbuilder.js';
import { startReceiver } from '../sender/receiver.js';
import { testApp, tempDir } from './helpers/app.js';
import { startTcpdump } from './helpers/wire.js';

const run = promisify(execFile);

function streamed(db: Db, sessionId: number): SessionSummaryData {
  const fold = new SessionSummaryFold();
  const head = correlateEach(db, sessionId, (r) => fold.add(r));
  return fold.summary(head.flows, head.ordering);
}

const PERCENTILE_KEYS = ['p50', 'p90', 'p99'] as const;

/**
 * A streamed summary against the exact one: every p50/p90/p99 within the bound the
 * summary states (relativeError × |exact| + 0.5 ns; the witness is `summariseSession`'s
 * full sort), everything else — counts, shares, max, verdicts, examples — deep-equal and
 * serialised the same (key order too). Returns how many percentiles were compared.
 */
function assertWithinStatedBound(actual: SessionSummaryData, expected: SessionSummaryData): number {
  assert.deepEqual(expected.percentiles, { exact: true, relativeError: 0 });
  assert.deepEqual(actual.percentiles, { exact: false, relativeError: SKETCH_RELATIVE_ERROR });
  let compared = 0;
  // copy the exact percentiles over the streamed ones once each is checked, then compare the rest whole
  const settled = structuredClone(actual) as unknown as Record<string, unknown>;
  const walk = (a: unknown, e: unknown, path: string): void => {
    if (a === null || typeof a !== 'object' || e === null || typeof e !== 'object') return;
    const ao = a as Record<string, unknown>;
    const eo = e as Record<string, unknown>;
    if ('p50' in eo && 'p99' in eo && 'max' in eo && 'count' in eo) {
      for (const k of PERCENTILE_KEYS) {
        const exact = eo[k] as number | null;
        const got = ao[k] as number | null;
        if (exact === null) assert.equal(got, null, `${path}.${k}`);
        else {
          const bound = SKETCH_RELATIVE_ERROR * Math.abs(exact) + 0.5;
          assert.ok(got !== null && Math.abs(got - exact) <= bound, `${path}.${k}: streamed ${got}, exact ${exact}, bound ${bound}`);
          compared++;
        }
        ao[k] = exact;
      }
      return;
    }
    for (const key of Object.keys(eo)) walk(ao[key], eo[key], `${path}.${key}`);
  };
  walk(settled, expected, 'summary');
  settled.percentiles = expected.percentiles;
  assert.deepEqual(settled, expected);
  assert.equal(JSON.stringify(settled), JSON.stringify(expected));
  return compared;
}

/** The streamed summary against the reference (above), and the head handed out beside it is the full correlation's. */
function assertSameSummary(db: Db, sessionId: number): SessionSummaryData {
  const c = correlateSession(db, sessionId);
  const expected = summariseSession(c.records, c.flows, c.ordering);
  const actual = streamed(db, sessionId);
  const compared = assertWithinStatedBound(actual, expected);
  if (expected.overall.completions > 0) assert.ok(compared > 0, 'percentiles were compared');
  // the one-pass exact fold a finished session's summary takes: equal to the reference, percentiles too
  const exact = summariseHeld(c.records, c.flows, c.ordering);
  assert.deepEqual(exact, expected);
  assert.equal(JSON.stringify(exact), JSON.stringify(expected));
  const { records: _records, stats: fullStats, ...fullHead } = c;
  const { stats, ...head } = correlateEach(db, sessionId, () => {});
  assert.deepEqual(head, fullHead);
  assert.equal(stats.completions, fullStats.completions);
  return expected;
}

function withDb(run: (db: Db) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const { dir, cleanup } = tempDir();
    const db = openDatabase(join(dir, 'stream.db'));
    try {
      await run(db);
    } finally {
      db.close();
      cleanup();
    }
  };
}

/**
 * Three flows (one captured mid-stream, without its SYN) and a flow the capture never saw;
 * three apis across them; every 9th write partial (fewer bytes reported, some with an
 * error status); write tags, one pair out of order; ACKs that lag, SACKs and
 * retransmissions; TCP_INFO on some; a kernel witness for some writes.
 */
function buildSession(db: Db): SyntheticSession {
  const s = new SyntheticSession(db, 'stream');
  const apis = ['node:socket.write', 'posix:send', 'winsock:WSASend'];
  const flow0Writes: { w: number; lastByte: number; lastUs: number }[] = [];
  db.transaction(() => {
    for (let k = 0; k < 3; k++) {
      const a: [string, number] = ['10.0.0.1', 40000 + k];
      const b: [string, number] = ['10.0.0.2', 7000];
      const f = s.flow({ a, b, firstUs: k * 3, synSeen: k !== 2 });
      let off = 0;
      let us = k * 3;
      for (let w = 0; w < 400; w++) {
        const segments = 1 + ((w * 7 + k) % 3);
        const start = off;
        let lastUs = us;
        for (let i = 0; i < segments; i++) {
          us += 10;
          f.segment(us, off, 1000);
          if (i === 0) f.tag(us, off, k === 1 && w === 51 ? 52 : k === 1 && w === 52 ? 51 : w, start, segments * 1000);
          off += 1000;
          lastUs = us;
          if (w % 97 === 5 && i === 0) f.segment(us + 1, off - 1000, 1000);
          f.ack(us + 5 + (w % 5), Math.max(0, off - 2000), w % 61 === 7 ? [[off - 1000, off]] : undefined);
        }
        const completedUs = lastUs + ((w * 13 + k * 5) % 60) - 20;
        if (k === 0) flow0Writes.push({ w, lastByte: off - 1, lastUs });
        const partial = w % 9 === 4;
        s.completion({
          src: a,
          dst: b,
          writeId: w,
          start,
          end: off,
          submittedUs: completedUs - 30 - (w % 7),
          completedUs,
          api: apis[(w + k) % 3],
          bytesReported: partial ? (off - start) / 2 : undefined,
          status: partial && w % 2 ? 'EAGAIN' : 'ok',
          tcpInfo: w % 4 === 0 ? { bytesSent: off - (w % 8 === 0 ? 0 : 1000), bytesAcked: Math.max(0, off - 2000) } : undefined,
        });
      }
    }
    for (let w = 0; w < 30; w++) {
      s.completion({ src: ['10.9.9.9', 5555], dst: ['10.0.0.2', 7000], writeId: w, start: w * 100, end: w * 100 + 100, submittedUs: w * 3, completedUs: w * 3 + 2, api: 'posix:send' });
    }
  })();
  s.finish({ startedUs: 0, stoppedUs: 20_000 });
  // a kernel witness for some writes of flow 0: moments around the capture's
  const witnesses = [];
  for (const { w, lastByte, lastUs } of flow0Writes) {
    if (w % 11 !== 0 && w % 13 !== 0) continue;
    const ns = T0 + BigInt(lastUs * 1000);
    witnesses.push({
      flow: { srcAddr: '10.0.0.1', srcPort: 40000, dstAddr: '10.0.0.2', dstPort: 7000 },
      writeId: w,
      witness: {
        byte: lastByte,
        qdiscInNs: w % 3 === 0 ? null : ns - 2000n,
        qdiscOutNs: w % 3 === 0 ? null : ns - 1000n,
        driverNs: ns + BigInt((w % 5) * 100 - 200),
        ackArrivedNs: w % 2 ? null : ns + BigInt(5000 + (w % 5) * 1000 + 3),
        ackProcessedNs: w % 2 ? null : ns + BigInt(5000 + (w % 5) * 1000 + 8),
        retransmitted: w % 7 === 0,
      },
    });
  }
  storeKernelWitnesses(db, s.id, witnesses);
  return s;
}

test(
  'streamed summary equals summariseSession (percentiles within the stated bound): flows, apis, partial writes, kernel witness, tags, unmatched completions',
  withDb((db) => {
    const s = buildSession(db);
    const summary = assertSameSummary(db, s.id);
    // the fixture reaches what it is meant to
    assert.equal(summary.overall.completions, 3 * 400 + 30);
    assert.equal(summary.apis.length, 3);
    assert.equal(summary.flows.length, 4, 'three captured flows and the unmatched group');
    assert.equal(summary.flows[3].flow, null);
    assert.equal(summary.overall.partial.verdict, 'found');
    assert.equal(summary.overall.partial.examples.length, 5);
    assert.ok(summary.overall.kernel.witnessed > 0 && summary.overall.kernel.driverMinusWire.count > 0 && summary.overall.kernel.ackArrivedMinusCapture.count > 0);
    assert.ok(summary.overall.tcpInfo.compared > 0);
    assert.ok(new Set(Object.entries(summary.overall.stages).filter(([, v]) => v.count > 0).map(([k]) => k)).size >= 3);
    assert.ok(summary.flows.some((f) => f.ordering.verdict !== 'in-order' && f.ordering.verdict !== 'no-tags'), 'a flow out of order');
  }),
);

test(
  'what the fold holds does not grow with the records folded: the same records once and twenty times',
  withDb((db) => {
    const s = buildSession(db);
    const records = correlateSession(db, s.id).records;
    const once = new SessionSummaryFold();
    for (const r of records) once.add(r);
    const twenty = new SessionSummaryFold();
    for (let i = 0; i < 20; i++) for (const r of records) twenty.add(r);
    assert.ok(once.sampleBytes > 0);
    assert.equal(twenty.sampleBytes, once.sampleBytes, `${records.length} records once, then ${20 * records.length}`);
    const c = correlateSession(db, s.id);
    const a = once.summary(c.flows, c.ordering);
    const b = twenty.summary(c.flows, c.ordering);
    assert.equal(b.overall.completions, 20 * a.overall.completions);
    // the same values twenty times: the same percentiles
    assert.deepEqual({ ...b.overall.gaps.submitToComplete, count: 0 }, { ...a.overall.gaps.submitToComplete, count: 0 });
  }),
);

test(
  'streamed summary equals summariseSession (percentiles within the stated bound): an empty session, flows without completions, completions without frames',
  withDb((db) => {
    const empty = new SyntheticSession(db, 'empty').finish();
    assertSameSummary(db, empty.id);
    const framesOnly = new SyntheticSession(db, 'frames only');
    framesOnly.flow({ a: ['10.0.0.1', 1], b: ['10.0.0.2', 2] }).segment(10, 0, 100).ack(20, 100);
    framesOnly.finish();
    assertSameSummary(db, framesOnly.id);
    const noFrames = new SyntheticSession(db, 'no frames');
    for (let w = 0; w < 7; w++) noFrames.completion({ src: ['10.1.1.1', 9], dst: ['10.1.1.2', 10], writeId: w, start: w, end: w + 1, submittedUs: w, completedUs: w + 1 });
    noFrames.finish();
    assertSameSummary(db, noFrames.id);
  }),
);

test('streamed summary equals summariseSession (percentiles within the stated bound) on a real loopback capture (tcpdump) imported with the sender\'s completions', async () => {
  assert.equal(process.getuid?.(), 0, 'tcpdump on lo needs root');
  const { app, dir, close } = await testApp();
  const sink = await startReceiver({ port: 0, host: '127.0.0.1' });
  try {
    const pcap = join(dir, 'real.pcap');
    const dump = await startTcpdump('lo', pcap, `tcp port ${sink.port}`, undefined, { nanoseconds: true });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const created = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'real', kind: 'import' } });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().id as number;
    await run(process.execPath, [
      '--import', 'tsx', 'cli/ackscope.ts', 'send', `127.0.0.1:${sink.port}`,
      '--count', '400', '--size', '1k,16k,100k', '--mode', 'overlapped', '--window', '8', '--tag',
      '--session', String(id), '--url', url, '--json',
    ]);
    assert.equal(await dump.stop(), 0, 'tcpdump dropped nothing');
    const imported = await app.inject({
      method: 'POST',
      url: `/sessions/${id}/import?filename=real.pcap`,
      headers: { 'content-type': 'application/vnd.tcpdump.pcap' },
      payload: readFileSync(pcap),
    });
    assert.equal(imported.statusCode, 200, imported.body);
    const summary = assertSameSummary(app.db, id);
    assert.equal(summary.overall.completions, 400);
    assert.ok(summary.flows.some((f) => f.flow !== null && f.summary.completions === 400), 'every completion on the captured connection');
  } finally {
    await sink.close();
    await close();
  }
});

test(
  'the desk streams the summary of a capturing session and keeps no full correlation of it; a stopped one is correlated whole and cached',
  withDb((db) => {
    const s = buildSession(db);
    // capturing: the classification knows the capture is still running
    updateSession(db, s.id, { state: 'capturing' });
    const c = correlateSession(db, s.id);
    const expected = summariseSession(c.records, c.flows, c.ordering);
    const desk = new CorrelationDesk(db);
    const runs = () => (desk.answer({ id: 0, type: 'stats' }) as { stats: { runs: number } }).stats.runs;

    const live = desk.answer({ id: 0, type: 'summary', sessionId: s.id });
    assert.equal(live.type, 'summary');
    assert.ok(live.type === 'summary');
    assertWithinStatedBound(live.summary, expected);
    assert.equal(currentCorrelation(db, s.id).cached, null, 'no full correlation held for a capturing session');
    desk.answer({ id: 0, type: 'summary', sessionId: s.id });
    assert.equal(runs(), 1, 'asked again with nothing changed: served without a run');
    s.completion({ src: ['10.9.9.9', 5555], dst: ['10.0.0.2', 7000], writeId: 99, start: 9900, end: 10000, submittedUs: 500, completedUs: 502 });
    const grown = desk.answer({ id: 0, type: 'summary', sessionId: s.id });
    assert.equal(grown.type === 'summary' && grown.summary.overall.completions, expected.overall.completions + 1);
    assert.equal(runs(), 2, 'a new completion: a new run');

    updateSession(db, s.id, { state: 'stopped' });
    const done = desk.answer({ id: 0, type: 'summary', sessionId: s.id });
    assert.equal(done.type === 'summary' && done.summary.overall.completions, expected.overall.completions + 1);
    assert.notEqual(currentCorrelation(db, s.id).cached, null, 'a stopped session keeps its full correlation for listing and exports');
  }),
);
