/**
 * Overhead of the send instrumentation: writes per second of overlapped 1 KiB writes
 * to `ackscope sink` on loopback, instrumented (records kept in memory) under each
 * TCP_INFO policy (every completion, once per burst, off) vs. the same loop with plain
 * socket.write. The sink runs in its own
 * process so it does not share the sender's event loop. Prints figures, asserts nothing.
 * Besides writes per second (wall clock: it follows the machine's load) it prints the
 * sender process's CPU per write during the run and plain's CPU per write over the
 * variant's (the share of plain's rate a CPU-bound sender keeps), which the load moves less.
 *
 *   node --import tsx bench/sender-overhead.ts [writes=200000] [rounds=3] [window=16]
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { TcpInfoPolicy } from '../sender/instrument.js';
import { runWorkload } from '../sender/workload.js';

const writes = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 3);
const window = Number(process.argv[4] ?? 16);

const cli = fileURLToPath(new URL('../cli/ackscope.ts', import.meta.url));
const sink = spawn(process.execPath, ['--import', 'tsx', cli, 'sink', '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
const port = await new Promise<number>((resolve, reject) => {
  let text = '';
  sink.stderr.on('data', (c: Buffer) => {
    text += c.toString();
    const m = /listening on [^\s]+:(\d+)/.exec(text);
    if (m) resolve(Number(m[1]));
  });
  sink.once('exit', (code) => reject(new Error(`sink exited (${code}): ${text}`)));
});

type Variant = { name: string; instrument: boolean; tcpInfo?: TcpInfoPolicy };
const variants: Variant[] = [
  { name: 'plain socket.write', instrument: false },
  { name: 'instrumented, TCP_INFO every', instrument: true, tcpInfo: 'every' },
  { name: 'instrumented, TCP_INFO burst', instrument: true, tcpInfo: 'burst' },
  { name: 'instrumented, TCP_INFO off', instrument: true, tcpInfo: 'off' },
];
const rates = new Map<string, number[]>(variants.map((v) => [v.name, []]));
/** CPU µs per write of the sender process, per round. */
const cpuPerWrite = new Map<string, number[]>(variants.map((v) => [v.name, []]));
/** Per burst-policy round: the share of records whose TCP_INFO reading is shared. */
const sharedShares: number[] = [];

// warm-up (JIT), then rounds alternating the variants so drift hits all alike
for (const v of variants) {
  await runWorkload({ host: '127.0.0.1', port, count: 20_000, sizes: [1024], mode: 'overlapped', window, instrument: v.instrument, tcpInfo: v.tcpInfo });
}
for (let round = 0; round < rounds; round++) {
  for (const v of variants) {
    const { summary, records } = await runWorkload({
      host: '127.0.0.1',
      port,
      count: writes,
      sizes: [1024],
      mode: 'overlapped',
      window,
      instrument: v.instrument,
      tcpInfo: v.tcpInfo,
    });
    rates.get(v.name)!.push(summary.callsPerSecond);
    cpuPerWrite.get(v.name)!.push(summary.cpuUs / summary.completed);
    if (v.tcpInfo === 'burst') sharedShares.push(records.filter((r) => r.tcpInfoFrom !== undefined).length / records.length);
  }
}
sink.kill('SIGTERM');

// The machine may be shared: print the median and the best round (least disturbed) of each.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const best = (xs: number[]) => Math.max(...xs);
const plain = rates.get('plain socket.write')!;
const plainCpu = median(cpuPerWrite.get('plain socket.write')!);
console.log(`overlapped 1 KiB writes to the sink on loopback, window ${window}, ${writes} writes × ${rounds} rounds`);
for (const v of variants) {
  const xs = rates.get(v.name)!;
  const pct = (f: (x: number[]) => number) => `${((100 * f(xs)) / f(plain)).toFixed(1)}%`;
  const cpu = median(cpuPerWrite.get(v.name)!);
  console.log(
    `  ${v.name.padEnd(30)} median ${Math.round(median(xs)).toString().padStart(7)} writes/s (${pct(median)} of plain)` +
      `  best ${Math.round(best(xs)).toString().padStart(7)} (${pct(best)})  rounds: ${xs.map((x) => Math.round(x)).join(', ')}`,
  );
  console.log(
    `  ${''.padEnd(30)} CPU ${cpu.toFixed(3)} µs/write (plain's / this: ${((100 * plainCpu) / cpu).toFixed(1)}%)` +
      `  rounds: ${cpuPerWrite.get(v.name)!.map((x) => x.toFixed(3)).join(', ')}`,
  );
}
console.log(`  load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`  burst policy: ${sharedShares.map((x) => `${(100 * x).toFixed(0)}%`).join(', ')} of records share an earlier completion's reading`);
