/**
 * The ladder's shares per program: where the last byte of each send call was when the
 * call returned, by the kernel tracer's moments alone (correlate/ladder.ts kernelStage:
 * socket, qdisc, wire, acked), for unchanged programs — a Node script, a POSIX C sender,
 * Python's sendall, curl uploading a file — on loopback and behind the rig's 20 Mbit/s
 * tbf (veth between two namespaces). Needs root and a built tracer. Asserts nothing.
 *
 *   node --import tsx bench/ladder-shares.ts [writes=200] [size=16384]
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { withRig, type Rig } from '../experiment/rig.js';
import { kernelStage, type KernelStage } from '../correlate/ladder.js';
import { collectTrace, joinMoments } from '../tracer/index.js';

const writes = Number(process.argv[2] ?? 200);
const size = Number(process.argv[3] ?? 16384);
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const dir = mkdtempSync(join(tmpdir(), 'ackscope-ladder-'));
const cSender = join(dir, 'blocking-sender');
execFileSync('cc', ['-O2', '-o', cSender, here('./programs/blocking-sender.c')]);
const upload = join(dir, 'upload.bin');
writeFileSync(upload, Buffer.alloc(writes * size, 7));

const PROGRAMS: Record<string, (host: string, port: number) => string[]> = {
  node: (host, port) => [process.execPath, '-e', `const s=require('net').connect(${port},'${host}');let i=0;(function w(){while(i<${writes}){i++;if(!s.write(Buffer.alloc(${size})))return s.once('drain',w)}s.end()})()`],
  posix: (host, port) => [cSender, 'send', host, String(port), String(writes), String(size)],
  python: (host, port) => ['python3', '-c', `import socket\ns=socket.create_connection(("${host}",${port}))\nfor i in range(${writes}): s.sendall(b"x"*${size})\ns.close()`],
  curl: (host, port) => ['curl', '-sS', '-o', '/dev/null', '-H', 'Expect:', '-T', upload, `http://${host}:${port}/upload`],
};

type Shares = Record<KernelStage | 'none', number>;

async function measure(command: string[]): Promise<{ shares: Shares; calls: number; lost: number }> {
  const { events } = await collectTrace({ command }, { commandStdio: 'ignore', lingerMs: 500 });
  const joined = joinMoments(events);
  const shares: Shares = { socket: 0, qdisc: 0, wire: 0, acked: 0, none: 0 };
  let calls = 0;
  for (const { record, kernel } of joined.completions) {
    if (kernel.byte === null || record.flow.dstPort === 0) continue;
    calls++;
    const base = BigInt(record.submittedNs);
    const rel = (t: string | null) => (t === null ? null : Number(BigInt(t) - base));
    const stage = kernelStage(Number(BigInt(record.completedNs) - base), {
      qdiscInNs: rel(kernel.qdiscInNs), qdiscOutNs: rel(kernel.qdiscOutNs), driverNs: rel(kernel.driverNs),
      ackArrivedNs: rel(kernel.ackArrivedNs), ackProcessedNs: rel(kernel.ackProcessedNs), retransmitted: kernel.retransmitted,
    });
    shares[stage ?? 'none']++;
  }
  return { shares, calls, lost: joined.lost };
}

function line(path: string, name: string, r: { shares: Shares; calls: number; lost: number }): string {
  const pct = (n: number) => `${((100 * n) / Math.max(r.calls, 1)).toFixed(1)}%`;
  const s = r.shares;
  return `${path.padEnd(14)} ${name.padEnd(7)} calls ${String(r.calls).padStart(5)}  socket ${pct(s.socket).padStart(6)}  qdisc ${pct(s.qdisc).padStart(6)}  wire ${pct(s.wire).padStart(6)}  acked ${pct(s.acked).padStart(6)}  no witness ${pct(s.none).padStart(6)}  lost events ${r.lost}`;
}

async function receiver(start: (file: string, args: string[]) => ChildProcess, host: string, port: number) {
  const child = start(process.execPath, [here('./programs/counting-receiver.cjs'), host, String(port)]);
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
  return child;
}

console.log(`ladder shares: ${writes} writes of ${size} B per program (curl: one ${writes * size} B upload); load ${load()}`);
{
  const port = 47000;
  const rx = await receiver((f, a) => spawn(f, a, { stdio: ['ignore', 'pipe', 'inherit'] }), '127.0.0.1', port);
  for (const [name, cmd] of Object.entries(PROGRAMS)) console.log(line('loopback', name, await measure(cmd('127.0.0.1', port))));
  rx.kill();
}
await withRig({ bottleneck: { rateBps: 20e6, limitBytes: 200_000 } }, async (rig: Rig) => {
  const port = 47001;
  const rx = await receiver((f, a) => rig.spawn('receiver', f, a), rig.receiver.addr, port);
  for (const [name, cmd] of Object.entries(PROGRAMS)) {
    const c = rig.command('sender', cmd(rig.receiver.addr, port)[0], cmd(rig.receiver.addr, port).slice(1));
    console.log(line('tbf 20 Mbit/s', name, await measure([c.file, ...c.args])));
  }
  rx.kill();
});
console.log(`load after: ${load()}`);
rmSync(dir, { recursive: true, force: true });

