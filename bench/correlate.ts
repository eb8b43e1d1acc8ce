/**
 * Correlation speed: a synthetic session of 1,000,000 frames and 100,000 completions
 * (goal: correlated in ≤ 0.5 s), then GET /summary latency on it, and what a cold
 * summary does to the service's other requests: a second process fires GET /healthz
 * every 10 ms while the summary is computed, with the correlation in the worker thread
 * at its default nice value and at nice 0 (ACKSCOPE_CORRELATION_NICE), and on the
 * service's thread (ACKSCOPE_CORRELATION_WORKER=0, the way it was before), and prints the
 * p50/p99/max of their latency (goal p99 ≤ 50 ms).
 * Also peak RSS and the heap the correlation's records take. Prints figures and the
 * query plans; asserts nothing about time.
 *
 * The inline correlation runs the ways the look-ups can read the store, the anchors first:
 * `seek` (one SQLite index look-up per question, as before; --seek false skips it, it takes
 * ~15 s at 10 M frames), `walk, JSON runs` (the merge walk over runs of each flow
 * direction's advances, its runs and the completions' read as JSON text, as before) and
 * `walk, packed runs` (the same runs as BLOBs of doubles, db/native/packed_columns.c: the
 * default), each with the thread's own CPU time beside the wall time: on 2 cores shared
 * with others the wall time mostly says how long the thread waited for a core.
 *
 *   node --expose-gc --import tsx bench/correlate.ts [--frames 1000000] [--completions 100000] [--flows 20] [--runs 3]
 *     [--inline false] [--seek false] [--exports false]
 * BENCH_KEEP_DIR=DIR keeps the database; a later run with the same DIR reuses the session it holds
 * (built with the sizes of the first run: --frames, --completions and --flows are then ignored).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../service/app.js';
import { createSession, updateSession } from '../db/sessions.js';
import { correlateSession, invalidateCorrelations, type ReadOptions } from '../analysis/correlation.js';
import { explainCorrelation, packedRunsAvailable } from '../db/correlation-reads.js';
import { WORKER_NICE } from '../analysis/correlation-runner.js';
import type { Db } from '../db/connection.js';
import { frameId } from '../core/frame-id.js';
import { seededRandom } from '../fixtures/random.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '1000000' },
    completions: { type: 'string', default: '100000' },
    flows: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    // false: skip every correlation on this thread, so the peak RSS is the service's with the worker
    inline: { type: 'string', default: 'true' },
    // false: skip the seek anchor (one SQLite look-up per question)
    seek: { type: 'string', default: 'true' },
    // false: skip the streamed exports (a 10 M-frame run is long enough without them)
    exports: { type: 'string', default: 'true' },
  },
});
const FRAMES = Number(values.frames);
const COMPLETIONS = Number(values.completions);
const FLOWS = Number(values.flows);
const RUNS = Number(values.runs);
const INLINE = values.inline !== 'false';
const SEEK = values.seek !== 'false';
const EXPORTS = values.exports !== 'false';
const MSS = 1448;
const T0 = 1_764_061_234_000_000_000n;


/**
 * Per flow: data segments of one MSS every 10 µs, a pure ACK 5 µs after each covering
 * the stream two segments back, one segment in 500 retransmitted with a SACK for what
 * followed it. Writes of 2–12 KB tile the stream; each completes within −20..+60 µs of
 * its last byte's first transmission, so every stage occurs.
 */
function buildSession(db: Db): { sessionId: number; insertSeconds: number } {
  const rnd = seededRandom(42);
  const sessionId = createSession(db, { name: 'bench-correlate', kind: 'import' }).id;
  const insertFrame = db.prepare(
    `INSERT INTO frames (id, session_id, frame_no, flow_id, dir, ts_ns, caplen, wirelen, tcp_flags, seq_raw, ack_raw,
       seq_off, payload_len, ack_off, window, retransmit, sent_max, acked_max, sent_advanced, ack_advanced, sack_count)
     VALUES (?, ?, ?, ?, ?, ?, 66, ?, ?, ?, ?, ?, ?, ?, 65535, ?, ?, ?, ?, ?, ?)`,
  );
  // the correlation's look-ups read these (migrations/005_frame_advances.sql), as the capture writes them
  const insertSentAdvance = db.prepare('INSERT INTO sent_advances (flow_id, dir, sent_max, ts_ns, seq_off) VALUES (?, 0, ?, ?, ?)');
  const insertAckAdvance = db.prepare('INSERT INTO ack_advances (flow_id, dir, acked_max, ts_ns) VALUES (?, 1, ?, ?)');
  const insertSack = db.prepare('INSERT INTO sacks (frame_id, flow_id, dir, ts_ns, left_off, right_off) VALUES (?, ?, ?, ?, ?, ?)');
  const insertFlow = db.prepare(
    `INSERT INTO flows (session_id, ip_version, a_addr, a_port, b_addr, b_port, a_isn, b_isn, a_syn_seen, b_syn_seen,
       first_ns, last_ns, frames) VALUES (?, 4, '10.1.0.1', ?, '10.1.0.2', 7000, 0, 0, 1, 1, ?, ?, ?)`,
  );
  const insertCompletion = db.prepare(
    `INSERT INTO completions (session_id, src_addr, src_port, dst_addr, dst_port, write_id, offset_start, offset_end,
       submitted_ns, completed_ns, bytes_reported, api, buffers, status) VALUES (?, '10.1.0.1', ?, '10.1.0.2', 7000, ?, ?, ?, ?, ?, ?, ?, 1, 'ok')`,
  );
  const started = performance.now();
  let frameNo = 0;
  const framesPerFlow = Math.floor(FRAMES / FLOWS);
  const completionsPerFlow = Math.floor(COMPLETIONS / FLOWS);
  db.transaction(() => {
    for (let f = 0; f < FLOWS; f++) {
      const port = 40000 + f;
      const flowId = Number(insertFlow.run(sessionId, port, T0, T0, framesPerFlow).lastInsertRowid);
      // first-transmission time of each segment, to place the completions
      const segmentEndTimes: number[] = [];
      let sentMax = 0;
      let ackedMax = 0;
      let t = 0; // µs after T0
      let written = 0;
      let pendingRetransmit: number | null = null;
      while (written < framesPerFlow) {
        frameNo++;
        written++;
        const id = frameId(sessionId, frameNo);
        if (pendingRetransmit !== null) {
          insertFrame.run(id, sessionId, frameNo, flowId, 0, T0 + BigInt(t * 1000), 66 + MSS, 0x18, pendingRetransmit, 0, pendingRetransmit, MSS, null, 1, sentMax, null, 0, 0, 0);
          pendingRetransmit = null;
        } else if (frameNo % 2 === 1) {
          t += 10;
          const seq = sentMax;
          sentMax += MSS;
          segmentEndTimes.push(t);
          insertFrame.run(id, sessionId, frameNo, flowId, 0, T0 + BigInt(t * 1000), 66 + MSS, 0x18, seq, 0, seq, MSS, null, 0, sentMax, null, 1, 0, 0);
          insertSentAdvance.run(flowId, sentMax, T0 + BigInt(t * 1000), seq);
          if (segmentEndTimes.length % 500 === 0) pendingRetransmit = seq;
        } else {
          const ack = Math.max(0, sentMax - 2 * MSS);
          const advanced = ack > ackedMax ? 1 : 0;
          ackedMax = Math.max(ack, ackedMax);
          const sack = segmentEndTimes.length % 500 === 1 && segmentEndTimes.length > 1;
          insertFrame.run(id, sessionId, frameNo, flowId, 1, T0 + BigInt((t + 5) * 1000), 66, 0x10, 0, ack, 0, 0, ackedMax, 0, 0, ackedMax, 0, advanced, sack ? 1 : 0);
          if (advanced) insertAckAdvance.run(flowId, ackedMax, T0 + BigInt((t + 5) * 1000));
          if (sack) insertSack.run(id, flowId, 1, T0 + BigInt((t + 5) * 1000), sentMax - MSS, sentMax);
        }
      }
      // writes tiling the stream
      let off = 0;
      for (let w = 0; w < completionsPerFlow; w++) {
        const len = 2000 + Math.floor(rnd() * 10_000);
        const end = Math.min(off + len, sentMax + 5000);
        const lastSegment = Math.min(segmentEndTimes.length - 1, Math.floor((end - 1) / MSS));
        const completedUs = segmentEndTimes[lastSegment] + Math.floor(rnd() * 80) - 20;
        const submittedUs = completedUs - 30 - Math.floor(rnd() * 50);
        const reported = rnd() < 0.001 ? Math.floor((end - off) / 2) : end - off;
        insertCompletion.run(sessionId, port, w, off, end, T0 + BigInt(submittedUs * 1000), T0 + BigInt(completedUs * 1000), reported, w % 2 ? 'posix:send' : 'node:socket.write');
        off = end;
      }
    }
  })();
  updateSession(db, sessionId, { state: 'stopped', frames_total: frameNo, frames_tcp: frameNo });
  return { sessionId, insertSeconds: (performance.now() - started) / 1000 };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** CPU time of the calling thread, ms (Linux: /proc/thread-self/schedstat; NaN elsewhere). */
function threadCpuMs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}
/** CPU time of the whole process (every thread), ms. */
function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Heap in use after a full collection when --expose-gc is given (else as it is). */
function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

/**
 * Another process (so its timing does not depend on this event loop) that fires
 * GET /healthz every 10 ms on a keep-alive connection until its stdin closes, then
 * prints each request's latency in ms.
 */
function startHealthProbe(port: number): { stop: () => Promise<number[]> } {
  const code = `
    const http = require('node:http');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const latencies = [];
    let stopping = false, inFlight = 0;
    const fire = () => {
      const t = performance.now();
      inFlight++;
      http.get({ host: '127.0.0.1', port: ${port}, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', () => { latencies.push(performance.now() - t); inFlight--; done(); });
      }).on('error', () => { inFlight--; done(); });
    };
    const timer = setInterval(fire, 10);
    const done = () => { if (stopping && inFlight === 0) { process.stdout.write(JSON.stringify(latencies)); process.exit(0); } };
    process.stdin.on('end', () => { stopping = true; clearInterval(timer); done(); });
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return {
    stop: () =>
      new Promise((resolve) => {
        child.on('exit', () => resolve(JSON.parse(out || '[]') as number[]));
        child.stdin.end();
      }),
  };
}

async function main(): Promise<void> {
  const dir = process.env.BENCH_KEEP_DIR ?? mkdtempSync(join(tmpdir(), "ackscope-bench-correlate-"));
  try {
    const reuse = process.env.BENCH_KEEP_DIR !== undefined && existsSync(join(dir, 'bench.db'));
    const app = await buildApp({ dbPath: join(dir, 'bench.db'), logger: false });
    const db = app.db;
    const kept = reuse ? (db.prepare("SELECT id FROM sessions WHERE name = 'bench-correlate' ORDER BY id DESC LIMIT 1").get() as { id: number } | undefined) : undefined;
    const { sessionId, insertSeconds } = kept ? { sessionId: kept.id, insertSeconds: 0 } : buildSession(db);
    if (kept) console.log(`reusing session ${kept.id} of ${join(dir, 'bench.db')} (sizes as it was built)`);
    const frames = (db.prepare('SELECT count(*) AS n FROM frames').get() as { n: number }).n;
    const completions = (db.prepare('SELECT count(*) AS n FROM completions').get() as { n: number }).n;
    console.log(`built ${frames} frames, ${completions} completions in ${FLOWS} flows in ${insertSeconds.toFixed(1)} s`);

    console.log('\nquery plans (EXPLAIN QUERY PLAN):');
    for (const [name, plan] of Object.entries(explainCorrelation(db))) console.log(`  ${name.padEnd(16)} ${plan}`);

    if (INLINE) {
      if (!packedRunsAvailable(db)) console.log('\nthe packed-column extension is not built (scripts/build.sh): the packed runs below are JSON too');
      const ways: { name: string; options: ReadOptions }[] = [
        ...(SEEK ? [{ name: "reads: 'seek' (an anchor: one SQLite look-up per question, as before)", options: { reads: 'seek' } as ReadOptions }] : []),
        { name: "reads: 'walk', runs: 'json' (the anchor: the merge walk with its runs as JSON text, as before)", options: { reads: 'walk', runs: 'json' } },
        { name: "reads: 'walk', runs: 'packed' (the default: runs as BLOBs of doubles)", options: { reads: 'walk', runs: 'packed' } },
      ];
      for (const { name, options } of ways) {
        console.log(`\ncorrelation inline, ${name}; load ${load()}:`);
        const runs: { wall: number; cpu: number }[] = [];
        const heapBefore = heapUsed();
        let c0 = threadCpuMs();
        const t0 = performance.now();
        let last: ReturnType<typeof correlateSession> | undefined = correlateSession(db, sessionId, options);
        const first = { wall: performance.now() - t0, cpu: threadCpuMs() - c0 };
        const heapAfter = heapUsed();
        console.log(`  heap held by the result (${last.records.length} records): ${mib(heapAfter - heapBefore)} MiB (${((heapAfter - heapBefore) / last.records.length).toFixed(0)} bytes per record)`);
        for (let i = 0; i < RUNS; i++) {
          last = undefined;
          c0 = threadCpuMs();
          const t = performance.now();
          last = correlateSession(db, sessionId, options);
          runs.push({ wall: performance.now() - t, cpu: threadCpuMs() - c0 });
        }
        const fmt = (r: { wall: number; cpu: number }) => `${r.wall.toFixed(0)} ms (CPU ${r.cpu.toFixed(0)} ms)`;
        console.log(`  first run (statements prepared, pages read): ${fmt(first)}; next runs: ${runs.map(fmt).join(', ')}`);
        console.log(`  ${last.records.length} completions, ${last.stats.queries} SQLite reads (${(last.stats.queries / last.records.length).toFixed(3)} per completion)`);
        if (runs.length > 0) {
          const best = Math.min(...runs.map((r) => r.cpu));
          console.log(`  per completion: ${((Math.min(...runs.map((r) => r.wall)) * 1000) / last.records.length).toFixed(2)} µs wall, ${((best * 1000) / last.records.length).toFixed(2)} µs CPU (best run)`);
        }
        const stages: Record<string, number> = {};
        for (const r of last.records) stages[r.stage] = (stages[r.stage] ?? 0) + 1;
        console.log(`  stages: ${JSON.stringify(stages)}`);
        const retransmitted = last.records.filter((r) => r.retransmitted).length;
        const sacked = last.records.filter((r) => r.sackedNs !== null).length;
        console.log(`  retransmitted: ${retransmitted} completions, SACKed before ACK: ${sacked}`);
        last = undefined; // let the inline result go before the next measurements
      }
    }

    console.log('\nGET /sessions/:id/summary:');
    invalidateCorrelations(db);
    await app.correlations.stats(); // the worker thread started and its modules loaded, as in a running service
    heapUsed();
    const cpu0 = processCpuMs();
    let t = performance.now();
    let res = await app.inject({ url: `/sessions/${sessionId}/summary` });
    const cold = JSON.parse(res.body) as { correlation: { elapsedMs: number } };
    console.log(
      `  cold (correlate + summarise, in the worker): ${(performance.now() - t).toFixed(0)} ms, of which correlateSession ${cold.correlation.elapsedMs.toFixed(0)} ms; ` +
        `CPU of the process meanwhile ${(processCpuMs() - cpu0).toFixed(0)} ms (nearly all the worker's); ` +
        `HTTP ${res.statusCode}, ${res.body.length} bytes; RSS now ${mib(process.memoryUsage().rss)} MiB; load ${load()}`,
    );
    const warm: number[] = [];
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      res = await app.inject({ url: `/sessions/${sessionId}/summary` });
      warm.push(performance.now() - t);
    }
    console.log(`  warm (cache valid, fingerprint checked): ${warm.map((ms) => ms.toFixed(1)).join(', ')} ms`);
    t = performance.now();
    res = await app.inject({ url: `/sessions/${sessionId}/correlations?limit=100&stage=wire&sort=ackedMinusComplete&order=desc` });
    console.log(`  GET /correlations (filter + sort 100k, one page): ${(performance.now() - t).toFixed(0)} ms, HTTP ${res.statusCode}`);
    const summary = JSON.parse((await app.inject({ url: `/sessions/${sessionId}/summary` })).body) as {
      overall: { gaps: Record<string, { p50: string; p99: string }> };
    };
    console.log(`  overall gaps p50/p99: ${Object.entries(summary.overall.gaps).map(([k, v]) => `${k} ${v.p50}/${v.p99} ns`).join('; ')}`);
    await app.close();

    console.log('\ncold GET /summary with GET /healthz fired every 10 ms by another process:');
    const probes: { inWorker: boolean; nice: number }[] = [
      { inWorker: true, nice: WORKER_NICE },
      { inWorker: true, nice: 0 },
      ...(INLINE ? [{ inWorker: false, nice: 0 }] : []),
    ];
    for (const { inWorker, nice } of probes) {
      const probed = await buildApp({ dbPath: join(dir, 'bench.db'), logger: false, correlationInWorker: inWorker, correlationNice: nice });
      await probed.listen({ port: 0, host: '127.0.0.1' });
      const { port } = probed.server.address() as AddressInfo;
      if (inWorker) await probed.correlations.stats(); // the worker thread is started, as in a running service
      heapUsed(); // collect the garbage of the build and the runs above now, not during the measurement
      const probe = startHealthProbe(port);
      await sleep(500);
      const cpu0 = processCpuMs();
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${port}/sessions/${sessionId}/summary`);
      await res.arrayBuffer();
      const coldMs = performance.now() - t;
      const coldCpuMs = processCpuMs() - cpu0;
      await sleep(200);
      const latencies = await probe.stop();
      await probed.close();
      latencies.sort((a, b) => a - b);
      const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(1);
      console.log(
        `  ${inWorker ? `worker thread at nice ${nice}` : 'service thread (before)'}: cold summary ${coldMs.toFixed(0)} ms (HTTP ${res.status}), process CPU ${coldCpuMs.toFixed(0)} ms; ` +
          `${latencies.length} /healthz during it: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${latencies[latencies.length - 1].toFixed(1)} ms; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      );
    }
    if (EXPORTS) {
      console.log('\nstreamed exports (worker thread; main-thread heap sampled every 10 ms while streaming):');
      const exporter = await buildApp({ dbPath: join(dir, 'bench.db'), logger: false });
      await exporter.listen({ port: 0, host: '127.0.0.1' });
      const exportPort = (exporter.server.address() as AddressInfo).port;
      for (const [name, state] of [['timeline.csv', 'cold'], ['timeline.csv', 'warm'], ['timeline.json', 'warm'], ['trace.json', 'warm']] as const) {
        heapUsed();
        const heapStart = process.memoryUsage().heapUsed;
        let heapMax = heapStart;
        const sampler = setInterval(() => (heapMax = Math.max(heapMax, process.memoryUsage().heapUsed)), 10);
        const t = performance.now();
        const res = await fetch(`http://127.0.0.1:${exportPort}/sessions/${sessionId}/export/${name}`);
        const reader = res.body!.getReader();
        let firstByteMs = -1;
        let bytes = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (firstByteMs < 0) firstByteMs = performance.now() - t;
          bytes += value.length;
        }
        clearInterval(sampler);
        console.log(
          `  ${name} (${state}): first byte ${firstByteMs.toFixed(0)} ms, all ${(bytes / 1e6).toFixed(1)} MB in ${(performance.now() - t).toFixed(0)} ms; ` +
            `main-thread heap ${mib(heapStart)} → max ${mib(heapMax)} MiB; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
        );
      }
      await exporter.close();
    }

    console.log(`\npeak RSS of this process: ${mib(process.resourceUsage().maxRSS * 1024)} MiB`);
  } finally {
    if (!process.env.BENCH_KEEP_DIR) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
