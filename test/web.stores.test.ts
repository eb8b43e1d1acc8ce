// The web page's data routes (service/routes/web.ts) and the kernel witnesses on either
// store: one test body per store (helpers/stores.ts), each store's answers checked
// against tshark's reading of the same capture file, then SQLite's and ClickHouse's
// answers compared whole, as service.stores.test.ts does for the API.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { storeMatrix } from './helpers/stores.js';
import { tempDir } from './helpers/app.js';
import { buildStoreCapture, type StoreCapture } from './helpers/store-capture.js';
import { completionToApi } from '../service/routes/completions.js';
import type { App } from '../service/app.js';
import { HeadlessChromium, chromiumMissing } from '../fixtures/browser.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const STORES = storeMatrix();
let dir: ReturnType<typeof tempDir>;
let capture: StoreCapture;
let pcapPath: string;

before(async () => {
  dir = tempDir();
  capture = await buildStoreCapture(join(dir.dir, 'reference.db'), 7);
  capture.db.close();
  pcapPath = join(dir.dir, 'capture.pcap');
  writeFileSync(pcapPath, capture.file);
});
after(() => dir?.cleanup());

/** tshark's own dissection of the capture file: one object per TCP frame (relative seq and ack: the first payload byte is 1). */
function tsharkFrames(file: string) {
  const fields = ['frame.number', 'tcp.stream', 'tcp.srcport', 'tcp.dstport', 'tcp.seq', 'tcp.len', 'tcp.ack', 'tcp.flags.ack'];
  const out = execFileSync('tshark', ['-r', file, '-o', 'tcp.relative_sequence_numbers:TRUE', '-Y', 'tcp', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [no, stream, sport, dport, seq, len, ack, ackFlag] = line.split('\t');
      return { no: Number(no), stream: Number(stream), sport: Number(sport), dport: Number(dport), seq: Number(seq), len: Number(len), ack: Number(ack), ackFlag: ackFlag === '1' || ackFlag === 'True' };
    });
}

/**
 * TCP streams where tshark flags an ACK of a segment the capture does not hold (the store
 * capture's GSO-sized segments over 64 KiB overflow IP's length field). The tracker does
 * not let such an ACK raise the acknowledged mark, so there tshark's first covering ACK
 * is not a witness of the page's: only the data frames are checked against tshark.
 */
function streamsAckingUncaptured(file: string): Set<number> {
  const out = execFileSync('tshark', ['-r', file, '-Y', 'tcp.analysis.ack_lost_segment', '-T', 'fields', '-e', 'tcp.stream'], { encoding: 'utf8' });
  return new Set(out.split('\n').filter(Boolean).map(Number));
}

function ndjson(c: StoreCapture): string {
  return c.rows.map((row) => {
    const { id: _id, ...record } = completionToApi({ ...row, id: 0 });
    return JSON.stringify(record);
  }).join('\n') + '\n';
}

/** The capture imported, its completions posted and its kernel witnesses with the trace statement, all through HTTP. */
async function importedSession(app: App, store: string): Promise<number> {
  const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'page', kind: 'import' } })).json().id as number;
  const imported = await app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: Buffer.from(capture.file) });
  assert.equal(imported.statusCode, 200, `${store}: ${imported.body}`);
  const posted = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, headers: { 'content-type': 'application/x-ndjson' }, payload: ndjson(capture) });
  assert.equal(posted.statusCode, 200, `${store}: ${posted.body}`);
  const witnessed = await app.inject({ method: 'POST', url: `/sessions/${id}/kernel-witness`, payload: { witnesses: capture.witnesses, trace: capture.trace } });
  assert.equal(witnessed.statusCode, 200, `${store}: ${witnessed.body}`);
  assert.deepEqual(witnessed.json(), { stored: capture.witnesses.length });
  return id;
}

async function get(app: App, url: string): Promise<Json> {
  const res = await app.inject({ url });
  assert.equal(res.statusCode, 200, `${url}: ${res.body.slice(0, 300)}`);
  return res.json() as Json;
}

/** Every answer the page's data routes give about the session, each checked against tshark on the way. */
async function pageAnswers(app: App, id: number): Promise<Json> {
  const frames = tsharkFrames(pcapPath);
  const unwitnessedAcks = streamsAckingUncaptured(pcapPath);
  assert.ok(unwitnessedAcks.size < new Set(frames.map((f) => f.stream)).size, 'some stream’s ACKs are all of captured data');
  const flows = (await get(app, `/sessions/${id}/flows`)).items as Json[];
  assert.equal(flows.length, new Set(frames.map((f) => f.stream)).size, 'a flow per TCP stream tshark sees');
  const streamOf = (flow: Json) => frames.find((f) => f.sport === flow.a.port && f.dport === flow.b.port)!.stream;

  const sessions = (await get(app, '/ui/data/sessions')).items as Json[];
  assert.equal(sessions.length, 1);
  assert.equal(sessions[0].completions, capture.completions);
  assert.equal(sessions[0].frames, frames.length);

  const live = await get(app, `/ui/data/sessions/${id}/live`);
  const framesOfFlow = (flow: Json) => frames.filter((f) => f.stream === streamOf(flow)).length;
  const busiest = [...flows].sort((x, y) => framesOfFlow(y) - framesOfFlow(x))[0];
  assert.deepEqual([live.frames, live.completions, live.flows, live.busiestFlowId], [frames.length, capture.completions, flows.length, busiest.id]);

  const timelines: Json[] = [];
  const sequences: Json[] = [];
  for (const flow of flows) {
    const timeline = await get(app, `/ui/data/sessions/${id}/timeline?flow=${flow.id}`);
    const mine = capture.rows
      .filter((r) => r.srcPort === flow.a.port && r.dstPort === flow.b.port)
      .sort((x, y) => (x.submittedNs < y.submittedNs ? -1 : x.submittedNs > y.submittedNs ? 1 : x.writeId - y.writeId));
    assert.deepEqual(timeline.writeId, mine.map((r) => r.writeId), `flow ${flow.id}: its completions in submission order`);
    timelines.push(timeline);
    for (const dir of [0, 1] as const) {
      const seq = await get(app, `/ui/data/sessions/${id}/sequence?flow=${flow.id}&dir=${dir}`);
      const from = dir === 0 ? flow.a.port : flow.b.port;
      const data = frames.filter((f) => f.stream === streamOf(flow) && f.sport === from && f.len > 0);
      assert.equal(seq.segmentsTotal, data.length, `flow ${flow.id} dir ${dir}: a segment per data frame tshark sees`);
      if (data.length > 0) assert.equal(Math.max(...seq.segments.endOff), Math.max(...data.map((f) => f.seq - 1 + f.len)));
      sequences.push(seq);
    }
    sequences.push(await get(app, `/ui/data/sessions/${id}/sequence?flow=${flow.id}`));
  }
  const unmatched = await get(app, `/ui/data/sessions/${id}/timeline?flow=0`);
  assert.equal(unmatched.total, 1, 'the completion of a connection the capture never saw');

  const correlations = (await get(app, `/sessions/${id}/correlations?limit=1000&sort=writeId`)).items as Json[];
  const writes: Json[] = [];
  for (const c of correlations) {
    const detail = await get(app, `/ui/data/sessions/${id}/writes/${c.completionId}`);
    writes.push(detail);
    if (c.flowId === null) {
      assert.deepEqual([detail.frames, detail.ack], [[], null]);
      continue;
    }
    const flow = flows.find((f) => f.id === c.flowId)!;
    const stream = frames.filter((f) => f.stream === streamOf(flow));
    const data = stream.filter((f) => f.sport === c.flow.srcPort && f.len > 0 && f.seq - 1 < c.offsetEnd && f.seq - 1 + f.len > c.offsetStart);
    const ack = stream.find((f) => f.sport === c.flow.dstPort && f.ackFlag && f.ack - 1 >= c.offsetEnd);
    assert.ok(data.length > 0);
    assert.deepEqual(detail.frames.map((f: Json) => f.frameNo), data.map((f) => f.no), `completion ${c.completionId}: the frames tshark sees carrying its bytes`);
    if (!unwitnessedAcks.has(streamOf(flow))) assert.equal(detail.ack?.frameNo, ack?.no, `completion ${c.completionId}: the first ACK covering its end`);
    assert.equal(detail.correlation.stage, c.stage);
  }
  assert.ok(writes.some((w) => w.correlation.kernel !== null), 'the posted kernel witnesses reach the page');

  const trace = await get(app, `/sessions/${id}/trace`);
  assert.deepEqual(trace, capture.trace);
  // created at another moment in each store: everything else must agree
  const listed = sessions.map(({ createdAt: _createdAt, ...rest }) => rest);
  return { listed, live, timelines, unmatched, sequences, writes, trace };
}

test('the page’s data routes answer the same on both stores, each as tshark reads the capture', async () => {
  const answers: Record<string, Json> = {};
  for (const { store, testApp } of STORES) {
    const { app, close } = await testApp();
    try {
      const id = await importedSession(app, store);
      answers[store] = await pageAnswers(app, id);
      const page = await app.inject({ url: '/' });
      assert.equal(page.statusCode, 200, `${store}: the page itself`);
      assert.match(page.body, /<script type="module" src="\/ui\/main\.js">/);
      assert.equal((await app.inject({ url: '/ui/main.css' })).statusCode, 200, `${store}: the bundle (scripts/build.sh)`);
      assert.equal((await app.inject({ url: `/ui/data/sessions/${id}/sequence?flow=99` })).statusCode, 404);
      assert.equal((await app.inject({ url: `/ui/data/sessions/${id}/writes/99999` })).statusCode, 404);
      assert.equal((await app.inject({ url: '/ui/data/sessions/77/live' })).json().error.code, 'ACKSCOPE_ERR_SESSION_NOT_FOUND');
    } finally {
      await close();
    }
  }
  for (const part of Object.keys(answers.sqlite)) assert.deepEqual(answers.clickhouse[part], answers.sqlite[part], part);
});

const FLOW = { srcAddr: '10.7.0.1', srcPort: 4000, dstAddr: '10.7.0.2', dstPort: 80 };
const T0 = 1_764_061_234_000_000_000n;
const ns = (us: number) => String(T0 + BigInt(us) * 1000n);
function witness(writeId: number, qdiscInUs: number, driverUs: number | null) {
  return {
    flow: FLOW, writeId, byte: writeId * 100 + 99, qdiscInNs: ns(qdiscInUs), qdiscOutNs: null, driverNs: driverUs === null ? null : ns(driverUs),
    ackArrivedNs: null, ackProcessedNs: null, retransmitted: false,
  };
}

for (const { store, testApp } of STORES) {
  test(`[${store}] kernel witnesses: stored for posted completions, a later one replaces an earlier, a batch naming an unknown completion is refused whole`, async () => {
    const { app, close } = await testApp();
    try {
      const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'witnessed', kind: 'import' } })).json().id as number;
      const posted = await app.inject({
        method: 'POST',
        url: `/sessions/${id}/completions`,
        payload: [0, 1, 2].map((i) => ({
          flow: FLOW, writeId: i, offsetStart: i * 100, offsetEnd: i * 100 + 100, bytesReported: 100, api: 'posix:send', buffers: 1, status: 'ok',
          submittedNs: ns(i * 100), completedNs: ns(i * 100 + 50),
        })),
      });
      assert.equal(posted.statusCode, 200, posted.body);
      const kernelOf = async () =>
        ((await get(app, `/sessions/${id}/correlations?limit=10&sort=writeId`)).items as Json[]).map((c) => c.kernel && [c.kernel.qdiscInNs, c.kernel.driverNs]);
      assert.deepEqual(await kernelOf(), [null, null, null], 'correlated (and cached) before any witness');
      assert.equal((await app.inject({ url: `/sessions/${id}/trace` })).statusCode, 404, 'not traced yet');

      const first = await app.inject({ method: 'POST', url: `/sessions/${id}/kernel-witness`, payload: { witnesses: [witness(0, 10, 20), witness(2, 210, null)] } });
      assert.deepEqual([first.statusCode, first.json()], [200, { stored: 2 }]);
      assert.deepEqual(await kernelOf(), [[ns(10), ns(20)], null, [ns(210), null]], 'the new witnesses, not the cached correlation');

      // write 0 twice in one request (the later wins), write 1 for the first time
      const second = await app.inject({
        method: 'POST',
        url: `/sessions/${id}/kernel-witness`,
        payload: { witnesses: [witness(0, 11, 21), witness(1, 110, 120), witness(0, 12, 22)], trace: { target: 'pid 7', lostEvents: 0, calls: 3, uncovered: 0, momentsWithoutCall: 0, missing: {}, exitCode: null } },
      });
      assert.deepEqual([second.statusCode, second.json()], [200, { stored: 3 }]);
      assert.deepEqual(await kernelOf(), [[ns(12), ns(22)], [ns(110), ns(120)], [ns(210), null]]);

      const refused = await app.inject({ method: 'POST', url: `/sessions/${id}/kernel-witness`, payload: { witnesses: [witness(2, 299, 299), witness(9, 900, 900)] } });
      assert.equal(refused.statusCode, 400, refused.body);
      assert.equal(refused.json().error.code, 'ACKSCOPE_ERR_COMPLETION_INVALID');
      assert.match(refused.json().error.message, /^witness 1: no completion 10\.7\.0\.1:4000 → 10\.7\.0\.2:80 writeId 9 in session \d+: post the completion first$/);
      assert.deepEqual(await kernelOf(), [[ns(12), ns(22)], [ns(110), ns(120)], [ns(210), null]], 'nothing of the refused request stored');

      const newer = { target: 'pid 8', lostEvents: 2, calls: 4, uncovered: 1, momentsWithoutCall: 0, missing: { driver: 1 }, exitCode: 0 };
      assert.equal((await app.inject({ method: 'POST', url: `/sessions/${id}/kernel-witness`, payload: { witnesses: [], trace: newer } })).statusCode, 200);
      assert.deepEqual(await get(app, `/sessions/${id}/trace`), newer, 'the newest statement of the tracer');
      assert.equal((await app.inject({ method: 'POST', url: '/sessions/99/kernel-witness', payload: { witnesses: [] } })).statusCode, 404);
    } finally {
      await close();
    }
  });
}

test('[clickhouse] the page in a real browser: the session list, a flow’s charts with the posted kernel witnesses as markers', async () => {
  assert.equal(chromiumMissing(), null);
  const { app, close } = await STORES[1].testApp();
  let browser: HeadlessChromium | undefined;
  try {
    const id = await importedSession(app, 'clickhouse');
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await HeadlessChromium.launch();
    const { page, errors } = await browser.newPage();
    await page.goto(`${url}/#/`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    const row = page.locator(`#session-list tr[data-session="${id}"]`);
    assert.equal(await row.getAttribute('data-state'), 'stopped');
    assert.equal((await row.locator('td:nth-child(8)').textContent())?.replace(/,/g, ''), String(capture.completions));

    await page.goto(`${url}/#/sessions/${id}`);
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#flow-charts')?.dataset.drawn === 'true', null, { timeout: 60_000 });
    // the flow whose writes have kernel witnesses (the store capture's first)
    const witnessed = capture.witnesses[0].flow;
    const option = await page.$$eval('#flow-select option', (options, port) => options.find((o) => o.textContent!.includes(`:${port}`))?.getAttribute('value'), witnessed.srcPort);
    assert.ok(option, 'the witnessed flow is offered');
    await page.selectOption('#flow-select', option);
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#flow-charts')?.dataset.drawn === 'true', null, { timeout: 60_000 });
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    type Drawn = { series: { name: string; points: { data: number[]; drawnAt: [number, number] | null }[] }[] };
    const drawn = await page.evaluate(() => (window as unknown as { ackscopePage: { kernelMarkers(): Drawn } }).ackscopePage.kernelMarkers());
    const qdiscIn = drawn.series.find((x) => x.name === 'kernel: qdisc in');
    assert.ok(qdiscIn, `markers drawn: ${drawn.series.map((x) => x.name).join(', ')}`);
    const expected = capture.witnesses.filter((w) => w.flow.srcPort === witnessed.srcPort).map((w) => w.writeId);
    assert.deepEqual(qdiscIn.points.map((p) => p.data[1]).sort((a, b) => a - b), expected, 'a marker for each write the posted witnesses name');
    assert.ok(qdiscIn.points.every((p) => p.drawnAt !== null));
    assert.deepEqual(errors, [], 'no console errors (the new-session form of the list asks /interfaces too)');
  } finally {
    await browser?.close();
    await close();
  }
});
