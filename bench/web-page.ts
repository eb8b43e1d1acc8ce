/**
 * The web page on a large session: a synthetic flow of N writes (frames, ACKs and
 * completions written straight into SQLite), then the page's timeline and time-sequence
 * routes (size, time; thinned to 20k writes / 10k points) and the time a real headless
 * Chromium takes from navigation to both charts drawn. Prints figures, asserts nothing.
 *
 *   node --import tsx bench/web-page.ts [writes=100000]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../service/app.js';
import { SyntheticSession } from '../fixtures/flowbuilder.js';
import { Chromium, ensureChromium } from '../fixtures/chromium.js';

const writes = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-web-'));
const app = await buildApp({ dbPath: join(dir, 'bench.db'), logger: false });
try {
  // one write every 10 µs of 1000 bytes: on the wire 2–40 µs later, ACKed 30 µs after that;
  // the completion lands before, between or after those moments so every stage shows
  const s = new SyntheticSession(app.db, 'web bench');
  const a: [string, number] = ['10.0.0.1', 40000];
  const b: [string, number] = ['10.0.0.2', 7000];
  app.db.transaction(() => {
    const f = s.flow({ a, b });
    for (let i = 0; i < writes; i++) {
      const t = 10 + i * 10;
      const wire = t + 2 + (i % 39);
      f.segment(wire, i * 1000, 1000);
      if (i % 2 === 1) f.ack(wire + 30, (i + 1) * 1000);
      const completed = t + [1, 20, 60, 90][i % 4];
      s.completion({ src: a, dst: b, writeId: i, start: i * 1000, end: (i + 1) * 1000, submittedUs: t, completedUs: completed });
    }
    s.finish({ startedUs: 0, stoppedUs: 10 + writes * 10 + 200 });
  })();

  let t0 = performance.now();
  const summary = await app.inject({ url: `/sessions/${s.id}/summary` });
  console.log(`summary (correlation of ${writes} writes): ${(performance.now() - t0).toFixed(0)} ms, status ${summary.statusCode}`);
  t0 = performance.now();
  const timeline = await app.inject({ url: `/ui/data/sessions/${s.id}/timeline?flow=1` });
  const tl = timeline.json();
  console.log(`timeline route: ${(performance.now() - t0).toFixed(0)} ms, ${(timeline.body.length / 1e6).toFixed(2)} MB, ${tl.shown} of ${tl.total} writes`);
  t0 = performance.now();
  const sequence = await app.inject({ url: `/ui/data/sessions/${s.id}/sequence?flow=1` });
  const sq = sequence.json();
  console.log(
    `sequence route: ${(performance.now() - t0).toFixed(0)} ms, ${(sequence.body.length / 1e6).toFixed(2)} MB, ` +
      `${sq.segments.tUs.length} of ${sq.segmentsTotal} segments, ${sq.acks.tUs.length} of ${sq.acksTotal} ACKs`,
  );

  const missing = ensureChromium();
  if (missing) {
    console.log(`browser: skipped (${missing})`);
  } else {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const browser = Chromium.launch();
    try {
      const page = await browser.newPage(1400, 1000);
      await page.goto(`${url}/#/`); // warm: bundle loaded and compiled once
      await page.waitFor(`document.body.dataset.ready === 'true'`);
      writeFileSync(join(tmpdir(), 'ackscope-web-bench-list.png'), await page.screenshot());
      t0 = performance.now();
      await page.goto(`${url}/?t=1#/sessions/${s.id}`);
      const drawn = await page.waitFor(`document.querySelector('#flow-charts')?.dataset.drawn === 'true'`, 1200);
      console.log(`browser: navigation to both charts drawn: ${(performance.now() - t0).toFixed(0)} ms (drawn: ${drawn}; errors: ${page.errors.length})`);
      const shot = join(tmpdir(), `ackscope-web-bench-${writes}.png`);
      writeFileSync(shot, await page.screenshot());
      console.log(`screenshots: ${shot}, ${join(tmpdir(), 'ackscope-web-bench-list.png')}`);
    } finally {
      await browser.close();
    }
  }
} finally {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
