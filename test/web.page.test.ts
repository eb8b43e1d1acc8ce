// The web page (service/routes/web.ts, service/web/): served by the app, and rendered by
// a real headless Chromium against a real listen, on a session made from real loopback
// traffic (tcpdump capture imported through the API, the sender's completions posted).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testApp } from './helpers/app.js';
import { startTcpdump } from './helpers/wire.js';
import { HeadlessChromium, chromiumMissing, type WatchedPage } from '../fixtures/browser.js';
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

describe('the page’s data routes on a captured session (root: tcpdump on lo)', () => {
  let app: App;
  let close: () => Promise<void>;
  let dir: string;
  let sessionId: number;
  let flowId: number;
  let capturedFile: string;

  before(async () => {
    assert.ok(nativeAvailable(), 'the capture addon must be built (scripts/build.sh): the sender reads CLOCK_REALTIME through it');
    assert.equal(process.getuid?.(), 0, 'tcpdump on lo needs root');
    ({ app, close, dir } = await testApp());
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
