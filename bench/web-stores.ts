/**
 * The web page's data routes on each store, side by side in one run, through the service's
 * routes (inject): a synthetic capture imported and its completions posted (not measured),
 * the correlation warmed by one summary, then the page's questions: the session list, the
 * live counters, a flow's time-sequence graph (every frame of the flow read), its
 * timeline, and the frames of many single writes (the page's click on a write).
 * SQLite first, then ClickHouse (one node; Debian's 18.16 started by
 * fixtures/clickhouse-server.ts). Prints figures; checks only that both stores answer the
 * same.
 *
 *   node --import tsx bench/web-stores.ts [--frames 200000] [--completions 20000] [--flows 4] [--writes 200]
 *
 * Per step: wall time, this process's CPU time, and on ClickHouse the server's CPU time
 * (/proc/PID/stat); /proc/loadavg beside each line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { buildApp, type App } from '../service/app.js';
import { completionToApi } from '../service/routes/completions.js';
import { chooseStore } from '../clickhouse/store-url.js';
import { startClickHouse } from '../fixtures/clickhouse-server.js';
import { syntheticCapture, syntheticCompletions } from '../fixtures/synthetic-capture.js';
import { loadAverage, ownCpuS, processCpuS } from './process-cpu.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '200000' },
    completions: { type: 'string', default: '20000' },
    flows: { type: 'string', default: '4' },
    writes: { type: 'string', default: '200' },
  },
});
const FRAMES = Number(values.frames);
const COMPLETIONS = Number(values.completions);
const FLOWS = Number(values.flows);
const WRITES = Number(values.writes);

async function measure<T>(label: string, store: string, serverPid: number | undefined, step: () => Promise<T>): Promise<T> {
  const wall0 = performance.now();
  const cpu0 = ownCpuS();
  const server0 = serverPid === undefined ? 0 : processCpuS(serverPid);
  const out = await step();
  const wallS = (performance.now() - wall0) / 1000;
  const cpu = ownCpuS() - cpu0;
  const server = serverPid === undefined ? null : processCpuS(serverPid) - server0;
  console.log(
    `${store.padEnd(10)} ${label.padEnd(34)} ${wallS.toFixed(3)} s wall; ackscope CPU ${cpu.toFixed(2)} s` +
      (server === null ? '' : `, ClickHouse server CPU ${server.toFixed(2)} s`) +
      `  [load ${loadAverage()}]`,
  );
  return out;
}

async function json(app: App, url: string): Promise<unknown> {
  const res = await app.inject({ url });
  if (res.statusCode !== 200) throw new Error(`${url}: ${res.body.slice(0, 300)}`);
  return res.json();
}

async function run(app: App, store: string, file: Buffer, ndjson: string, serverPid?: number): Promise<unknown[]> {
  const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'bench', kind: 'import' } })).json().id as number;
  if ((await app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: file })).statusCode !== 200) throw new Error('import');
  const posted = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, headers: { 'content-type': 'application/x-ndjson' }, payload: ndjson });
  if (posted.statusCode !== 200) throw new Error(posted.body);
  await json(app, `/sessions/${id}/summary`); // correlates once: the page's routes then read the cached correlation
  const flows = ((await json(app, `/sessions/${id}/flows`)) as { items: { id: number; frames: number }[] }).items;
  const busiest = flows.reduce((a, b) => (b.frames > a.frames ? b : a));
  const list = await measure('GET /ui/data/sessions', store, serverPid, () => json(app, '/ui/data/sessions'));
  const live = await measure('GET …/live', store, serverPid, () => json(app, `/ui/data/sessions/${id}/live`));
  const sequence = await measure(`GET …/sequence (${busiest.frames.toLocaleString('en')} frames)`, store, serverPid, () =>
    json(app, `/ui/data/sessions/${id}/sequence?flow=${busiest.id}`),
  );
  const timeline = await measure('GET …/timeline', store, serverPid, () => json(app, `/ui/data/sessions/${id}/timeline?flow=${busiest.id}`));
  const step = Math.max(1, Math.floor(COMPLETIONS / WRITES));
  const writes = await measure(`GET …/writes/:id × ${WRITES}`, store, serverPid, async () => {
    const out: unknown[] = [];
    for (let i = 0; i < WRITES; i++) out.push(await json(app, `/ui/data/sessions/${id}/writes/${1 + i * step}`));
    return out;
  });
  const { items } = list as { items: Record<string, unknown>[] };
  return [items.map(({ createdAt: _c, ...rest }) => rest), live, sequence, timeline, writes];
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-web-'));
  const { file, segments } = syntheticCapture({ frames: FRAMES, flows: FLOWS });
  const rows = syntheticCompletions(segments, COMPLETIONS);
  const ndjson = rows.map((row) => {
    const { id: _id, ...record } = completionToApi({ ...row, id: 0 });
    return JSON.stringify(record);
  }).join('\n') + '\n';
  console.log(`${FRAMES.toLocaleString('en')} frames, ${rows.length.toLocaleString('en')} completions, ${FLOWS} flows`);
  const server = await startClickHouse();
  try {
    const lite = await buildApp({ dbPath: join(dir, 'bench.db'), logger: false });
    const liteAnswers = await run(lite, 'sqlite', file, ndjson);
    await lite.close();
    const ch = await buildApp({ dbPath: join(dir, 'unused.db'), logger: false, store: chooseStore(server.url('ackscope_bench')) });
    await ch.inject({ url: '/healthz' }); // migrated on first use: not part of the figures
    const chAnswers = await run(ch, 'clickhouse', file, ndjson, server.nodes[0].pid);
    await ch.close();
    console.log(`answers equal: ${JSON.stringify(liteAnswers) === JSON.stringify(chAnswers)}`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
