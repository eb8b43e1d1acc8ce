/**
 * Import benchmark. Prints figures, asserts nothing.
 *
 *   node --import tsx bench/import.ts [--frames 1000000] [--flows 449] [--file FILE] [--rounds 1] [--no-tshark]
 *
 * Without --file it writes a synthetic capture: classic µs pcap, Ethernet/IPv4/TCP with
 * the timestamp option (as Linux sends), `--flows` connections interleaved, each a
 * handshake, 1448-byte segments with an ACK every second segment, some with the 32-bit
 * sequence number wrapping, and a FIN exchange; snaplen 96 (headers only, like
 * `tcpdump -s 96`) so 1 M frames make ~115 MB. With --file it imports that file instead
 * (e.g. a real `tcpdump -w` capture).
 *
 * The import goes through importCapture — the code POST /sessions/:id/import runs,
 * pcapng copy of the session included — into a fresh SQLite file, twice a round: on one
 * thread (the anchor: decode, tracking and SQLite writes on the importing thread) and with
 * the writer thread (SQLite writes on a thread of their own, recording/import-writer.ts).
 * Each prints its wall time, the CPU time of each thread (/proc/thread-self/schedstat)
 * and the load. Then the same file is read by `tshark -r FILE -T fields -e tcp.seq`, and
 * the ratios printed: what the second core buys is the wall-time ratio of the two
 * imports in the same run.
 */
import { spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, openSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { importCapture } from '../recording/import.js';
import { threadCpuMs } from '../recording/import-writer.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const SNAPLEN = 96;
const MSS = 1448;

/** Writes the synthetic pcap; returns its TCP frame count. */
function writeSyntheticPcap(path: string, frames: number, flows: number): number {
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(8 << 20);
  let used = 0;
  const flushIfFull = () => {
    if (used + 256 > buf.length) {
      writeSync(fd, buf, 0, used);
      used = 0;
    }
  };
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(SNAPLEN, 16);
  header.writeUInt32LE(1, 20);
  writeSync(fd, header);

  let tsUs = 1_764_000_000_000_000;
  let written = 0;
  const frame = (f: number, fromClient: boolean, seq: number, ack: number, flags: number, payload: number) => {
    flushIfFull();
    const wire = 14 + 20 + 32 + payload;
    const cap = Math.min(wire, SNAPLEN);
    tsUs += 3;
    const v = buf;
    v.writeUInt32LE(Math.floor(tsUs / 1e6), used);
    v.writeUInt32LE(tsUs % 1e6, used + 4);
    v.writeUInt32LE(cap, used + 8);
    v.writeUInt32LE(wire, used + 12);
    const p = used + 16;
    buf.fill(0, p, p + cap);
    v.writeUInt16BE(0x0800, p + 12);
    const ip = p + 14;
    v.writeUInt8(0x45, ip);
    v.writeUInt16BE(20 + 32 + payload, ip + 2);
    v.writeUInt8(64, ip + 8);
    v.writeUInt8(6, ip + 9);
    const client = [10, 1, (f >> 8) & 0xff, f & 0xff];
    const server = [10, 2, 0, 1];
    Buffer.from(fromClient ? client : server).copy(buf, ip + 12);
    Buffer.from(fromClient ? server : client).copy(buf, ip + 16);
    const tcp = ip + 20;
    v.writeUInt16BE(fromClient ? 40000 + f : 7000, tcp);
    v.writeUInt16BE(fromClient ? 7000 : 40000 + f, tcp + 2);
    v.writeUInt32BE(seq >>> 0, tcp + 4);
    v.writeUInt32BE(ack >>> 0, tcp + 8);
    v.writeUInt8(8 << 4, tcp + 12);
    v.writeUInt8(flags, tcp + 13);
    v.writeUInt16BE(512, tcp + 14);
    // nop nop timestamps
    v.writeUInt16BE(0x0101, tcp + 20);
    v.writeUInt16BE(0x080a, tcp + 22);
    v.writeUInt32BE(tsUs >>> 0, tcp + 24);
    v.writeUInt32BE((tsUs - 40) >>> 0, tcp + 28);
    used += 16 + cap;
    written++;
  };

  const perFlow = Math.ceil(frames / flows);
  const state = Array.from({ length: flows }, (_, f) => ({
    // every fourth flow starts just below 2^32 so its sequence numbers wrap
    cIsn: f % 4 === 0 ? 0xffffffff - 100_000 : (f * 2654435761) >>> 0,
    sIsn: (f * 40503 + 12345) >>> 0,
    sent: 0,
    acked: 0,
    step: 0,
  }));
  // round-robin over flows, a few frames of each at a time, as concurrent connections interleave
  for (let round = 0; written < frames; round++) {
    for (let f = 0; f < flows && written < frames; f++) {
      const s = state[f];
      for (let k = 0; k < 4 && written < frames; k++, s.step++) {
        const c = s.cIsn + 1 + s.sent;
        if (s.step === 0) frame(f, true, s.cIsn, 0, 0x02, 0);
        else if (s.step === 1) frame(f, false, s.sIsn, s.cIsn + 1, 0x12, 0);
        else if (s.step === 2) frame(f, true, s.cIsn + 1, s.sIsn + 1, 0x10, 0);
        else if (s.step >= perFlow - 3) {
          if (s.step === perFlow - 3) frame(f, true, c, s.sIsn + 1, 0x11, 0);
          else if (s.step === perFlow - 2) frame(f, false, s.sIsn + 1, c + 1, 0x11, 0);
          else if (s.step === perFlow - 1) frame(f, true, c + 1, s.sIsn + 2, 0x10, 0);
          else break;
        } else if (s.step % 3 === 0) {
          s.acked = s.sent;
          frame(f, false, s.sIsn + 1, s.cIsn + 1 + s.acked, 0x10, 0);
        } else {
          frame(f, true, c, s.sIsn + 1, 0x18, MSS);
          s.sent += MSS;
        }
      }
    }
  }
  writeSync(fd, buf, 0, used);
  closeSync(fd);
  return written;
}

async function main(): Promise<void> {
  const frames = Number(arg('frames', '1000000'));
  const flows = Number(arg('flows', '449'));
  const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-import-'));
  try {
    let file = arg('file', '');
    if (!file) {
      file = join(dir, 'synthetic.pcap');
      const t0 = process.hrtime.bigint();
      const n = writeSyntheticPcap(file, frames, flows);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      console.log(`synthetic pcap: ${n} TCP frames, ${flows} flows, ${(statSync(file).size / 1e6).toFixed(1)} MB, written in ${ms.toFixed(0)} ms`);
    } else {
      console.log(`capture file: ${file}, ${(statSync(file).size / 1e6).toFixed(1)} MB`);
    }

    const rounds = Number(arg('rounds', '1'));
    const rates: Record<'one thread' | 'writer thread', number[]> = { 'one thread': [], 'writer thread': [] };
    let n = 0;
    const importOnce = async (writerThread: boolean): Promise<number> => {
      const label = writerThread ? 'writer thread' : 'one thread';
      const db = openDatabase(join(dir, `bench-${++n}.db`));
      const session = createSession(db, { name: 'bench', kind: 'import' });
      const cpu0 = process.cpuUsage();
      const thread0 = threadCpuMs();
      const t0 = process.hrtime.bigint();
      const result = await importCapture(db, session.id, createReadStream(file, { highWaterMark: 1 << 20 }), {
        captureFile: join(dir, 'sessions', String(n), 'capture.pcapng'),
        writerThread,
      });
      const importS = Number(process.hrtime.bigint() - t0) / 1e9;
      const mainS = (threadCpuMs() - thread0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const cpuS = (cpu.user + cpu.system) / 1e6;
      const c = result.counters;
      const rate = c.frames / importS;
      const writer = result.writerCpuMs === null ? '' : `, writer thread ${(result.writerCpuMs / 1000).toFixed(2)} s`;
      console.log(
        `ackscope import, ${label}: ${c.frames} frames (${c.tcp} TCP, ${c.flows} flows) in ${importS.toFixed(2)} s = ${Math.round(rate).toLocaleString('en')} frames/s` +
          ` (CPU: importing thread ${mainS.toFixed(2)} s${writer}, process ${cpuS.toFixed(2)} s) [load ${loadavg()[0].toFixed(2)}]`,
      );
      db.close();
      rmSync(join(dir, `bench-${n}.db`), { force: true });
      rates[label].push(rate);
      return rate;
    };
    for (let r = 0; r < rounds; r++) {
      // alternate which goes first, so neither always meets the other's leftovers (page cache, checkpoints)
      const order = r % 2 === 0 ? [false, true] : [true, false];
      for (const writerThread of order) await importOnce(writerThread);
    }
    const best = (label: keyof typeof rates) => Math.max(...rates[label]);
    const ours = best('writer thread');
    console.log(`what the second core buys: ${(ours / best('one thread')).toFixed(2)}× the one-thread import's frames/s (best of ${rounds} each)`);
    console.log(`load average while measuring: ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${cpus().length} cores`);
    if (process.argv.includes('--no-tshark')) return;
    const t1 = process.hrtime.bigint();
    const tshark = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'tcp.seq'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 1 << 30,
    });
    const tsharkS = Number(process.hrtime.bigint() - t1) / 1e9;
    if (tshark.status !== 0) {
      console.log(`tshark failed (status ${tshark.status}); no ratio`);
      return;
    }
    const lines = tshark.stdout.toString().split('\n').length - 1;
    const theirs = lines / tsharkS;
    console.log(`tshark -r -T fields -e tcp.seq: ${lines} lines in ${tsharkS.toFixed(2)} s = ${Math.round(theirs).toLocaleString('en')} frames/s`);
    console.log(`ratio ackscope/tshark: writer thread ${(ours / theirs).toFixed(1)}×, one thread ${(best('one thread') / theirs).toFixed(1)}×`);
  } finally {
    if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

await main();
