/**
 * Where the kernel tracer's cost goes, per traced write: the time each of its BPF programs
 * ran (the kernel's own accounting, `kernel.bpf_stats_enabled`: run_time_ns and run_cnt
 * per program, read with `bpftool prog show` while the tracer is still attached), the
 * tracer process's CPU (reading the ring buffer, writing the events), and the sender's
 * CPU per write traced and untraced. The workload is bench/tracer-overhead.ts's: blocking
 * 16 KiB write()s to a C sink on lo, the tracer in command mode with its events sent to
 * /dev/null in the given format. Programs are picked by the tracer's pid (other tracers
 * may run on the machine). bpf_stats adds two clock reads per program run; it is switched
 * back to its previous value at the end. Needs root and a built tracer. Asserts nothing.
 *
 *   node --import tsx bench/tracer-cost.ts [writes=100000] [runs=3] [format=binary|ndjson]
 *   TRACER=/path/to/ackscope-tracer …   another build of the tracer (e.g. an older one, with ndjson)
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tracerBinary } from '../tracer/run.js';

const writes = Number(process.argv[2] ?? 100_000);
const runs = Number(process.argv[3] ?? 3);
const format = process.argv[4] ?? 'binary';
const size = 16384;

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const dir = mkdtempSync(join(tmpdir(), 'ackscope-tracer-cost-'));
const bin = join(dir, 'blocking-sender');
execFileSync('cc', ['-O2', '-Wall', '-o', bin, fileURLToPath(new URL('./programs/blocking-sender.c', import.meta.url))]);
const STATS = '/proc/sys/kernel/bpf_stats_enabled';
const statsBefore = readFileSync(STATS, 'utf8').trim();
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

const sink = spawn(bin, ['sink'], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((resolve, reject) => {
  createInterface({ input: sink.stdout! }).once('line', (l: string) => resolve(Number(/^port (\d+)$/.exec(l)?.[1])));
  sink.once('exit', (code) => reject(new Error(`sink exited (${code})`)));
});
const sendArgs = ['send', '127.0.0.1', String(port), String(writes), String(size)];

interface ProgInfo {
  id: number;
  name?: string;
  run_time_ns?: number;
  run_cnt?: number;
}

/** The BPF programs a process holds: its fds' `prog_id` (program and link fds), from /proc. */
function tracerProgramIds(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    const m = /^prog_id:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    if (m) ids.add(Number(m[1]));
  }
  return ids;
}

/** The sender's "writes N seconds S cpu C" line: CPU µs per write. */
function senderCpuUs(stderr: string): number {
  const m = /writes (\d+) seconds ([\d.]+) cpu ([\d.]+)/.exec(stderr);
  if (!m) throw new Error(`the sender printed no result: ${stderr}`);
  return (Number(m[3]) / Number(m[1])) * 1e6;
}

async function untraced(): Promise<number> {
  const p = spawn(bin, sendArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  await new Promise((r) => p.once('close', r));
  return senderCpuUs(stderr);
}

async function traced(): Promise<{ senderUs: number; tracerUs: number; programs: Map<string, { ns: number; count: number }> }> {
  // a long linger: the programs stay attached while they are read after the sender ends
  const formatArgs = format === 'ndjson' ? [] : ['--events-format', format]; // ndjson: the default, also of older builds
  const p = spawn(process.env.TRACER ?? tracerBinary(), [...formatArgs, '--linger-ms', '2000', '--', bin, ...sendArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const finished = new Promise<void>((resolve) => {
    p.stderr!.on('data', (d) => {
      stderr += d;
      if (/writes \d+ seconds/.test(stderr)) resolve();
    });
  });
  const closed = new Promise((r) => p.once('close', r));
  await finished;
  const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tracerSeconds = (Number(fields[11]) + Number(fields[12])) / clockTicks; // utime, stime
  const mine = tracerProgramIds(p.pid ?? 0);
  const all = JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as ProgInfo[];
  const programs = new Map<string, { ns: number; count: number }>();
  for (const prog of all) {
    if (!prog.name || !mine.has(prog.id)) continue;
    programs.set(prog.name, { ns: prog.run_time_ns ?? 0, count: prog.run_cnt ?? 0 });
  }
  await closed;
  return { senderUs: senderCpuUs(stderr), tracerUs: (tracerSeconds / writes) * 1e6, programs };
}

try {
  writeFileSync(STATS, '1');
  console.log(`tracer cost: ${writes} blocking write()s of ${size} B per run, ${runs} runs, lo, events as ${format} to /dev/null; load ${load()}`);
  await untraced(); // warm-up
  const perProgram = new Map<string, { nsPerWrite: number[]; runsPerWrite: number[]; nsPerRun: number[] }>();
  const totals: number[] = [];
  for (let r = 0; r < runs; r++) {
    const u = await untraced();
    const t = await traced();
    let total = 0;
    for (const [name, v] of t.programs) {
      const e = perProgram.get(name) ?? { nsPerWrite: [], runsPerWrite: [], nsPerRun: [] };
      e.nsPerWrite.push(v.ns / writes);
      e.runsPerWrite.push(v.count / writes);
      e.nsPerRun.push(v.count ? v.ns / v.count : 0);
      perProgram.set(name, e);
      total += v.ns / writes;
    }
    totals.push(total);
    console.log(
      `run ${r + 1}: sender CPU untraced ${u.toFixed(2)} µs/write, traced ${t.senderUs.toFixed(2)} µs/write (+${(t.senderUs - u).toFixed(2)}); ` +
        `BPF programs ${(total / 1000).toFixed(2)} µs/write; tracer process (load and attach included) ${t.tracerUs.toFixed(2)} µs/write; load ${load()}`,
    );
  }
  const range = (v: number[], d = 0) => `${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)}`;
  console.log('program                     ns per write   runs per write   ns per run');
  for (const [name, e] of [...perProgram].sort((a, b) => Math.max(...b[1].nsPerWrite) - Math.max(...a[1].nsPerWrite))) {
    console.log(`${name.padEnd(28)}${range(e.nsPerWrite).padStart(12)}   ${range(e.runsPerWrite, 2).padStart(14)}   ${range(e.nsPerRun).padStart(10)}`);
  }
  console.log(`all programs: ${range(totals)} ns per write; load at end ${load()}`);
} finally {
  writeFileSync(STATS, statsBefore);
  sink.kill();
  rmSync(dir, { recursive: true, force: true });
}
