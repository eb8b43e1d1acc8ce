// The web page (service/routes/web.ts, service/web/): served by the app, and rendered by
// a real headless Chromium against a real listen, on a session made from real loopback
// traffic (tcpdump capture imported through the API, the sender's completions posted).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { testApp } from './helpers/app.js';
import { storeMatrix } from './helpers/stores.js';
import { startTcpdump } from './helpers/wire.js';
import { HeadlessChromium, chromiumMissing, type WatchedPage } from '../fixtures/browser.js';
import { runWorkload, startReceiver, type CompletionRecord, type Receiver } from '../sender/index.js';
import { nativeAvailable } from '../capture/native/index.js';
import { STAGE_NAMES } from '../service/web/src/shapes.js';
import type { App } from '../service/app.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const WRITES = 150;
/** The page's data routes run on either store (one body each); the rest of the page needs live capture: SQLite. */
const STORES = storeMatrix();

/** Loopback writes to a sink that pauses once (so some completions find their bytes still queued), captured by tcpdump. */
async function capturedWrites(dir: string): Promise<{ file: string; records: CompletionRecord[] }> {
  const sink = await startReceiver({ port: 0, host: '127.0.0.1', pauseAfterBytes: 1_500_000, pauseMs: 150 });
  const file = join(dir, 'writes.pcap');
  try {
    const tcpdump = await startTcpdump('lo', file, `tcp port ${sink.port}`);
    const { records } = await runWorkload({
      host: '127.0.0.1',
      port: sink.port,
      count: WRITES,
      sizes: [1024, 16384, 100_000],
      mode: 'overlapped',
      window: 8,
      tag: true,
    });
    for (let i = 0; i < 100 && sink.stats.open > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await tcpdump.stop(), 0, 'tcpdump dropped nothing');
    return { file, records };
  } finally {
    await sink.close();
  }
}

async function importedSession(app: App, file: string, records: CompletionRecord[]): Promise<number> {
  const created = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'web page', kind: 'import' } });
  assert.equal(created.statusCode, 201, created.body);
  const id = created.json().id as number;
  const imported = await app.inject({
    method: 'POST',
    url: `/sessions/${id}/import`,
    headers: { 'content-type': 'application/vnd.tcpdump.pcap' },
    payload: readFileSync(file),
  });
  assert.equal(imported.statusCode, 200, imported.body);
  const posted = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, payload: records });
  assert.ok(posted.statusCode < 300, posted.body);
  return id;
}

test('GET / is the page; /ui/ serves the bundle and nothing else; none of it is in the OpenAPI document', async () => {
  const { app, close } = await testApp();
  try {
    const page = await app.inject({ url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /^text\/html/);
    assert.match(page.body, /<script type="module" src="\/ui\/main\.js">/);
    assert.match(page.body, /href="\/ui\/main\.css"/);

    const js = await app.inject({ url: '/ui/main.js' });
    assert.equal(js.statusCode, 200, 'the bundle is built by scripts/build.sh (npm run build)');
    assert.match(js.headers['content-type'] as string, /^text\/javascript/);
    assert.ok(js.body.length > 100_000, 'ECharts is bundled in, not fetched from a CDN');
    assert.ok(js.body.includes('stage-legend'), 'the bundle is the page code');
    assert.doesNotMatch(js.body, /https?:\/\/(cdn|unpkg|fastly\.jsdelivr)/, 'no CDN');
    const css = await app.inject({ url: '/ui/main.css' });
    assert.equal(css.statusCode, 200);
    assert.match(css.headers['content-type'] as string, /^text\/css/);

    for (const url of ['/ui/package.json', '/ui/..%2Fpackage.json', '/ui/index.html']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().error.code, 'ACKSCOPE_ERR_NOT_FOUND');
    }

    const doc = (await app.inject({ url: '/docs/json' })).json() as Json;
    const paths = Object.keys(doc.paths);
    assert.ok(paths.includes('/sessions/{id}/summary'), 'the document lists the API');
    assert.deepEqual(paths.filter((p) => p === '/' || p.startsWith('/ui')), []);
  } finally {
    await close();
  }
});

for (const { store, testApp: storeApp } of STORES) describe(`[${store}] the page’s data routes on a captured session (root: tcpdump on lo)`, () => {
  let app: App;
  let close: () => Promise<void>;
  let dir: string;
  let sessionId: number;
  let flowId: number;
  let capturedFile: string;

  before(async () => {
    assert.ok(nativeAvailable(), 'the capture addon must be built (scripts/build.sh): the sender reads CLOCK_REALTIME through it');
    assert.equal(process.getuid?.(), 0, 'tcpdump on lo needs root');
    ({ app, close, dir } = await storeApp());
    const { file, records } = await capturedWrites(dir);
    capturedFile = file;
    sessionId = await importedSession(app, file, records);
    const flows = (await app.inject({ url: `/sessions/${sessionId}/flows` })).json().items as Json[];
    assert.equal(flows.length, 1, 'one connection');
    flowId = flows[0].id;
  });
  after(async () => {
    await close?.();
  });

  test('the page data routes: sessions with completion counts, a flow timeline, its time-sequence', async () => {
    const list = (await app.inject({ url: '/ui/data/sessions' })).json().items as Json[];
    const mine = list.find((s) => s.id === sessionId)!;
    assert.equal(mine.completions, WRITES);
    assert.equal(mine.state, 'stopped');
    assert.ok(mine.tcp > WRITES);

    const timeline = (await app.inject({ url: `/ui/data/sessions/${sessionId}/timeline?flow=${flowId}` })).json() as Json;
    assert.equal(timeline.total, WRITES);
    assert.equal(timeline.shown, WRITES);
    assert.deepEqual(timeline.writeId, [...Array(WRITES).keys()]);
    const correlations = (await app.inject({ url: `/sessions/${sessionId}/correlations?limit=1000&sort=writeId` })).json().items as Json[];
    assert.deepEqual(
      timeline.stage.map((s: number) => STAGE_NAMES[s]),
      correlations.map((c) => c.stage),
      'the chart colours each write by the stage the API gives it',
    );
    const firstAckUs = timeline.ackedUs[0] as number;
    assert.equal(
      BigInt(timeline.baseNs) + BigInt(Math.round(firstAckUs * 1000)),
      BigInt(correlations[0].ackedNs),
      'times are µs after baseNs',
    );

    const seq = (await app.inject({ url: `/ui/data/sessions/${sessionId}/sequence?flow=${flowId}` })).json() as Json;
    assert.equal(seq.dir, 0, 'the sender (side a, it sent the SYN) sent the bytes');
    const sent = correlations[correlations.length - 1].offsetEnd as number;
    assert.equal(Math.max(...seq.segments.endOff), sent, 'the data reaches the last write’s end');
    const lastAck = Math.max(...seq.acks.ackOff);
    assert.ok(lastAck === sent || lastAck === sent + 1, `the ACKs reach it too (+1: the FIN) (${lastAck}, ${sent})`);

    const noFlow = await app.inject({ url: `/ui/data/sessions/${sessionId}/sequence?flow=${flowId + 1000}` });
    assert.equal(noFlow.statusCode, 404);
    const noSession = await app.inject({ url: `/ui/data/sessions/99999/timeline?flow=1` });
    assert.equal(noSession.json().error.code, 'ACKSCOPE_ERR_SESSION_NOT_FOUND');

    // completions no captured flow matched: flow=0, stage unknown
    const other = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'no capture', kind: 'import' } })).json().id;
    const flow = { srcAddr: '10.9.9.9', srcPort: 5555, dstAddr: '10.9.9.8', dstPort: 80 };
    const posted = await app.inject({
      method: 'POST',
      url: `/sessions/${other}/completions`,
      payload: [0, 1].map((i) => ({
        flow, writeId: i, offsetStart: i * 10, offsetEnd: i * 10 + 10, bytesReported: 10, api: 'posix:send', buffers: 1, status: 'ok',
        submittedNs: String(1764061234000000000n + BigInt(i * 1000)), completedNs: String(1764061234000000500n + BigInt(i * 1000)),
      })),
    });
    assert.ok(posted.statusCode < 300, posted.body);
    const unmatched = (await app.inject({ url: `/ui/data/sessions/${other}/timeline?flow=0` })).json() as Json;
    assert.equal(unmatched.flowId, null);
    assert.deepEqual(unmatched.writeId, [0, 1]);
    assert.equal(unmatched.baseNs, '1764061234000000000', 'counted from the first submission');
    assert.deepEqual(unmatched.submittedUs, [0, 1]);
    assert.deepEqual(unmatched.stage.map((i: number) => STAGE_NAMES[i]), ['unknown', 'unknown']);
  });

  test('a write’s frames: the segments tshark sees carrying its bytes, and the first ACK covering its end', async () => {
    // the witness: tshark's own dissection of the tcpdump file (relative seq: first payload byte is 1)
    const fields = tshark(capturedFile, 'tcp', ['frame.number', 'tcp.srcport', 'tcp.seq', 'tcp.len', 'tcp.ack', 'tcp.flags.ack']);
    const correlations = (await app.inject({ url: `/sessions/${sessionId}/correlations?limit=1000&sort=writeId` })).json().items as Json[];
    const senderPort = correlations[0].flow.srcPort as number;
    const timeline = (await app.inject({ url: `/ui/data/sessions/${sessionId}/timeline?flow=${flowId}` })).json() as Json;
    for (const writeId of [0, 7, 75, WRITES - 1]) {
      const c = correlations[writeId];
      const start = c.offsetStart as number;
      const end = c.offsetEnd as number;
      const data = fields
        .filter((f) => Number(f[1]) === senderPort && Number(f[3]) > 0)
        .filter((f) => Number(f[2]) - 1 < end && Number(f[2]) - 1 + Number(f[3]) > start)
        .map((f) => Number(f[0]));
      const ack = fields.find((f) => Number(f[1]) !== senderPort && f[5] === '1' && Number(f[4]) - 1 >= end);
      const i = timeline.writeId.indexOf(writeId);
      assert.equal(timeline.completionId[i], c.completionId, 'the timeline carries each write’s completion id');
      const detail = (await app.inject({ url: `/ui/data/sessions/${sessionId}/writes/${c.completionId}` })).json() as Json;
      assert.equal(detail.correlation.writeId, writeId);
      assert.equal(detail.correlation.stage, c.stage);
      assert.deepEqual(detail.frames.map((f: Json) => f.frameNo), data, `write ${writeId}: the data frames tshark numbers`);
      assert.ok(data.length > 0);
      assert.equal(detail.ack?.frameNo, ack ? Number(ack[0]) : undefined, `write ${writeId}: the covering ACK`);
    }
    const missing = await app.inject({ url: `/ui/data/sessions/${sessionId}/writes/999999` });
    assert.equal(missing.statusCode, 404);
  });
});

/** tshark's fields of the frames matching `filter`, one array per frame. */
function tshark(file: string, filter: string, fieldNames: string[]): string[][] {
  const out = execFileSync('tshark', ['-r', file, '-o', 'tcp.relative_sequence_numbers:TRUE', '-Y', filter, '-T', 'fields', ...fieldNames.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return out.split('\n').filter(Boolean).map((line) => line.split('\t'));
}

describe('the workbench in a real browser (root: live capture on lo, playwright-core + Debian chromium)', () => {
  let app: App;
  let close: () => Promise<void>;
  let url: string;
  let browser: HeadlessChromium;
  let watched: WatchedPage;
  let receiver: Receiver;
  /** Screenshots are kept (printed) for people to look at: outside the app's temp folder, which is removed. */
  const shots = mkdtempSync(join(tmpdir(), 'ackscope-web-shots-'));
  let liveId: number;
  let importedId: number;
  let sent: CompletionRecord[] = [];

  before(async () => {
    assert.equal(chromiumMissing(), null);
    assert.ok(nativeAvailable(), 'the capture addon must be built (scripts/build.sh)');
    assert.equal(process.getuid?.(), 0, 'a live capture on lo needs root');
    ({ app, close } = await testApp());
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    receiver = await startReceiver({ port: 0, host: '127.0.0.1', pauseAfterBytes: 1_500_000, pauseMs: 150 });
    browser = await HeadlessChromium.launch();
    watched = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await receiver?.close();
    await close?.();
  });

  const page = () => watched.page;
  const ready = () => page().waitForFunction(() => document.body.dataset.ready === 'true');
  async function shot(t: { diagnostic: (m: string) => void }, name: string): Promise<void> {
    const file = join(shots, `${name}.png`);
    await page().screenshot({ path: file, fullPage: true });
    t.diagnostic(`screenshot: ${file}`);
    console.log(`screenshot: ${file}`);
  }
  /** Takes the console errors a step expects (a refused request is logged by Chromium), and only those. */
  function expectRefusals(pattern: RegExp, count: number): void {
    const matching = watched.errors.filter((e) => pattern.test(e));
    assert.equal(matching.length, count, `expected ${count} refusals logged, got: ${watched.errors.join(' | ')}`);
    watched.errors.splice(0, watched.errors.length, ...watched.errors.filter((e) => !pattern.test(e)));
  }

  test('a filter that does not compile: libpcap’s error inline, no session left behind', async (t) => {
    await page().goto(`${url}/#/`);
    await ready();
    await page().waitForFunction(() => document.querySelectorAll('#new-interface option[value="lo"]').length === 1);
    const loLabel = await page().locator('#new-interface option[value="lo"]').textContent();
    assert.match(loLabel!, /127\.0\.0\.1/, 'the interface picker shows the addresses');
    await page().fill('#new-name', 'typo');
    await page().selectOption('#new-interface', 'lo');
    await page().fill('#new-filter', 'tcp port');
    await page().click('#create-start');
    await page().waitForFunction(() => (document.querySelector('#filter-error')?.textContent ?? '') !== '');
    const message = await page().locator('#filter-error').textContent();
    assert.match(message!, /does not compile/i, message!);
    assert.equal(await page().evaluate(() => document.body.dataset.view), 'list', 'stays on the form');
    const sessions = (await (await fetch(`${url}/sessions`)).json()) as Json;
    assert.deepEqual(sessions.items, [], 'no session is left behind');
    // the service refuses a filter that does not compile when the session is created
    expectRefusals(/status of 400.*\/sessions\)/, 1);
    await shot(t, '1-bad-filter');
  });

  test('create a live session on lo from the page, start it, watch the counts move without reloading', async (t) => {
    await page().fill('#new-name', 'live from the page');
    await page().fill('#new-filter', `tcp port ${receiver.port}`);
    await page().click('#new-session details summary'); // the advanced options, opened by keyboard or mouse
    await page().fill('#new-snaplen', '262144');
    await page().fill('#new-buffer', '4096');
    await page().click('#create-start');
    await page().waitForFunction(() => document.body.dataset.view === 'session' && document.querySelector('#live')?.getAttribute('data-state') === 'capturing');
    liveId = Number(/#\/sessions\/(\d+)/.exec(page().url())![1]);
    const session = (await (await fetch(`${url}/sessions/${liveId}`)).json()) as Json;
    assert.equal(session.state, 'capturing');
    assert.equal(session.interface, 'lo');
    assert.equal(session.filter, `tcp port ${receiver.port}`);
    assert.equal(session.snaplen, 262144);
    assert.equal(session.bufferSize, 4096 * 1024, 'the buffer is asked in KiB');
    await page().waitForFunction(() => document.querySelector<HTMLElement>('#live')?.dataset.ticks !== undefined);
    await page().evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    const framesShown = () => page().evaluate(() => Number(document.querySelector<HTMLElement>('#live')!.dataset.frames));
    const before = await framesShown();

    // a second tab on the list: the running session is marked
    const listTab = await browser.newPage();
    await listTab.page.goto(`${url}/#/`);
    await listTab.page.waitForFunction(() => document.body.dataset.ready === 'true');
    const row = listTab.page.locator(`#session-list tr[data-session="${liveId}"]`);
    assert.equal(await row.getAttribute('data-state'), 'capturing');
    assert.match((await row.locator('.state').textContent())!, /● capturing/);

    const half = (count: number) =>
      runWorkload({
        host: '127.0.0.1',
        port: receiver.port,
        count,
        sizes: [1024, 16384, 100_000],
        mode: 'overlapped',
        window: 8,
        tag: true,
        destination: { url, session: liveId },
      });
    const first = await half(100);
    assert.equal(first.summary.completed, 100);
    await page().waitForFunction((n) => Number(document.querySelector<HTMLElement>('#live')!.dataset.frames) > n, before);
    const middle = await framesShown();
    await listTab.page.waitForFunction(
      (id) => Number(document.querySelector(`#session-list tr[data-session="${id}"] td:nth-child(6)`)?.textContent?.replace(/,/g, '')) > 0,
      liveId,
    );
    await listTab.page.screenshot({ path: join(shots, '2-list-running.png'), fullPage: true });
    t.diagnostic(`screenshot: ${join(shots, '2-list-running.png')}`);
    await listTab.page.close();
    assert.deepEqual(listTab.errors, []);
    const second = await half(100);
    assert.equal(second.summary.completed, 100);
    sent = [...first.records, ...second.records];
    await page().waitForFunction((n) => Number(document.querySelector<HTMLElement>('#live')!.dataset.frames) > n, middle);
    await page().waitForFunction(() => Number(document.querySelector('#live-completions')?.textContent?.replace(/,/g, '')) === 200);
    assert.ok(await page().evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded === true), 'the same document: no reload');
    await page().waitForFunction(() => Number(document.querySelector<HTMLElement>('#live')?.dataset.segments) > 0);
    assert.ok(before < middle, `the count moved (${before} → ${middle} → …)`);
    await shot(t, '3-live');
  });

  let writeId = 0;
  let detailFrames: number[] = [];
  test('stop, then hover and click a write: its correlation, its frames (checked against GET /frames and tshark)', async (t) => {
    await page().click('#stop-button');
    await page().waitForFunction(() => document.querySelector<HTMLElement>('#flow-charts')?.dataset.drawn === 'true', null, { timeout: 60_000 });
    await ready();
    const stopped = (await (await fetch(`${url}/sessions/${liveId}`)).json()) as Json;
    assert.equal(stopped.state, 'stopped');
    t.diagnostic(`libpcap drops: ${JSON.stringify(stopped.drops)}`);
    const legend = await page().locator('#stage-legend').textContent();
    for (const stage of STAGE_NAMES) assert.ok(legend!.includes(stage), `legend has ${stage}`);
    await shot(t, '4-session');

    const correlations = (await (await fetch(`${url}/sessions/${liveId}/correlations?limit=1000&sort=writeId`)).json()).items as Json[];
    assert.equal(correlations.length, 200);
    // two runs, two connections: the write ids restart per flow; the charts show the chosen one
    const shownFlow = Number(await page().inputValue('#flow-select'));
    // a write in the middle of the run that the capture saw (one of the larger ones)
    const c = correlations.find((r) => r.flowId === shownFlow && r.writeId >= 60 && r.offsetEnd - r.offsetStart === 100_000)!;
    assert.ok(c, `flow ${shownFlow} has a 100 kB write after the 60th`);
    writeId = c.writeId;
    await page().locator('#timeline-chart').scrollIntoViewIfNeeded();
    const writePoints = () =>
      page().evaluate(
        (w) => (window as unknown as { ackscopePage: { writePoints(w: number): [number, number][] | null } }).ackscopePage.writePoints(w),
        writeId,
      );
    let points = await writePoints();
    assert.ok(points, 'the write is drawn');
    // a real mouse over the bar (a bar can be 2 px high: try points along it until the tooltip names it);
    // the bar's place is asked again each round: a redraw of the chart after it was first
    // asked (the axis growing to the last frames) moves it (CI, stop 22: every point missed)
    const tooltip = page().locator('.timeline-tooltip');
    let point: [number, number] | null = null;
    for (let round = 0; round < 4 && !point; round++) {
      if (round > 0) {
        await new Promise((r) => setTimeout(r, 500));
        points = (await writePoints()) ?? points;
      }
      for (const p of points) {
        await page().mouse.move(p[0] - 20, p[1]);
        await page().mouse.move(p[0], p[1], { steps: 4 });
        const named = await page()
          .waitForFunction(
            (w) => {
              const text = document.querySelector('.timeline-tooltip')?.textContent ?? '';
              return text.includes(`write ${w}:`) && text.includes('deciding gap'); // the bar, not a marker on it
            },
            writeId,
            { timeout: 3000 },
          )
          .then(() => true, () => false);
        if (named) {
          point = p;
          break;
        }
      }
    }
    if (!point) await shot(t, '5-hover-failed');
    assert.ok(point, `hovering write ${writeId} shows its tooltip (points ${JSON.stringify(points)}; tooltip: ${await tooltip.textContent()})`);
    const hover = (await tooltip.textContent())!;
    assert.ok(hover.includes(`write ${writeId}: ${c.stage}`), hover);
    assert.ok(hover.includes(`bytes ${c.offsetStart}–${c.offsetEnd}`), hover);
    assert.match(hover, /deciding gap/);
    assert.match(hover, /flags /);
    await shot(t, '5-hover');

    await page().mouse.click(point[0], point[1]);
    await page().waitForFunction((w) => document.querySelector<HTMLElement>('#write-detail')?.dataset.writeId === String(w), writeId);
    const rows = await page().$$eval('#write-frames tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
    );
    // the witness: every frame of the flow from the public API; a data frame of the write
    // carries some of its bytes, the ACK is the first of the other side reaching its end
    const all: Json[] = [];
    for (let cursor: string | null = ''; cursor !== null; ) {
      const page_ = (await (await fetch(`${url}/sessions/${liveId}/frames?flowId=${c.flowId}&limit=10000${cursor ? `&cursor=${cursor}` : ''}`)).json()) as Json;
      all.push(...page_.items);
      cursor = page_.nextCursor;
    }
    const dataDir = all[0].dir; // the sender sent the SYN: side a
    const carrying = all.filter((f) => f.dir === dataDir && f.payloadLen > 0 && f.seqOff < c.offsetEnd && f.seqOff + f.payloadLen > c.offsetStart);
    const covering = all.find((f) => f.dir !== dataDir && f.ackOff !== null && f.ackOff >= c.offsetEnd);
    const dataRows = rows.filter((r) => r[1] === 'data');
    assert.deepEqual(dataRows.map((r) => Number(r[0])), carrying.map((f) => f.frameNo), 'the page lists the frames that carried the write');
    assert.deepEqual(dataRows.map((r) => r[3]), carrying.map((f) => `${f.seqOff}–${f.seqOff + f.payloadLen}`), 'their seq ranges');
    assert.deepEqual(dataRows.map((r) => r[6]), carrying.map((f) => f.flags), 'their flags');
    assert.deepEqual(dataRows.map((r) => r[7] === 'retransmission'), carrying.map((f) => f.retransmit), 'retransmissions marked');
    const ackRow = rows.find((r) => r[1] === 'covering ACK');
    assert.ok(covering, 'the capture saw the ACK');
    assert.equal(Number(ackRow?.[0]), covering.frameNo, 'and the covering ACK');
    detailFrames = [...carrying.map((f) => f.frameNo as number), covering.frameNo as number];

    const highlighted = await page().evaluate(() => (window as unknown as { ackscopePage: { selectedOnSequence(): [number, number] } }).ackscopePage.selectedOnSequence());
    assert.deepEqual(highlighted, [carrying.length, 1], 'its segments and the ACK are drawn highlighted on the time-sequence graph');
    const framed = await page().evaluate(() => (window as unknown as { ackscopePage: { selectedOnTimeline(): number[] } }).ackscopePage.selectedOnTimeline());
    assert.deepEqual(framed, [writeId], 'and the write is framed on the timeline');

    // the filter selects exactly those frames in the exported pcapng, as tshark numbers them
    const filter = (await page().locator('#wireshark-filter').textContent())!;
    const pcapng = join(shots, `session-${liveId}.pcapng`);
    writeFileSync(pcapng, Buffer.from(await (await fetch(`${url}/sessions/${liveId}/export/capture.pcapng`)).arrayBuffer()));
    const selected = tshark(pcapng, filter, ['frame.number', 'tcp.seq', 'tcp.len', 'tcp.ack']);
    assert.deepEqual(selected.map((f) => Number(f[0])), detailFrames, `tshark -Y '${filter}' selects the listed frames`);
    for (const f of selected.slice(0, -1)) {
      const api_ = carrying.find((x) => x.frameNo === Number(f[0]))!;
      assert.equal(Number(f[1]) - 1, api_.seqOff, 'tshark’s relative seq is the stream offset + 1');
      assert.equal(Number(f[2]), api_.payloadLen);
    }
    assert.equal(Number(selected[selected.length - 1][3]) - 1, covering.ackOff);
    await page().locator('#write-detail').scrollIntoViewIfNeeded();
    await shot(t, '6-write-frames');

    // the keyboard way: type a write id
    await page().fill('#write-pick', '0');
    await page().press('#write-pick', 'Enter');
    await page().waitForFunction(() => document.querySelector<HTMLElement>('#write-detail')?.dataset.writeId === '0');
  });

  test('import: a dropped file that is not a capture is refused in words; a capture chosen with the file picker becomes a session', async (t) => {
    await page().goto(`${url}/#/`);
    await ready();
    // dropped on the box (a real drop event carrying a File), not picked
    const dataTransfer = await page().evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['this is not a capture file, just text\n'.repeat(10)], 'notes.pcap', { type: 'application/octet-stream' }));
      return dt;
    });
    await page().dispatchEvent('#import-drop', 'dragover', { dataTransfer });
    await page().dispatchEvent('#import-drop', 'drop', { dataTransfer });
    await page().waitForFunction(() => /was not imported/.test(document.querySelector('#import-status')?.textContent ?? ''));
    const refusal = (await page().locator('#import-status').textContent())!;
    assert.match(refusal, /notes\.pcap was not imported\. This is not a capture file the service can read/, refusal);
    expectRefusals(/status of 400.*\/import/, 1);
    await shot(t, '7-import-refused');
    const names = ((await (await fetch(`${url}/sessions`)).json()).items as Json[]).map((s) => s.name);
    assert.ok(!names.includes('notes.pcap'), 'the refused file left no session');

    const pcapng = join(shots, `session-${liveId}.pcapng`);
    // every text the status line shows, kept across the navigation that follows the upload
    await page().evaluate(() => {
      const seen: string[] = ((window as unknown as { importStatus: string[] }).importStatus = []);
      const status = document.querySelector('#import-status')!;
      new MutationObserver(() => seen.push(status.textContent ?? '')).observe(status, { childList: true, characterData: true, subtree: true });
    });
    await page().setInputFiles('#import-file', pcapng);
    await page().waitForFunction(() => document.body.dataset.view === 'session' && document.querySelector<HTMLElement>('#flow-charts')?.dataset.drawn === 'true', null, { timeout: 60_000 });
    importedId = Number(/#\/sessions\/(\d+)/.exec(page().url())![1]);
    const statuses = await page().evaluate(() => (window as unknown as { importStatus: string[] }).importStatus);
    assert.ok(
      statuses.some((text) => new RegExp(`^uploading session-${liveId}\\.pcapng: .+ of .+ \\(100%\\)$`).test(text)),
      `upload progress shown (${statuses.join(' | ')})`,
    );
    const imported = (await (await fetch(`${url}/sessions/${importedId}`)).json()) as Json;
    const live = (await (await fetch(`${url}/sessions/${liveId}`)).json()) as Json;
    assert.equal(imported.kind, 'import');
    assert.equal(imported.sourceFile, `session-${liveId}.pcapng`);
    assert.equal(imported.counts.frames, live.counts.frames, 'every frame of the exported capture imported');
    // the same completions posted to the copy: the compare view must then show two equal sessions
    const posted = await fetch(`${url}/sessions/${importedId}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sent) });
    assert.ok(posted.status < 300, await posted.text());
    await shot(t, '8-imported');
  });

  test('compare two sessions side by side; delete one with a confirmation', async (t) => {
    await page().goto(`${url}/#/`);
    await ready();
    await page().check(`#session-list tr[data-session="${liveId}"] input.compare-pick`);
    await page().check(`#session-list tr[data-session="${importedId}"] input.compare-pick`);
    await page().click('#compare-button');
    await page().waitForFunction(() => document.querySelector<HTMLElement>('#compare-chart')?.dataset.drawn === 'true');
    const rows = await page().$$eval('#compare-table tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-session')));
    assert.deepEqual(rows.map(Number).sort(), [liveId, importedId].sort());
    // each row says what that session's own summary says (the copy may differ at the edges:
    // a live capture watched until its stop, the file only until its last frame)
    for (const id of [liveId, importedId]) {
      const summary = (await (await fetch(`${url}/sessions/${id}/summary`)).json()) as Json;
      const row = await page().$$eval(`#compare-table tr[data-session="${id}"] td`, (tds) => tds.map((td) => td.textContent));
      assert.equal(row[1], String(summary.overall.completions));
      STAGE_NAMES.forEach((stage, i) => {
        const share = summary.overall.stages[stage]?.share ?? 0;
        assert.equal(row[2 + i], share === 0 ? '0%' : share < 0.001 ? '<0.1%' : `${(share * 100).toFixed(1)}%`, `${id} ${stage}`);
      });
    }
    await shot(t, '9-compare');

    await page().goto(`${url}/#/sessions/${importedId}`);
    await page().waitForFunction(() => document.querySelector<HTMLElement>('#flow-charts')?.dataset.drawn === 'true');
    // cancelled: nothing happens
    page().once('dialog', (d) => void d.dismiss());
    await page().click('#delete-button');
    await page().waitForFunction(() => !(document.querySelector<HTMLButtonElement>('#delete-button')?.disabled ?? true));
    assert.equal((await fetch(`${url}/sessions/${importedId}`)).status, 200, 'kept when the confirmation is cancelled');
    assert.equal(await page().evaluate(() => document.body.dataset.view), 'session');
    page().once('dialog', (d) => void d.accept());
    await page().click('#delete-button');
    await page().waitForFunction(() => document.body.dataset.view === 'list' && document.body.dataset.ready === 'true');
    assert.equal((await fetch(`${url}/sessions/${importedId}`)).status, 404, 'deleted');
    assert.deepEqual(watched.errors, [], 'no console errors in any step');
  });

  test('trace a running program from the page: its sends arrive in the session with their kernel witness', async (t) => {
    const created = await fetch(`${url}/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'traced from the page', kind: 'live', interface: 'lo', filter: `tcp port ${receiver.port}` }),
    });
    const id = ((await created.json()) as Json).id as number;
    await fetch(`${url}/sessions/${id}/start`, { method: 'POST' });
    // an unchanged Python client that waits for a line before it connects and sends
    const script = `import socket, sys\nsys.stdin.readline()\ns = socket.create_connection(("127.0.0.1", ${receiver.port}))\nfor i in range(20): s.sendall(b"t" * 3000)\ns.close()\n`;
    const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'ignore', 'inherit'] });
    await once(child, 'spawn');
    await page().goto(`${url}/#/sessions/${id}`);
    await page().waitForSelector('#trace-pid');
    await page().fill('#trace-pid', String(child.pid));
    await page().click('#trace-button');
    await page().waitForFunction(() => /tracing process/.test(document.querySelector('#action-status')?.textContent ?? ''));
    await shot(t, '10-trace-pid');
    await new Promise((r) => setTimeout(r, 300)); // the tracer attaches
    child.stdin!.end('go\n');
    await once(child, 'exit');
    let traced = await fetch(`${url}/sessions/${id}/trace`);
    for (let i = 0; i < 100 && traced.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      traced = await fetch(`${url}/sessions/${id}/trace`);
    }
    assert.equal(traced.status, 200, 'the trace ended with the program');
    await fetch(`${url}/sessions/${id}/stop`, { method: 'POST' });
    const items = ((await (await fetch(`${url}/sessions/${id}/correlations?limit=100`)).json()) as Json).items as Json[];
    assert.equal(items.length, 20, 'one record per sendall');
    assert.ok(items.every((c) => c.kernel !== null && String(c.api).startsWith('linux:')), 'each with its kernel witness');

    // the session's page: a marker per kernel moment of each write, where the stored witness puts it
    await page().goto(`${url}/#/sessions/${id}`);
    await page().waitForFunction(() => document.querySelector<HTMLElement>('#flow-charts')?.dataset.drawn === 'true', null, { timeout: 60_000 });
    await ready();
    await page().locator('#timeline-chart').scrollIntoViewIfNeeded();
    type Drawn = { baseNs: string; series: { name: string; symbol: string; color: string; points: { data: number[]; drawnAt: [number, number] | null }[] }[] };
    const drawn = await page().evaluate(() => (window as unknown as { ackscopePage: { kernelMarkers(): Drawn } }).ackscopePage.kernelMarkers());
    // the witness: the kernel_witness rows of the session's completions, in the database
    const columns = [
      ['qdisc in', 'qdisc_in_ns'],
      ['qdisc out', 'qdisc_out_ns'],
      ['driver', 'driver_ns'],
      ['ACK arrived', 'ack_arrived_ns'],
      ['ACK processed', 'ack_processed_ns'],
    ] as const;
    const rows = app.db
      .prepare(
        `SELECT c.write_id, ${columns.map(([, col]) => `k.${col}`).join(', ')}
           FROM kernel_witness k JOIN completions c ON c.id = k.completion_id WHERE c.session_id = ? ORDER BY c.write_id`,
      )
      .safeIntegers(true)
      .all(id) as Record<string, bigint | null>[];
    assert.equal(rows.length, 20, 'a stored witness per write');
    const kinds = columns.filter(([, col]) => rows.some((r) => r[col] !== null));
    assert.deepEqual(drawn.series.map((x) => x.name), kinds.map(([label]) => `kernel: ${label}`), 'one marker kind per moment the tracer saw (lo has no qdisc: no qdisc out)');
    assert.ok(kinds.length >= 3, `qdisc in, driver and ACK moments at least (${kinds.map(([l]) => l).join(', ')})`);
    assert.equal(new Set(drawn.series.map((x) => x.symbol)).size, drawn.series.length, 'each kind its own shape');
    assert.equal(new Set(drawn.series.map((x) => x.color)).size, drawn.series.length, 'and its own colour');
    for (const [label, col] of kinds) {
      const series = drawn.series.find((x) => x.name === `kernel: ${label}`)!;
      const expected = rows.filter((r) => r[col] !== null);
      assert.deepEqual(series.points.map((p) => p.data[1]), expected.map((r) => Number(r.write_id)), `${label}: a marker for each write whose witness has it`);
      for (const r of expected) {
        const tUs = Number(r[col]! - BigInt(drawn.baseNs)) / 1000;
        const p = series.points.find((x) => x.data[1] === Number(r.write_id))!;
        assert.ok(Math.abs(p.data[0] - tUs) < 0.002, `${label} of write ${r.write_id}: at ${p.data[0]} µs, stored ${tUs} µs`);
        assert.ok(p.drawnAt, `${label} of write ${r.write_id} is drawn`);
        const at = await page().evaluate(
          ([t, w]) => (window as unknown as { ackscopePage: { timelinePixel(t: number, w: number): [number, number] } }).ackscopePage.timelinePixel(t, w),
          [tUs, Number(r.write_id)] as const,
        );
        assert.ok(Math.hypot(p.drawnAt[0] - at[0], p.drawnAt[1] - at[1]) < 1, `${label} of write ${r.write_id}: drawn at ${p.drawnAt}, the stored moment is at ${at}`);
      }
    }
    const note = (await page().locator('#kernel-markers-note').textContent())!;
    assert.match(note, /■ qdisc in, ▼ qdisc out, ▶ driver, ✚ ACK arrived, ✖ ACK processed/);
    // hovering a marker names its write and moment (the last kind is drawn on top: on lo the moments are µs apart)
    const top = drawn.series.at(-1)!;
    const marker = top.points[10];
    await page().mouse.move(marker.drawnAt![0] - 30, marker.drawnAt![1]);
    await page().mouse.move(marker.drawnAt![0], marker.drawnAt![1], { steps: 4 });
    await page().waitForFunction(
      (want) => (document.querySelector('.timeline-tooltip')?.textContent ?? '').includes(want),
      `write ${marker.data[1]}: ${top.name} at`,
      { timeout: 5000 },
    );
    await shot(t, '11-kernel-markers');
    assert.deepEqual(watched.errors, [], 'no console errors');
  });
});

describe('with a bearer token required (the ops branch’s ACKSCOPE_TOKEN, stood in for by an onRequest hook)', () => {
  const TOKEN = 'page-test-token';
  /** The page's shell (HTML, bundle) holds no data and must load before any header can be sent. */
  const OPEN = new Set(['/', '/healthz', '/ui/main.js', '/ui/main.css', '/ui/main.js.map', '/ui/main.css.map']);

  test('the page asks for the token once on a 401, keeps it for the tab, sends it on every call and on uploads', async (t) => {
    const { app, close } = await testApp();
    const refused: string[] = [];
    const authorized: string[] = [];
    app.addHook('onRequest', async (req, reply) => {
      const path = req.url.split('?')[0];
      if (OPEN.has(path)) return;
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        refused.push(`${req.method} ${path}`);
        return reply.code(401).send({ error: { code: 'ACKSCOPE_ERR_UNAUTHORIZED', message: 'this service needs a bearer token (ACKSCOPE_TOKEN)' } });
      }
      authorized.push(`${req.method} ${path}`);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const browser = await HeadlessChromium.launch();
    try {
      const { page, errors } = await browser.newPage();
      await page.goto(`${url}/#/`);
      const dialog = page.locator('dialog.token-dialog');
      await dialog.waitFor({ state: 'visible' });
      assert.match((await dialog.textContent())!, /needs a bearer token/);
      await page.screenshot({ path: join(mkdtempSync(join(tmpdir(), 'ackscope-web-shots-token-')), 'token-form.png') });
      await page.fill('#token-input', TOKEN);
      await page.press('#token-input', 'Enter');
      await page.waitForFunction(() => document.body.dataset.ready === 'true' && document.querySelector('#sessions') !== null);
      assert.equal(await dialog.count(), 0, 'the form is gone');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('ackscope-token')), TOKEN);
      assert.ok(authorized.includes('GET /ui/data/sessions'), 'the refused call was retried with the token');
      const refusedBefore = refused.length;
      assert.ok(refusedBefore >= 1 && refusedBefore <= 2, `the first calls were refused once each (${refused.join(', ')})`);

      // an upload (XMLHttpRequest) carries it too
      const pcap = Buffer.alloc(24);
      pcap.writeUInt32LE(0xa1b2c3d4, 0);
      pcap.writeUInt16LE(2, 4);
      pcap.writeUInt16LE(4, 6);
      pcap.writeUInt32LE(65535, 16);
      pcap.writeUInt32LE(1, 20);
      await page.setInputFiles('#import-file', { name: 'empty.pcap', mimeType: 'application/octet-stream', buffer: pcap });
      await page.waitForFunction(() => document.body.dataset.view === 'session' && document.body.dataset.ready === 'true');
      assert.ok(authorized.some((r) => /^POST \/sessions\/\d+\/import$/.test(r)), 'the upload was authorized');

      // a reload in the same tab asks nothing: the token is kept for the tab
      await page.reload();
      await page.waitForFunction(() => document.body.dataset.ready === 'true');
      assert.equal(await dialog.count(), 0);
      assert.equal(refused.length, refusedBefore, 'no call refused once the tab holds the token');
      const unexpected = errors.filter((e) => !/status of 401/.test(e));
      assert.deepEqual(unexpected, [], 'no console errors but the logged 401s');
      t.diagnostic(`refused before the token: ${refused.join(', ')}`);
    } finally {
      await browser.close();
      await close();
    }
  });
});
