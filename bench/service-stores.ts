/**
 * The service on each store, side by side in one run, through its HTTP routes (inject):
 * POST a capture file to /import, POST its completions as NDJSON, GET the summary twice
 * (the first correlates, the second is served from the cache). SQLite first, then
 * ClickHouse (one node; Debian's 18.16 started by fixtures/clickhouse-server.ts).
 * Prints figures, asserts nothing but that both stores give the same summary.
 *
 *   node --import tsx bench/service-stores.ts [--frames 300000] [--completions 30000] [--flows 20]
 *
 * Per step: wall time, this process's CPU time (all its threads: the service, the
 * workers) and, on ClickHouse, the server process's CPU time (/proc/PID/stat), so the
 * figures say where the work went on a machine other sessions share; /proc/loadavg beside
 * each line. For the first summary also the service thread's event-loop delay (p99, max:
 * how long any other request would have waited), and on ClickHouse a third run with the
 * correlation on the service's thread (ACKSCOPE_CORRELATION_WORKER=0), the way it ran
 * before the worker served ClickHouse too.
 */
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { buildApp, type App } from '../service/app.js';
import { completionToApi } from '../service/routes/completions.js';
import { chooseStore } from '../clickhouse/store-url.js';
import { startClickHouse } from '../fixtures/clickhouse-server.js';
import { syntheticCapture, syntheticCompletions } from '../fixtures/synthetic-capture.js';
import { loadAverage, ownCpuS, processCpuS } from './process-cpu.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '300000' },
    completions: { type: 'string', default: '30000' },
    flows: { type: 'string', default: '20' },
  },
});
const FRAMES = Number(values.frames);
const COMPLETIONS = Number(values.completions);
const FLOWS = Number(values.flows);

async function measure<T>(label: string, store: string, serverPid: number | undefined, count: number, unit: string, step: () => Promise<T>): Promise<T> {
  const wall0 = performance.now();
  const cpu0 = ownCpuS();
  const server0 = serverPid === undefined ? 0 : processCpuS(serverPid);
  const out = await step();
  const wallS = (performance.now() - wall0) / 1000;
  const cpu = ownCpuS() - cpu0;
  const server = serverPid === undefined ? null : processCpuS(serverPid) - server0;
  const perS = count > 0 ? `, ${Math.round(count / wallS).toLocaleString('en')} ${unit}/s` : '';
  console.log(
    `${store.padEnd(10)} ${label.padEnd(22)} ${wallS.toFixed(2)} s wall${perS}; ackscope CPU ${cpu.toFixed(2)} s` +
      (server === null ? '' : `, ClickHouse server CPU ${server.toFixed(2)} s`) +
      `  [load ${loadAverage()}]`,
  );
  return out;
}

async function run(app: App, store: string, file: Buffer, ndjson: string, serverPid?: number): Promise<unknown> {
  const id = (await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'bench', kind: 'import' } })).json().id as number;
  await measure('import', store, serverPid, FRAMES, 'frames', async () => {
    const res = await app.inject({ method: 'POST', url: `/sessions/${id}/import`, payload: file });
    if (res.statusCode !== 200) throw new Error(res.body);
  });
  await measure('completions (NDJSON)', store, serverPid, COMPLETIONS, 'records', async () => {
    const res = await app.inject({ method: 'POST', url: `/sessions/${id}/completions`, headers: { 'content-type': 'application/x-ndjson' }, payload: ndjson });
    if (res.statusCode !== 200) throw new Error(res.body);
  });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const summary = await measure('summary, first', store, serverPid, 0, '', async () => (await app.inject({ url: `/sessions/${id}/summary` })).json());
  delay.disable();
  console.log(
    `${store.padEnd(10)} ${'  event-loop delay'.padEnd(22)} p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${(delay.max / 1e6).toFixed(1)} ms` +
      ` (correlation ${app.correlations.inWorker ? 'in the worker' : "on the service's thread"})`,
  );
  await measure('summary, cached', store, serverPid, 0, '', async () => (await app.inject({ url: `/sessions/${id}/summary` })).json());
  return { ...(summary as Record<string, unknown>), correlation: null };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-stores-'));
  const { file, segments } = syntheticCapture({ frames: FRAMES, flows: FLOWS });
  const rows = syntheticCompletions(segments, COMPLETIONS);
  const ndjson = rows.map((row) => {
    const { id: _id, ...record } = completionToApi({ ...row, id: 0 });
    return JSON.stringify(record);
  }).join('\n') + '\n';
  console.log(`${FRAMES.toLocaleString('en')} frames (${(file.length / 1e6).toFixed(1)} MB pcap), ${rows.length.toLocaleString('en')} completions, ${FLOWS} flows`);
  const server = await startClickHouse();
  try {
    const lite = await buildApp({ dbPath: join(dir, 'bench.db'), logger: false });
    const liteSummary = await run(lite, 'sqlite', file, ndjson);
    await lite.close();
    const ch = await buildApp({ dbPath: join(dir, 'unused.db'), logger: false, store: chooseStore(server.url('ackscope_bench')) });
    // the schema is migrated on first use: not part of the figures
    await ch.inject({ url: '/healthz' });
    const chSummary = await run(ch, 'clickhouse', file, ndjson, server.nodes[0].pid);
    await ch.close();
    const inline = await buildApp({ dbPath: join(dir, 'unused.db'), logger: false, store: chooseStore(server.url('ackscope_bench_inline')), correlationInWorker: false });
    await inline.inject({ url: '/healthz' });
    const inlineSummary = await run(inline, 'ch inline', file, ndjson, server.nodes[0].pid);
    await inline.close();
    console.log(`summaries equal: ${JSON.stringify(liteSummary) === JSON.stringify(chSummary) && JSON.stringify(chSummary) === JSON.stringify(inlineSummary)}`);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
