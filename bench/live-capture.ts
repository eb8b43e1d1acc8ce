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
import { runFlatOutSender } from '../fixtures/flat-out-sender.js';

const seconds = Number(process.argv[2] ?? 5);
const senders = Number(process.argv[3] ?? 2);
const connections = Number(process.argv[4] ?? 4);
const size = Number(process.argv[5] ?? 64);
const withTcpdump = process.env.ACKSCOPE_BENCH_NO_TCPDUMP !== '1';


const runSender = (port: number) => runFlatOutSender(port, connections, size, seconds);

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
