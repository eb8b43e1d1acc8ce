/**
 * Soak: the service left running under load for a bounded time. One live capture on `lo`
 * at the highest packet rate this machine makes (sender processes writing small
 * TCP_NODELAY segments flat out, as bench/live-capture.ts), while a second client posts
 * completions (NDJSON batches, synthetic records of flows of their own) and a third reads
 * the session's summary over and over. The service is its own process, so its memory is
 * what is measured. Prints frames dropped (kernel: libpcap ps_drop; ackscope: what tcpdump
 * saw on the same filter and ackscope did not store), memory over time (the service's RSS
 * from /proc; its main thread's and the capture worker's V8 memory and the addon's queued
 * batches from /metrics) as a sparkline plus a CSV and an SVG plot in bench/out/, the
 * verdict (RSS at the end of warm-up, max, end, slope after warm-up in MiB/min), and API
 * latency percentiles.
 * Asserts nothing.
 *
 *   node --import tsx bench/soak.ts [seconds=60] [senders=2] [connections=4] [size=64]
 *
 * tcpdump counts the same filter at the same time as the witness of what crossed lo
 * (ACKSCOPE_SOAK_TCPDUMP=0 turns it off). ACKSCOPE_SOAK_OUT: folder of the CSV and the
 * plot (default bench/out/soak-<time>). ACKSCOPE_SOAK_SUMMARIES=0 leaves the summary reader
 * out (to tell the correlation worker's memory from the capture's).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runFlatOutSender } from '../fixtures/flat-out-sender.js';
import { memoryPlotOption, memoryTrend, sparkline, type MemorySample } from '../experiment/memory-trend.js';
import { renderSvg } from '../experiment/plots.js';

const seconds = Number(process.argv[2] ?? 60);
const senders = Number(process.argv[3] ?? 2);
const connections = Number(process.argv[4] ?? 4);
const size = Number(process.argv[5] ?? 64);
const ROOT = fileURLToPath(new URL('..', import.meta.url));


const runSender = (port: number) => runFlatOutSender(port, connections, size, seconds);

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** One value of a Prometheus text exposition (`name{labels} value`); NaN when absent. */
function metric(text: string, name: string, labels = ''): number {
  const escaped = `${name}${labels ? `{${labels}}` : ''}`.replace(/[{}]/g, '\\$&');
  const m = new RegExp(`^${escaped} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

const MiB = 2 ** 20;
/** The series of the memory plot, in MiB: RSS from /proc, the rest from /metrics. */
const THREADS = ['main', 'capture', 'correlation', 'ingest'] as const;
const KINDS = { heap: 'heap_used', external: 'external', 'array buffers': 'array_buffers' } as const;
/** Each thread's V8 heap, external memory and array buffers (the last are inside external). */
const SERIES = ['rss', ...THREADS.flatMap((thread) => Object.keys(KINDS).map((kind) => `${thread} ${kind}`))];
/** Where /metrics has each thread's memory: metric name and the labels before `kind`. */
const THREAD_METRIC: Record<(typeof THREADS)[number], { name: string; session: boolean }> = {
  main: { name: 'ackscope_main_thread_memory_bytes', session: false },
  capture: { name: 'ackscope_capture_worker_memory_bytes', session: true },
  // as of the worker's last answer (it answers once per correlation run)
  correlation: { name: 'ackscope_correlation_worker_memory_bytes', session: false },
  // as of its last stored upload: absent while it stored none (uploads of one batch stay on the main thread)
  ingest: { name: 'ackscope_ingest_worker_memory_bytes', session: false },
};

/** Mean of a series per whole minute since the start (a partial last minute included). */
function minuteMeans(samples: readonly MemorySample[], series: string): number[] {
  const sums: { sum: number; n: number }[] = [];
  for (const x of samples) {
    if (!Number.isFinite(x.mib[series])) continue;
    const m = (sums[Math.floor(x.t / 60)] ??= { sum: 0, n: 0 });
    m.sum += x.mib[series];
    m.n++;
  }
  return sums.filter(Boolean).map((m) => m.sum / m.n);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function latencyLine(name: string, ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const f = (v: number) => `${v.toFixed(1)} ms`;
  return `  ${name.padEnd(34)} n=${s.length}  p50 ${f(percentile(s, 50))}  p99 ${f(percentile(s, 99))}  max ${f(s[s.length - 1] ?? NaN)}`;
}

/** tcpdump counting (not writing) the same filter: the independent witness of what crossed lo. */
async function startTcpdump(filter: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn('tcpdump', ['-i', 'lo', '-n', '-B', '32768', '-w', '/dev/null', filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  for (let i = 0; i < 500 && !/listening on/.test(text); i++) await new Promise((r) => setTimeout(r, 10));
  if (!/listening on/.test(text)) throw new Error(`tcpdump did not start: ${text}`);
  return { child, stderr: () => text };
}

async function stopTcpdump(t: { child: ChildProcess; stderr: () => string }): Promise<{ captured: number; dropped: number }> {
  t.child.kill('SIGINT');
  await once(t.child, 'exit');
  const n = (what: string) => Number(new RegExp(`(\\d+) packets? ${what}`).exec(t.stderr())?.[1] ?? NaN);
  return { captured: n('captured'), dropped: n('dropped by kernel') };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const dir = mkdtempSync(join(tmpdir(), 'ackscope-soak-'));
const port = await freePort();
const built = existsSync(join(ROOT, 'dist/cli/ackscope.js'));
const service = spawn(
  process.execPath,
  built ? [join(ROOT, 'bin/ackscope.js'), 'serve'] : ['--import', 'tsx', join(ROOT, 'cli/ackscope.ts'), 'serve'],
  { env: { ...process.env, ACKSCOPE_DB: join(dir, 'ackscope.db'), ACKSCOPE_PORT: String(port), ACKSCOPE_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'inherit', 'inherit'] },
);
const url = `http://127.0.0.1:${port}`;
// A bench stopped from outside (timeout, Ctrl-C) takes its service with it.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    service.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}
const progress = (what: string) => process.env.ACKSCOPE_SOAK_VERBOSE === '1' && console.error(`[soak ${new Date().toISOString()}] ${what}`);

async function call(method: string, path: string, body?: string, type = 'application/json'): Promise<{ status: number; json: Json; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}${path}`, { method, body, headers: body ? { 'content-type': type } : {} });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Json) : {}, ms: performance.now() - t0 };
}

try {
  for (let i = 0; i < 300; i++) {
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const basePort = 40000 + Math.floor(Math.random() * 20000);
  const filter = `tcp portrange ${basePort}-${basePort + senders - 1}`;
  // snaplen 128: headers and the start of the payload, so the raw pcapng stays small
  const created = await call('POST', '/sessions', JSON.stringify({ name: 'soak', kind: 'live', interface: 'lo', filter, snaplen: 128 }));
  if (created.status !== 201) throw new Error(`create: ${JSON.stringify(created.json)}`);
  const id = created.json.id as number;
  progress('service ready');
  const tcpdump = process.env.ACKSCOPE_SOAK_TCPDUMP === '0' ? null : await startTcpdump(filter);
  const started = await call('POST', `/sessions/${id}/start`);
  if (started.status !== 200) throw new Error(`start: ${JSON.stringify(started.json)}`);

  console.log(
    `soak ${seconds} s: live capture on lo (${senders} sender processes × ${connections} connections, ${size}-byte TCP_NODELAY writes), ` +
      `a client posting 500 completions every 100 ms, ` +
      (process.env.ACKSCOPE_SOAK_SUMMARIES === '0' ? 'no summary reader (ACKSCOPE_SOAK_SUMMARIES=0)' : 'a client reading the summary every 250 ms'),
  );
  console.log(`  load before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const deadline = Date.now() + seconds * 1000;
  const sending = Promise.all(Array.from({ length: senders }, (_, i) => runSender(basePort + i)));

  const postMs: number[] = [];
  let posted = 0;
  const poster = (async () => {
    let writeId = 0;
    while (Date.now() < deadline) {
      let body = '';
      const now = BigInt(Date.now()) * 1_000_000n;
      for (let i = 0; i < 500; i++, writeId++) {
        body += JSON.stringify({
          flow: { srcAddr: '127.0.0.1', srcPort: 1, dstAddr: '127.0.0.1', dstPort: 2 },
          writeId,
          offsetStart: writeId * 100,
          offsetEnd: writeId * 100 + 100,
          submittedNs: String(now),
          completedNs: String(now + 1000n),
          bytesReported: 100,
          buffers: 1,
          api: 'bench:soak',
          status: 'ok',
        }) + '\n';
      }
      const r = await call('POST', `/sessions/${id}/completions`, body, 'application/x-ndjson');
      if (r.status !== 200) throw new Error(`post completions: ${r.status} ${JSON.stringify(r.json)}`);
      postMs.push(r.ms);
      posted += 500;
      await new Promise((res) => setTimeout(res, 100));
    }
  })();

  poster.catch(() => {}); // awaited below; a failure ends the run there, not as an unhandled rejection
  const summaryMs: number[] = [];
  const reader = (async () => {
    while (process.env.ACKSCOPE_SOAK_SUMMARIES !== '0' && Date.now() < deadline) {
      const r = await call('GET', `/sessions/${id}/summary`);
      if (r.status !== 200) throw new Error(`summary: ${r.status} ${JSON.stringify(r.json)}`);
      summaryMs.push(r.ms);
      await new Promise((res) => setTimeout(res, 250));
    }
  })();

  reader.catch(() => {});
  interface Sample extends MemorySample {
    frames: number;
    dropped: number;
    queuedBatches: number;
  }
  const samples: Sample[] = [];
  const t0 = Date.now();
  const sampleEveryMs = Math.max(2000, (seconds * 1000) / 150);
  const takeSample = async (): Promise<Sample> => {
    const text = await fetch(`${url}/metrics`).then((r) => r.text());
    const session = `session="${id}"`;
    return {
      t: (Date.now() - t0) / 1000,
      mib: {
        rss: rssMiB(service.pid!),
        ...Object.fromEntries(
          THREADS.flatMap((thread) =>
            Object.entries(KINDS).map(([kind, label]) => {
              const { name, session: bySession } = THREAD_METRIC[thread];
              return [`${thread} ${kind}`, metric(text, name, `${bySession ? `${session},` : ''}kind="${label}"`) / MiB];
            }),
          ),
        ),
      },
      frames: metric(text, 'ackscope_capture_frames', `${session},what="read"`),
      dropped: metric(text, 'ackscope_capture_frames', `${session},what="kernel_dropped"`),
      queuedBatches: metric(text, 'ackscope_capture_queued_batches', session),
    };
  };
  const sampler = (async () => {
    while (Date.now() < deadline) {
      samples.push(await takeSample());
      await new Promise((res) => setTimeout(res, sampleEveryMs));
    }
  })();

  sampler.catch(() => {});
  const writes = (await sending).reduce((a, b) => a + b, 0);
  progress('senders done');
  await Promise.all([poster, reader, sampler]);
  progress('clients done; stopping the capture');
  const stopAsked = performance.now();
  const stopped = await call('POST', `/sessions/${id}/stop`);
  const stopS = (performance.now() - stopAsked) / 1000;
  const final = stopped.json;
  const afterStop = { t: (Date.now() - t0) / 1000, rss: rssMiB(service.pid!) };

  const dump = tcpdump ? await stopTcpdump(tcpdump) : null;
  console.log(`  load after:  ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`  writes issued: ${writes.toLocaleString('en-US')} (${Math.round(writes / seconds).toLocaleString('en-US')}/s)`);
  // On lo, libpcap's ps_recv counts each packet's outgoing copy too (it then skips it), so
  // it is not the number of packets; ackscope's own loss is the difference to tcpdump.
  console.log(
    `  frames stored: ${final.counts.frames.toLocaleString('en-US')} (${Math.round(final.counts.frames / seconds).toLocaleString('en-US')}/s); ` +
      `dropped by the kernel (ps_drop) ${final.drops.dropped}, by the interface ${final.drops.ifDropped}; state ${final.state}`,
  );
  if (dump) {
    console.log(
      `  tcpdump -B 32768 on the same filter: ${dump.captured.toLocaleString('en-US')} captured, kernel drops ${dump.dropped}; ` +
        `frames tcpdump has and ackscope did not store: ${dump.captured - final.counts.frames}`,
    );
    // On lo both copies of a packet reach the ring (libpcap skips the outgoing one), so
    // a packet dropped in the kernel counts twice in ps_drop.
    const missing = dump.captured - final.counts.frames;
    console.log(
      `  of these, counted as kernel drops (ps_drop / 2 on lo): ${Math.round(final.drops.dropped / 2)}; ` +
        `difference (lost without a count if positive): ${missing - Math.round(final.drops.dropped / 2)}`,
    );
  } else {
    console.log('  ackscope drops none of its own: the addon blocks its capture thread instead (a backlog shows as kernel drops); tcpdump was off (ACKSCOPE_SOAK_TCPDUMP=0)');
  }
  console.log(`  stop → everything stored: ${stopS.toFixed(2)} s; database ${(statSync(join(dir, 'ackscope.db')).size / 2 ** 20).toFixed(0)} MiB; completions posted ${posted.toLocaleString('en-US')}`);
  // Memory: CSV and plot for a reader, sparkline and verdict here.
  const out = process.env.ACKSCOPE_SOAK_OUT ?? join(ROOT, 'bench', 'out', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(out, { recursive: true });
  const csv = [
    ['t_s', ...SERIES.map((n) => `${n.replace(/ /g, '_')}_mib`), 'frames_stored', 'kernel_dropped', 'queued_batches'].join(','),
    ...samples.map((x) =>
      [x.t.toFixed(1), ...SERIES.map((n) => (Number.isFinite(x.mib[n]) ? x.mib[n].toFixed(1) : '')), x.frames, x.dropped, x.queuedBatches].join(','),
    ),
  ].join('\n');
  writeFileSync(join(out, 'memory.csv'), `${csv}\n`);
  const warmupS = Math.min(30, seconds / 4);
  writeFileSync(
    join(out, 'memory.svg'),
    // array buffers are part of external memory: the CSV has them, the plot would only crowd
    renderSvg(memoryPlotOption(samples, SERIES.filter((n) => !n.endsWith('array buffers')), `soak ${seconds} s: service memory (MiB) under load`, warmupS), 900, 420),
  );
  const rss = memoryTrend(samples, 'rss', warmupS);
  const peak = (n: string) => {
    const values = samples.map((x) => x.mib[n]).filter(Number.isFinite);
    return values.length > 0 ? `${Math.max(...values).toFixed(0)} MiB` : 'n/a';
  };
  console.log(`  memory over time, ${samples.length} samples every ${(sampleEveryMs / 1000).toFixed(0)} s: ${join(out, 'memory.csv')}, plot ${join(out, 'memory.svg')}`);
  console.log(`    rss ${sparkline(samples.map((x) => x.mib.rss), 60, 0)}  (0 … ${rss.maxMiB.toFixed(0)} MiB)`);
  console.log(`    rss mean per minute (MiB): ${minuteMeans(samples, 'rss').map((v) => v.toFixed(0)).join(', ')}`);
  console.log('    per thread (MiB): peak, and the slope after warm-up (MiB/min)');
  for (const thread of THREADS) {
    const parts = Object.keys(KINDS).map((kind) => {
      const name = `${thread} ${kind}`;
      if (!samples.some((x) => Number.isFinite(x.mib[name]))) return `${kind} n/a`;
      const trend = memoryTrend(samples, name, warmupS);
      return `${kind} ${peak(name)} (${trend.slopeMiBPerMin >= 0 ? '+' : ''}${trend.slopeMiBPerMin.toFixed(2)})`;
    });
    console.log(`      ${thread.padEnd(12)} ${parts.join(', ')}`);
  }
  console.log(`    batches waiting for the capture worker at most ${Math.max(...samples.map((x) => x.queuedBatches).filter(Number.isFinite))}`);
  console.log(
    `  verdict: RSS ${rss.warmMiB.toFixed(0)} MiB after ${warmupS.toFixed(0)} s warm-up, max ${rss.maxMiB.toFixed(0)} MiB, ` +
      `end ${rss.endMiB.toFixed(0)} MiB (${afterStop.rss.toFixed(0)} MiB after the stop); slope after warm-up ` +
      `${rss.slopeMiBPerMin >= 0 ? '+' : ''}${rss.slopeMiBPerMin.toFixed(1)} MiB/min over ${rss.fitted} samples: ${rss.flat ? 'FLAT' : 'GROWING'}`,
  );
  const corr = samples.filter((x) => Number.isFinite(x.mib['correlation heap']));
  if (corr.length > 0) {
    console.log(
      `    correlation worker heap ${sparkline(corr.map((x) => x.mib['correlation heap']), 60, 0)}  ` +
        `(as of each answer; the session it summarises had ${posted.toLocaleString('en-US')} completions posted)`,
    );
  }
  console.log('  API latency under load (the whole request, from this client):');
  console.log(latencyLine('GET /sessions/:id/summary', summaryMs));
  console.log(latencyLine('POST /sessions/:id/completions ×500', postMs));
} finally {
  service.kill('SIGTERM');
  await once(service, 'exit');
  rmSync(dir, { recursive: true, force: true });
}
