/**
 * A capture for comparing stores: a pcap file of several TCP connections built packet by
 * packet (handshakes with SACK permitted, data segments, losses recovered by
 * retransmission with SACK blocks meanwhile, reordered segments, GSO-sized segments
 * whose offsets jump by more than 64 KiB, write tags in one flow), imported through
 * the real SQLite import path (recording/import.ts), plus completions of every stage
 * stored by db/completions.ts, and kernel-witness rows. Deterministic for a seed.
 */
import { openDatabase, type Db } from '../../db/connection.js';
import { createSession } from '../../db/sessions.js';
import { storeCompletions } from '../../db/completions.js';
import { storeKernelWitnesses, storeTraceStats } from '../../db/kernel-witness.js';
import { importCapture, type ImportOptions } from '../../recording/import.js';
import { LINKTYPE_RAW } from '../../capture/decode/linktypes.js';
import { encodeTag, TAG_BYTES } from '../../capture/decode/tag.js';
import type { CompletionRow } from '../../core/completion.js';
import type { KernelWitnessInput, TraceStats } from '../../core/kernel-witness.js';
import { ipv4Tcp, pcapFile, sackOption, concat, type PcapRecord } from './packets.js';
import { seededRandom } from '../../fixtures/random.js';

const T0_US = 1_764_061_234_000_000;


interface Sent {
  off: number;
  len: number;
  us: number;
}

interface FlowPlan {
  client: { addr: string; port: number };
  server: { addr: string; port: number };
  bytes: number;
  tagged: boolean;
  /** Headers only captured; one segment in ten 60-70 KB (a GSO super-frame on the sender). */
  jumbo: boolean;
}

export interface StoreCapture {
  db: Db;
  dbPath: string;
  sessionId: number;
  completions: number;
  frames: number;
  /** The pcap file imported, and the completions stored: what a test posts to a service to build the same session. */
  file: Uint8Array;
  rows: CompletionRow[];
  /** The kernel witnesses stored, as POST /sessions/:id/kernel-witness takes them (after the completions), and the trace statement. */
  witnesses: KernelWitnessInput[];
  trace: TraceStats;
}

/**
 * Writes the session into a fresh SQLite file at dbPath and returns it open.
 * `scale` multiplies each flow's byte count (1: ~300 frames). `subnet`: the third byte
 * of every address (another host's connections: a capture whose flows differ from
 * another's of the same seed). `importOptions` go to importCapture (the writer thread or
 * not, the batch size).
 */
export async function buildStoreCapture(
  dbPath: string,
  seed = 1,
  scale = 1,
  subnet = 0,
  importOptions: ImportOptions = {},
): Promise<StoreCapture> {
  const net = (host: number) => `10.0.${subnet}.${host}`;
  const rnd = seededRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const plans: FlowPlan[] = [
    { client: { addr: net(1), port: 40001 }, server: { addr: net(2), port: 7000 }, bytes: 60_000 * scale, tagged: false, jumbo: false },
    { client: { addr: net(1), port: 40002 }, server: { addr: net(2), port: 7000 }, bytes: 40_000 * scale, tagged: true, jumbo: false },
    { client: { addr: net(3), port: 40003 }, server: { addr: net(2), port: 7001 }, bytes: 900_000 * scale, tagged: false, jumbo: true },
  ];
  const records: { us: number; data: Uint8Array; wirelen: number }[] = [];
  const rows: CompletionRow[] = [];
  const witnesses: Parameters<typeof storeKernelWitnesses>[2][number][] = [];

  plans.forEach((plan, f) => {
    const cIsn = (int(0, 0xffffffff) - (f === 0 ? 0 : 0)) >>> 0;
    const sIsn = int(0, 0xffffffff) >>> 0;
    let us = 100 + f * 7;
    const up = { src: plan.client.addr, dst: plan.server.addr, sport: plan.client.port, dport: plan.server.port };
    const down = { src: plan.server.addr, dst: plan.client.addr, sport: plan.server.port, dport: plan.client.port };
    const push = (bytes: Uint8Array, wirelen = bytes.length) => records.push({ us, data: bytes, wirelen });
    const sackOk = Uint8Array.from([4, 2]);
    push(ipv4Tcp({ ...up, seq: cIsn, flags: 'S', options: sackOk }));
    us += 5;
    push(ipv4Tcp({ ...down, seq: sIsn, ack: cIsn + 1, flags: 'SA', options: sackOk }));
    us += 5;
    push(ipv4Tcp({ ...up, seq: cIsn + 1, ack: sIsn + 1, flags: 'A' }));

    // the writes tiling the stream, and the stream's bytes (tags at each write's start)
    const writes: { start: number; end: number }[] = [];
    for (let off = 0; off < plan.bytes; ) {
      const len = Math.min(plan.bytes - off, plan.jumbo ? int(30_000, 150_000) : int(TAG_BYTES, 9000));
      writes.push({ start: off, end: off + len });
      off += len;
    }
    const stream = new Uint8Array(plan.jumbo ? 0 : plan.bytes);
    if (!plan.jumbo) {
      for (let i = 0; i < stream.length; i++) stream[i] = (i * 31 + f) & 0xff;
      if (plan.tagged) writes.forEach((w, i) => w.end - w.start >= TAG_BYTES && encodeTag(stream, w.start, { writeId: i, length: w.end - w.start, offset: w.start }));
    }

    const received: [number, number][] = [];
    let cum = 0;
    const firstSent = new Map<number, number>(); // segment end → first send time
    const sent: Sent[] = [];
    const ackTimes: { ack: number; us: number }[] = [];
    const addReceived = (a: number, b: number) => {
      received.push([a, b]);
      received.sort((x, y) => x[0] - y[0]);
      for (const [l, r] of received) if (l <= cum && r > cum) cum = r;
    };
    const sendAck = () => {
      us += int(1, 4);
      const above = received.filter(([l]) => l > cum).slice(-3);
      const blocks = above.map(([l, r]) => [(cIsn + 1 + l) >>> 0, (cIsn + 1 + r) >>> 0] as [number, number]);
      push(ipv4Tcp({ ...down, seq: sIsn + 1, ack: (cIsn + 1 + cum) >>> 0, flags: 'A', options: blocks.length ? concat(Uint8Array.from([1, 1]), sackOption(blocks)) : undefined }));
      ackTimes.push({ ack: cum, us });
    };
    const emit = (off: number, len: number, lost: boolean) => {
      us += int(2, 12);
      const spec = { ...up, seq: (cIsn + 1 + off) >>> 0, ack: sIsn + 1, flags: 'PA' };
      if (plan.jumbo) {
        const bytes = ipv4Tcp({ ...spec, claimedPayload: len });
        push(bytes, bytes.length + len);
      } else {
        push(ipv4Tcp({ ...spec, payload: stream.subarray(off, off + len) }));
      }
      sent.push({ off, len, us });
      if (!firstSent.has(off + len)) firstSent.set(off + len, us);
      if (!lost) addReceived(off, off + len);
    };

    const lostQueue: { off: number; len: number; due: number }[] = [];
    let segments = 0;
    let pendingSwap: { off: number; len: number } | null = null;
    for (let off = 0; off < plan.bytes; ) {
      // a GSO flow: mostly 1-3 KB, one segment in ten 60-70 KB (offset gaps far above the flow's mean step)
      const len = Math.min(plan.bytes - off, plan.jumbo ? (rnd() < 0.1 ? int(60_000, 70_000) : int(1000, 3000)) : int(200, 2900));
      const lost = rnd() < 0.05;
      if (!plan.jumbo && !lost && pendingSwap === null && rnd() < 0.04 && off + len < plan.bytes) {
        pendingSwap = { off, len }; // held back: the next segment goes out first (reordered)
      } else {
        emit(off, len, lost);
        if (pendingSwap) {
          emit(pendingSwap.off, pendingSwap.len, false);
          pendingSwap = null;
        }
        if (lost) lostQueue.push({ off, len, due: segments + 3 });
      }
      off += len;
      segments++;
      if (segments % 2 === 0) sendAck();
      while (lostQueue.length && lostQueue[0].due <= segments) {
        const l = lostQueue.shift()!;
        emit(l.off, l.len, false); // the retransmission
        sendAck();
      }
    }
    if (pendingSwap) emit(pendingSwap.off, pendingSwap.len, false);
    for (const l of lostQueue) emit(l.off, l.len, false);
    sendAck();

    // completions: each write completes somewhere between just before its first byte left and after its ACK
    const firstLeft = (byte: number) => Math.min(...sent.filter((s) => s.off <= byte && s.off + s.len > byte).map((s) => s.us));
    const ackedAt = (byte: number) => ackTimes.find((a) => a.ack > byte)?.us ?? us + 1000;
    writes.forEach((w, i) => {
      const from = firstLeft(w.start) - 20;
      const to = ackedAt(w.end - 1) + 20;
      const done = from + Math.floor(rnd() * (to - from));
      const partial = i % 17 === 5;
      rows.push({
        srcAddr: plan.client.addr, srcPort: plan.client.port, dstAddr: plan.server.addr, dstPort: plan.server.port,
        writeId: i, offsetStart: w.start, offsetEnd: w.end,
        submittedNs: BigInt(T0_US + done - int(1, 40)) * 1000n + 123n, completedNs: BigInt(T0_US + done) * 1000n + 456n,
        bytesReported: partial ? Math.max(1, Math.floor((w.end - w.start) / 2)) : w.end - w.start,
        api: i % 3 === 0 ? 'posix:send' : 'node:socket.write', buffers: 1 + (i % 2), status: 'ok',
        writeReturned: i % 2, immediate: null, writableLength: i % 4 === 0 ? null : i * 10,
        tcpBytesSent: i % 5 === 0 ? w.end : null, tcpBytesAcked: i % 5 === 0 ? w.start : null, tcpNotsentBytes: null,
        tcpUnacked: null, tcpBytesRetrans: null, tcpRttUs: i % 5 === 0 ? 42 : null, tcpInfoFrom: null,
        extra: i % 7 === 0 ? JSON.stringify({ note: "it's \\ \"quoted\"\n", i }) : null,
      });
      if (f === 0 && i % 4 === 0) {
        const byte = w.end - 1;
        witnesses.push({
          flow: { srcAddr: plan.client.addr, srcPort: plan.client.port, dstAddr: plan.server.addr, dstPort: plan.server.port },
          writeId: i,
          witness: {
            byte, qdiscInNs: BigInt(T0_US + firstLeft(byte) - 2) * 1000n, qdiscOutNs: BigInt(T0_US + firstLeft(byte) - 1) * 1000n,
            driverNs: i % 8 === 0 ? null : BigInt(T0_US + firstLeft(byte)) * 1000n + 500n,
            ackArrivedNs: BigInt(T0_US + ackedAt(byte)) * 1000n - 300n, ackProcessedNs: BigInt(T0_US + ackedAt(byte)) * 1000n + 200n,
            retransmitted: i % 8 === 4,
          },
        });
      }
    });
  });
  // a completion of a connection the capture never saw (stage unknown)
  rows.push({
    srcAddr: `10.9.${9 + subnet}.9`, srcPort: 1, dstAddr: `10.9.${9 + subnet}.8`, dstPort: 2, writeId: 0, offsetStart: 0, offsetEnd: 10,
    submittedNs: BigInt(T0_US) * 1000n, completedNs: BigInt(T0_US + 5) * 1000n, bytesReported: 10, api: 'posix:send', buffers: 1,
    status: 'ok', writeReturned: null, immediate: null, writableLength: null, tcpBytesSent: null, tcpBytesAcked: null,
    tcpNotsentBytes: null, tcpUnacked: null, tcpBytesRetrans: null, tcpRttUs: null, tcpInfoFrom: null, extra: null,
  });

  records.sort((a, b) => a.us - b.us);
  const pcapRecords: PcapRecord[] = records.map((r) => ({
    sec: Math.floor((T0_US + r.us) / 1e6),
    frac: ((T0_US + r.us) % 1e6) * 1000 + 1,
    data: r.data,
    wirelen: r.wirelen,
  }));
  const file = pcapFile({ le: true, ns: true, linkType: LINKTYPE_RAW, records: pcapRecords });

  const db = openDatabase(dbPath);
  const session = createSession(db, { name: `store capture ${seed}`, kind: 'import' });
  await importCapture(db, session.id, (async function* () {
    for (let i = 0; i < file.length; i += 65536) yield file.subarray(i, i + 65536);
  })(), importOptions);
  storeCompletions(db, session.id, rows);
  storeKernelWitnesses(db, session.id, witnesses);
  const trace: TraceStats = { target: "pid 42 'x'", lostEvents: 1, calls: rows.length, uncovered: 0, momentsWithoutCall: 2, missing: { driver: 3 }, exitCode: 0 };
  storeTraceStats(db, session.id, trace);
  const text = (ns: bigint | null) => (ns === null ? null : String(ns));
  const posted: KernelWitnessInput[] = witnesses.map(({ flow, writeId, witness: w }) => ({
    flow, writeId, byte: w.byte, qdiscInNs: text(w.qdiscInNs), qdiscOutNs: text(w.qdiscOutNs), driverNs: text(w.driverNs),
    ackArrivedNs: text(w.ackArrivedNs), ackProcessedNs: text(w.ackProcessedNs), retransmitted: w.retransmitted,
  }));
  return { db, dbPath, sessionId: session.id, completions: rows.length, frames: records.length, file, rows, witnesses: posted, trace };
}
