/**
 * The web page on large sessions and live: prints figures, asserts nothing.
 *
 * 1. A flow of N writes (default 100,000; frames, ACKs and completions written straight
 *    into SQLite): the page's routes (size, time) and the time a real headless Chromium
 *    takes from navigation to both charts drawn.
 * 2. A 1,000,000-frame capture (500,000 data segments and 500,000 ACKs in one flow, a
 *    write per 5 segments): the same.
 * 3. Live (root): a capture on lo, the live view open; the time from a burst of frames
 *    sent on a loopback connection to the page showing the new count, over 10 bursts.
 *
 *   node --import tsx bench/web-page.ts [writes=100000] [frames=1000000]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type AddressInfo } from 'node:net';
import { buildApp, type App } from '../service/app.js';
import { SyntheticSession } from '../fixtures/flowbuilder.js';
import { HeadlessChromium, chromiumMissing } from '../fixtures/browser.js';
import { startReceiver } from '../sender/index.js';

const writes = Number(process.argv[2] ?? 100_000);
const frames = Number(process.argv[3] ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-web-'));
const shots = mkdtempSync(join(tmpdir(), 'ackscope-bench-web-shots-'));
const app = await buildApp({ dbPath: join(dir, 'bench.db'), logger: false });
const readLoadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** One flow: `segments` data segments of `segBytes`, an ACK after each `ackEvery`, a completion per `perWrite` segments. */
function syntheticFlow(name: string, segments: number, ackEvery: number, perWrite: number): number {
  // one segment every 10 µs: on the wire 2–40 µs after its send call, ACKed 30 µs after that;
  // the completion lands before, between or after those moments so every stage shows
  const s = new SyntheticSession(app.db, name);
  const a: [string, number] = ['10.0.0.1', 40000];
  const b: [string, number] = ['10.0.0.2', 7000];
  const segBytes = 1000;
  app.db.transaction(() => {
    const f = s.flow({ a, b });
    for (let i = 0; i < segments; i++) {
      const t = 10 + i * 10;
      const wire = t + 2 + (i % 39);
      f.segment(wire, i * segBytes, segBytes);
      if (i % ackEvery === ackEvery - 1) f.ack(wire + 30, (i + 1) * segBytes);
      if (i % perWrite === perWrite - 1) {
        const w = (i + 1) / perWrite - 1;
        const submitted = 10 + (i + 1 - perWrite) * 10;
        const completed = t + [1, 20, 60, 90][w % 4];
        s.completion({ src: a, dst: b, writeId: w, start: w * perWrite * segBytes, end: (w + 1) * perWrite * segBytes, submittedUs: submitted, completedUs: completed });
      }
    }
    s.finish({ startedUs: 0, stoppedUs: 10 + segments * 10 + 200 });
  })();
  return s.id;
}

async function routes(id: number, label: string): Promise<void> {
  const flow = (await app.inject({ url: `/sessions/${id}/flows` })).json().items[0].id as number;
  let t0 = performance.now();
  const summary = await app.inject({ url: `/sessions/${id}/summary` });
  console.log(`[${label}] summary (correlation): ${(performance.now() - t0).toFixed(0)} ms, status ${summary.statusCode}`);
  t0 = performance.now();
  const timeline = await app.inject({ url: `/ui/data/sessions/${id}/timeline?flow=${flow}` });
  const tl = timeline.json();
  console.log(`[${label}] timeline route: ${(performance.now() - t0).toFixed(0)} ms, ${(timeline.body.length / 1e6).toFixed(2)} MB, ${tl.shown} of ${tl.total} writes`);
  t0 = performance.now();
  const sequence = await app.inject({ url: `/ui/data/sessions/${id}/sequence?flow=${flow}` });
  const sq = sequence.json();
  console.log(
    `[${label}] sequence route: ${(performance.now() - t0).toFixed(0)} ms, ${(sequence.body.length / 1e6).toFixed(2)} MB, ` +
      `${sq.segments.tUs.length} of ${sq.segmentsTotal} segments, ${sq.acks.tUs.length} of ${sq.acksTotal} ACKs`,
  );
}

async function chartsDrawn(browser: HeadlessChromium, url: string, id: number, label: string): Promise<void> {
  const { page, errors } = await browser.newPage();
  await page.goto(`${url}/#/`); // warm: bundle loaded and compiled once
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  const t0 = performance.now();
  await page.goto(`${url}/?t=${id}#/sessions/${id}`);
  await page.waitForFunction(() => document.querySelector<HTMLElement>('#flow-charts')?.dataset.drawn === 'true', null, { timeout: 600_000, polling: 20 });
  const ms = performance.now() - t0;
  const shot = join(shots, `web-bench-${label}.png`);
  writeFileSync(shot, await page.screenshot({ fullPage: true }));
  console.log(`[${label}] browser: navigation to both charts drawn: ${ms.toFixed(0)} ms (errors: ${errors.length}; load ${readLoadavg()}); screenshot ${shot}`);
  await page.close();
}

async function liveLatency(browser: HeadlessChromium, url: string): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('[live] skipped: capturing on lo needs root');
    return;
  }
  const receiver = await startReceiver({ port: 0, host: '127.0.0.1' });
  const created = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'live bench', kind: 'live', interface: 'lo', filter: `tcp port ${receiver.port}` } });
  const id = created.json().id as number;
  const started = await app.inject({ method: 'POST', url: `/sessions/${id}/start` });
  if (started.statusCode !== 200) throw new Error(started.body);
  const { page } = await browser.newPage();
  await page.goto(`${url}/#/sessions/${id}`);
  await page.waitForFunction(() => document.querySelector<HTMLElement>('#live')?.dataset.ticks !== undefined);
  const socket = connect(receiver.port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const latencies: number[] = [];
  for (let burst = 0; burst < 10; burst++) {
    const before = Number(await page.evaluate(() => document.querySelector<HTMLElement>('#live')!.dataset.frames));
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 700)); // land anywhere in the poll cycle
    const t0 = performance.now();
    socket.write(Buffer.alloc(1000, 0x61));
    await page.waitForFunction((n) => Number(document.querySelector<HTMLElement>('#live')!.dataset.frames) > n, before, { polling: 10, timeout: 30_000 });
    latencies.push(performance.now() - t0);
  }
  socket.end();
  latencies.sort((a, b) => a - b);
  console.log(
    `[live] frame sent → count shown on the page: median ${latencies[5].toFixed(0)} ms, min ${latencies[0].toFixed(0)}, max ${latencies[9].toFixed(0)} ms ` +
      `(10 bursts; page polls every 1 s, the capture commits every 100 ms; load ${readLoadavg()})`,
  );
  await page.close();
  await app.inject({ method: 'POST', url: `/sessions/${id}/stop` });
  await receiver.close();
}

try {
  console.log(`load before: ${readLoadavg()}`);
  const flowSession = syntheticFlow(`${writes} writes`, writes, 2, 1);
  await routes(flowSession, `${writes} writes`);
  const captureSession = syntheticFlow(`${frames} frames`, frames / 2, 1, 5);
  await routes(captureSession, `${frames} frames`);

  const missing = chromiumMissing();
  if (missing) {
    console.log(`browser: skipped (${missing})`);
  } else {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const browser = await HeadlessChromium.launch();
    try {
      await chartsDrawn(browser, url, flowSession, `${writes}-writes`);
      await chartsDrawn(browser, url, captureSession, `${frames}-frames`);
      await liveLatency(browser, url);
    } finally {
      await browser.close();
    }
  }
} finally {
  await (app as App).close();
  rmSync(dir, { recursive: true, force: true });
}
