/**
 * Live capture rate: the highest TCP packet rate this machine makes on loopback (several
 * sender processes, many connections, small writes with TCP_NODELAY, each write its own
 * segment), captured through the real API into SQLite (worker thread, FrameWriter,
 * pcapng) while `tcpdump -w` captures the same traffic at the same time. Prints both
 * capture rates and libpcap's kernel drop counts; asserts nothing.
 *
 *   node --import tsx bench/live-capture.ts [seconds=5] [senders=2] [connections=4] [size=64]
 *
 * Set ACKSCOPE_BENCH_NO_TCPDUMP=1 to capture with ackscope alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../service/app.js';

const seconds = Number(process.argv[2] ?? 5);
const senders = Number(process.argv[3] ?? 2);
const connections = Number(process.argv[4] ?? 4);
const size = Number(process.argv[5] ?? 64);
const withTcpdump = process.env.ACKSCOPE_BENCH_NO_TCPDUMP !== '1';

// One sender process: a listener on `port` that reads everything, and `connections`
// clients writing `size`-byte buffers flat out. A write is issued only once the previous
// one went straight to the kernel (writableLength 0), so Node never gathers writes into
// one writev and each write leaves as its own segment. Yields every 64 writes so the
// listener in the same process keeps reading.
const SENDER = `
const net = require('net');
const [port, conns, size, seconds] = process.argv.slice(1).map(Number);
const buf = Buffer.alloc(size, 0x61);
let writes = 0, open = conns;
const server = net.createServer((s) => s.resume());
server.listen(port, '127.0.0.1', () => {
  const end = Date.now() + seconds * 1000;
  for (let i = 0; i < conns; i++) {
    const c = net.connect(port, '127.0.0.1');
    c.setNoDelay(true);
    const pump = () => {
      for (let n = 0; n < 64; n++) {
        if (Date.now() >= end) return c.end();
        c.write(buf);
        writes++;
        if (c.writableLength > 0) return c.once('drain', pump);
      }
      setImmediate(pump);
    };
    c.on('connect', pump);
    c.on('close', () => { if (--open === 0) { server.close(); process.stdout.write(JSON.stringify({ writes })); } });
  }
});
`;

function runSender(port: number): Promise<number> {
  const child = spawn(process.execPath, ['-e', SENDER, String(port), String(connections), String(size), String(seconds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out).writes as number) : reject(new Error(`sender exited ${code}`)))),
  );
}

/** tcpdump -w on the same filter; resolves once it listens. */
async function startTcpdump(filter: string, file: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn('tcpdump', ['-i', 'lo', '-n', '-B', String(32 * 1024), '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
  for (let i = 0; i < 500 && !/listening on/.test(text); i++) await new Promise((r) => setTimeout(r, 10));
  if (!/listening on/.test(text)) throw new Error(`tcpdump did not start: ${text}`);
  return { child, stderr: () => text };
}

function tcpdumpCounts(stderr: string): { captured: number; received: number; dropped: number } {
  const n = (what: string) => Number(new RegExp(`(\\d+) packets? ${what}`).exec(stderr)?.[1] ?? NaN);
  return { captured: n('captured'), received: n('received by filter'), dropped: n('dropped by kernel') };
}

const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-live-'));
const app = await buildApp({ dbPath: join(dir, 'ackscope.db'), logger: false });
try {
  const basePort = 40000 + Math.floor(Math.random() * 20000);
  const filter = `tcp portrange ${basePort}-${basePort + senders - 1}`;
  const created = await app.inject({ method: 'POST', url: '/sessions', payload: { name: 'bench', kind: 'live', interface: 'lo', filter } });
  const id = created.json().id as number;

  const tcpdumpFile = join(dir, 'tcpdump.pcap');
  const tcpdump = withTcpdump ? await startTcpdump(filter, tcpdumpFile) : null;
  const start = await app.inject({ method: 'POST', url: `/sessions/${id}/start` });
  if (start.statusCode !== 200) throw new Error(`start: ${start.body}`);

  const t0 = process.hrtime.bigint();
  const writes = (await Promise.all(Array.from({ length: senders }, (_, i) => runSender(basePort + i)))).reduce((a, b) => a + b, 0);
  const sendSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const stopAsked = process.hrtime.bigint();
  const stopped = await app.inject({ method: 'POST', url: `/sessions/${id}/stop` });
  const stopSeconds = Number(process.hrtime.bigint() - stopAsked) / 1e9;
  const session = stopped.json();
  let dump: ReturnType<typeof tcpdumpCounts> | null = null;
  if (tcpdump) {
    tcpdump.child.kill('SIGINT');
    await once(tcpdump.child, 'exit');
    dump = tcpdumpCounts(tcpdump.stderr());
  }

  const rate = (n: number) => `${Math.round(n / sendSeconds).toLocaleString('en-US')} frames/s`;
  console.log(
    `loopback TCP: ${senders} sender processes × ${connections} connections, ${size}-byte writes with TCP_NODELAY, ${sendSeconds.toFixed(2)} s`,
  );
  console.log(`  writes issued:              ${writes.toLocaleString('en-US')} (${Math.round(writes / sendSeconds).toLocaleString('en-US')}/s)`);
  console.log(
    `  ackscope → SQLite:          ${session.counts.frames.toLocaleString('en-US')} frames (${rate(session.counts.frames)}), ` +
      `${session.counts.tcp.toLocaleString('en-US')} TCP rows; libpcap received ${session.drops.received}, ` +
      `kernel drops ${session.drops.dropped}, interface drops ${session.drops.ifDropped}; state ${session.state}`,
  );
  console.log(`  ackscope stop → all stored: ${stopSeconds.toFixed(2)} s (backlog written after the traffic ended)`);
  if (dump) {
    console.log(
      `  tcpdump -w (same traffic):  ${dump.captured.toLocaleString('en-US')} frames (${rate(dump.captured)}), ` +
        `received by filter ${dump.received}, kernel drops ${dump.dropped}, file ${statSync(tcpdumpFile).size} bytes`,
    );
  }
} finally {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
}
