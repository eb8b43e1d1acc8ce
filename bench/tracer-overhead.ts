/**
 * Overhead of the kernel tracer on the program it traces: a C sender making blocking
 * 16 KiB write()s to a C sink on loopback (bench/programs/blocking-sender.c), a fixed
 * count per run, untraced and traced (command mode, events read and parsed by this
 * process as `ackscope trace` does), alternating which goes first each round so drift
 * hits both alike. The sender times its own write loop (start-up and the tracer's attach
 * are not counted). A third variant runs the tracer binary alone with its events (the
 * binary frames startTrace reads) sent to a file: the cost inside the kernel and the
 * tracer, without this process decoding the events on the same 2 CPUs. Prints writes/s per
 * run, the traced/untraced ratio per round (median and range), events lost per 100 k traced
 * writes (the tracer's final stats), the reader's sustained events/s (the last run's
 * recorded stream replayed through startTrace's own reading path as fast as it goes) and
 * the load average. Needs root and a built tracer (scripts/build.sh). Asserts nothing.
 *
 *   node --import tsx bench/tracer-overhead.ts [writes=100000] [rounds=5] [size=16384]
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { StatsEvent } from '../tracer/events.js';
import { TracerFrameDecoder } from '../tracer/frames.js';
import { startTrace, tracerBinary } from '../tracer/run.js';

const writes = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 5);
const size = Number(process.argv[4] ?? 16384);

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const dir = mkdtempSync(join(tmpdir(), 'ackscope-tracer-bench-'));
const bin = join(dir, 'blocking-sender');
execFileSync('cc', ['-O2', '-Wall', '-o', bin, fileURLToPath(new URL('./programs/blocking-sender.c', import.meta.url))]);

const sink = spawn(bin, ['sink'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((resolve, reject) => {
  createInterface({ input: sink.stdout! }).once('line', (l: string) => resolve(Number(/^port (\d+)$/.exec(l)?.[1])));
  sink.once('exit', (code) => reject(new Error(`sink exited (${code})`)));
});
type Variant = 'untraced' | 'traced' | 'niced' | 'bare';
/** The niceness of the tracer and of this process's reading thread in the `niced` variant. */
const NICE = Number(process.env.BENCH_NICE ?? 10);
const sendArgs = (count: number) => ['send', '127.0.0.1', String(port), String(count), String(size)];

interface SenderRun {
  /** writes per second of the sender's loop */
  rate: number;
  /** the sender's CPU (user + system) µs per write: contention from other processes moves it less than the rate */
  cpuUs: number;
}

function resultFrom(stderr: string): SenderRun {
  const m = /writes (\d+) seconds ([\d.]+) cpu ([\d.]+)/.exec(stderr);
  if (!m) throw new Error(`the sender printed no result: ${stderr}`);
  return { rate: Number(m[1]) / Number(m[2]), cpuUs: (Number(m[3]) / Number(m[1])) * 1e6 };
}

async function untraced(count: number): Promise<SenderRun> {
  const p = spawn(bin, sendArgs(count), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => p.once('close', r));
  if (code !== 0) throw new Error(`sender exited ${code}: ${stderr}`);
  return resultFrom(stderr);
}

interface TracedRun extends SenderRun {
  lost: number;
  calls: number;
  events: number;
}

/** The last tracer-alone run's event stream, kept for the reader's replay. */
const recorded = join(dir, 'events.bin');

/** The tracer binary alone, its events (on stdout, binary frames) to a file nobody reads while it runs; the sender's result is on stderr. */
async function tracedBare(count: number): Promise<TracedRun> {
  const out = openSync(recorded, 'w');
  const p = spawn(tracerBinary(), ['--events-format', 'binary', '--', bin, ...sendArgs(count)], { stdio: ['ignore', out, 'pipe'] });
  closeSync(out);
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => p.once('close', r));
  if (code !== 0) throw new Error(`traced sender exited ${code}: ${stderr}`);
  const decoder = new TracerFrameDecoder();
  const s = decoder.push(readFileSync(recorded)).filter((e): e is StatsEvent => e.type === 'stats').at(-1);
  if (!s) throw new Error('the tracer wrote no stats');
  return { ...resultFrom(stderr), lost: s.lost, calls: s.calls, events: s.events };
}

/**
 * How many events/s this process's reader keeps up with: the recorded stream of a tracer
 * run, written by `cat` into startTrace's own pipe, read and decoded as a trace is.
 */
async function readerRate(): Promise<{ events: number; perSecond: number }> {
  const replay = join(dir, 'replay.sh');
  writeFileSync(replay, `#!/bin/sh\nexec cat ${recorded} >&3\n`);
  chmodSync(replay, 0o755);
  const t0 = process.hrtime.bigint();
  const run = startTrace({ command: ['replay'] }, { binary: replay, commandStdio: 'ignore' });
  let events = 0;
  for await (const batch of run.batches) events += batch.length;
  await run.done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { events, perSecond: events / seconds };
}

/** Traced as `ackscope trace` does; niced: the tracer and this thread (the reader) yield to the sender and sink. */
async function traced(count: number, nice?: number): Promise<TracedRun> {
  const run = startTrace({ command: [bin, ...sendArgs(count)] }, { commandStdio: 'ignore', lingerMs: 100, nice });
  if (nice !== undefined) setPriority(nice); // after the spawn: the tracer and its command do not inherit it
  let events = 0;
  try {
    for await (const batch of run.batches) events += batch.length;
  } finally {
    if (nice !== undefined) setPriority(0);
  }
  const result = await run.done;
  if (result.exit?.exitCode !== 0) throw new Error(`traced sender exited ${result.exit?.exitCode}: ${result.stderr}`);
  return { ...resultFrom(result.stderr), lost: result.stats?.lost ?? NaN, calls: result.stats?.calls ?? NaN, events };
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const k = (n: number) => `${(n / 1000).toFixed(1)} k`;

try {
  console.log(`tracer overhead: ${writes} blocking write()s of ${size} B per run, ${rounds} rounds, lo; load at start ${load()}`);
  await untraced(Math.min(writes, 10_000)); // warm-up: page cache, sink, socket memory
  await traced(Math.min(writes, 10_000));
  const order: Variant[] = ['untraced', 'traced', 'niced', 'bare'];
  const runs: Record<Variant, SenderRun[]> = { untraced: [], traced: [], niced: [], bare: [] };
  const ratios: Record<Variant, number[]> = { untraced: [], traced: [], niced: [], bare: [] };
  const lost: Record<Variant, number> = { untraced: 0, traced: 0, niced: 0, bare: 0 };
  let tracedWrites = 0;
  for (let r = 0; r < rounds; r++) {
    // rotate the order: each variant runs first, second, … in turn
    const seq = order.map((_, i) => order[(i + r) % order.length] as Variant);
    const got: Partial<Record<Variant, SenderRun>> = {};
    const tracedRuns: Partial<Record<Variant, TracedRun>> = {};
    for (const v of seq) {
      if (v === 'untraced') got.untraced = await untraced(writes);
      else if (v === 'bare') got.bare = tracedRuns.bare = await tracedBare(writes);
      else if (v === 'niced') got.niced = tracedRuns.niced = await traced(writes, NICE);
      else got.traced = tracedRuns.traced = await traced(writes);
    }
    const base = got.untraced;
    if (!base) throw new Error('a run is missing');
    for (const v of order) {
      const run = got[v];
      if (!run) throw new Error(`the ${v} run is missing`);
      runs[v].push(run);
      ratios[v].push(run.rate / base.rate);
      lost[v] += tracedRuns[v]?.lost ?? 0;
    }
    tracedWrites += writes;
    const fig = (v: Variant) => {
      const run = got[v] as SenderRun;
      const t = tracedRuns[v];
      const extra = t ? ` (ratio ${(run.rate / base.rate).toFixed(3)}; ${t.events} events, lost ${t.lost})` : '';
      return `${v} ${k(run.rate)} writes/s, ${run.cpuUs.toFixed(2)} µs CPU/write${extra}`;
    };
    console.log(`round ${r + 1}: ${seq.map(fig).join('; ')}; load ${load()}`);
  }
  const range = (v: number[], f: (n: number) => string) => `${f(Math.min(...v))}–${f(Math.max(...v))}`;
  const ratio = (n: number) => n.toFixed(3);
  const us = (n: number) => n.toFixed(2);
  const names: Record<Variant, string> = {
    untraced: 'untraced',
    traced: 'traced (events decoded here)',
    niced: `traced, tracer and reader at nice ${NICE}`,
    bare: 'tracer alone (events to a file)',
  };
  for (const v of order) {
    const rates = runs[v].map((x) => x.rate);
    const cpu = runs[v].map((x) => x.cpuUs);
    const vs = v === 'untraced' ? '' : `; traced/untraced median ${ratio(median(ratios[v]))} (${range(ratios[v], ratio)})`;
    console.log(`${names[v]}: median ${k(median(rates))} writes/s (${range(rates, k)}), sender CPU median ${us(median(cpu))} µs/write (${range(cpu, us)})${vs}`);
  }
  const per100k = (n: number) => `${((n / tracedWrites) * 100_000).toFixed(1)} per 100 k writes (${n} in ${tracedWrites})`;
  console.log(`events lost (ring buffer full): traced ${per100k(lost.traced)}; niced ${per100k(lost.niced)}; tracer alone ${per100k(lost.bare)}`);
  const reader: number[] = [];
  let replayed = 0;
  for (let i = 0; i < 3; i++) {
    const r = await readerRate();
    reader.push(r.perSecond);
    replayed = r.events;
  }
  console.log(`reader (startTrace's decoding of a recorded run, ${replayed} events, 3 replays): median ${k(median(reader))} events/s (${range(reader, k)}); load ${load()}`);
  console.log(`load at end ${load()}`);
} finally {
  sink.kill();
  rmSync(dir, { recursive: true, force: true });
}
