// The web page (service/routes/web.ts, service/web/): served by the app, and rendered by
// a real headless Chromium against a real listen, on a session made from real loopback
// traffic (tcpdump capture imported through the API, the sender's completions posted).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testApp } from './helpers/app.js';
import { startTcpdump } from './helpers/wire.js';
import { Chromium, ensureChromium } from '../fixtures/chromium.js';
import { runWorkload, startReceiver, type CompletionRecord } from '../sender/index.js';
import { nativeAvailable } from '../capture/native/index.js';
import { STAGE_NAMES } from '../service/web/src/shapes.js';
import type { App } from '../service/app.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const WRITES = 150;

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

describe('web page on a captured session (root: tcpdump on lo)', () => {
  let app: App;
  let close: () => Promise<void>;
  let dir: string;
  let sessionId: number;
  let flowId: number;

  before(async () => {
    assert.ok(nativeAvailable(), 'the capture addon must be built (scripts/build.sh): the sender reads CLOCK_REALTIME through it');
    assert.equal(process.getuid?.(), 0, 'tcpdump on lo needs root');
    ({ app, close, dir } = await testApp());
    const { file, records } = await capturedWrites(dir);
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

  test('headless Chromium renders the session list and the session with its charts', async (t) => {
    const missing = ensureChromium();
    assert.equal(missing, null, missing ?? '');
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const browser = Chromium.launch();
    try {
      const page = await browser.newPage(1400, 1000);
      await page.goto(`${url}/#/`);
      assert.ok(await page.waitFor(`document.body.dataset.ready === 'true'`), 'the list rendered');
      const row = await page.evaluate<string[]>(
        `[...document.querySelectorAll('#session-list tr[data-session="${sessionId}"] td')].map((td) => td.textContent)`,
      );
      assert.equal(row[0], String(sessionId));
      assert.equal(row[1], 'web page');
      assert.equal(row[3], 'stopped');
      assert.equal(row[7], String(WRITES), 'completions column');

      await page.evaluate(`document.querySelector('#session-list a[href="#/sessions/${sessionId}"]').click()`);
      assert.ok(
        await page.waitFor(`document.body.dataset.view === 'session' && document.querySelector('#flow-charts')?.dataset.drawn === 'true'`),
        'the session view and its charts rendered',
      );
      const legend = await page.evaluate<string>(`document.querySelector('#stage-legend').textContent`);
      for (const stage of STAGE_NAMES) assert.ok(legend.includes(stage), `legend has ${stage}`);
      const charts = await page.evaluate<Json>(`(() => {
        const inked = (box) => {
          let n = 0;
          for (const c of box.querySelectorAll('canvas')) {
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && (px[i] < 200 || px[i + 1] < 200 || px[i + 2] < 200)) n++;
          }
          return n;
        };
        const tl = document.querySelector('#timeline-chart');
        const sq = document.querySelector('#sequence-chart');
        return {
          timelineCanvases: tl.querySelectorAll('canvas').length, timelineWrites: tl.dataset.writes, timelineInk: inked(tl),
          sequenceCanvases: sq.querySelectorAll('canvas').length, sequenceSegments: Number(sq.dataset.segments), sequenceInk: inked(sq),
          exports: [...document.querySelectorAll('#exports a')].map((a) => a.getAttribute('href')),
          summaryRows: document.querySelectorAll('#summary table.summary tbody tr').length,
          text: document.querySelector('#exports').textContent,
        };
      })()`);
      assert.ok(charts.timelineCanvases >= 1, 'the timeline is drawn on a canvas');
      assert.equal(charts.timelineWrites, String(WRITES));
      assert.ok(charts.timelineInk > 2000, `the timeline canvas has marks (${charts.timelineInk} px)`);
      assert.ok(charts.sequenceCanvases >= 1);
      assert.ok(charts.sequenceSegments > 0);
      assert.ok(charts.sequenceInk > 2000, `the time-sequence canvas has marks (${charts.sequenceInk} px)`);
      for (const name of ['capture.pcapng', 'timeline.json', 'timeline.csv', 'trace.json']) {
        assert.ok((charts.exports as string[]).includes(`/sessions/${sessionId}/export/${name}`), name);
      }
      assert.match(charts.text, /ui\.perfetto\.dev/);
      assert.ok(charts.summaryRows >= 3, 'overall, per flow and per api rows');
      for (const href of charts.exports as string[]) {
        const res = await fetch(`${url}${href}`);
        assert.equal(res.status, 200, `${href} works`);
        assert.ok((await res.arrayBuffer()).byteLength > 0, `${href} has content`); // read whole: frees the connection
      }
      assert.deepEqual(page.errors, [], 'no errors in the page');

      const png = await page.screenshot();
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
      // kept only when asked for (to look at it): ACKSCOPE_SCREENSHOT_DIR=/tmp
      if (process.env.ACKSCOPE_SCREENSHOT_DIR) {
        const shot = join(process.env.ACKSCOPE_SCREENSHOT_DIR, `ackscope-web-session-${sessionId}.png`);
        writeFileSync(shot, png);
        t.diagnostic(`screenshot: ${shot}`);
      }
    } finally {
      await browser.close();
    }
  });
});
