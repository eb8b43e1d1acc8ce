/**
 * The tracer's moments against the kernel's own SO_TIMESTAMPING stamps (pure, no I/O).
 * The stamps come from test/programs/tstamp-writer.c: per write, keyed by the stream
 * offset of its last byte (OPT_ID), SCHED (__dev_queue_xmit), SND (the driver's
 * skb_tx_timestamp) and ACK (the ACK covering the byte processed). A write is compared
 * when it has all three stamps; a tracer moment that is null is counted missing, never
 * filled in.
 */
import type { KernelWitness, TracedCompletion } from '../../tracer/join.js';

export type StampKind = 'sched' | 'snd' | 'ack';
export type KernelStamps = Partial<Record<StampKind, bigint>>;

export interface ParsedStamps {
  /** The first stamp of each kind per key (a retransmission may stamp SND again). */
  byKey: Map<number, KernelStamps>;
  /** Stamps after the first of their kind and key (a retransmission is stamped again). */
  repeated: Record<StampKind, number>;
  /** The writer's closing line: it wrote this many writes of this size. */
  done: { writes: number; size: number } | null;
}

/** Parses the writer's "stamp KIND KEY NS" / "done WRITES SIZE" lines. */
export function parseStamps(text: string): ParsedStamps {
  const byKey = new Map<number, KernelStamps>();
  const repeated: Record<StampKind, number> = { sched: 0, snd: 0, ack: 0 };
  let done: ParsedStamps['done'] = null;
  for (const line of text.split('\n')) {
    const s = /^stamp (sched|snd|ack) (\d+) (\d+)$/.exec(line);
    if (s) {
      const kind = s[1] as StampKind;
      const key = Number(s[2]);
      const stamps = byKey.get(key) ?? {};
      if (stamps[kind] !== undefined) repeated[kind]++;
      else stamps[kind] = BigInt(s[3] as string);
      byKey.set(key, stamps);
      continue;
    }
    const d = /^done (\d+) (\d+)$/.exec(line);
    if (d) done = { writes: Number(d[1]), size: Number(d[2]) };
  }
  return { byKey, repeated, done };
}

export interface Pair {
  name: string;
  tracer: keyof Pick<KernelWitness, 'qdiscInNs' | 'driverNs' | 'ackArrivedNs' | 'ackProcessedNs'>;
  stamp: StampKind;
}

/** What is compared with what: the tracepoint that sits next to the stamp's call site. */
export const PAIRS: readonly Pair[] = [
  { name: 'qdisc-in − SCHED', tracer: 'qdiscInNs', stamp: 'sched' },
  { name: 'driver − SND', tracer: 'driverNs', stamp: 'snd' },
  { name: 'ack-processed − ACK', tracer: 'ackProcessedNs', stamp: 'ack' },
  { name: 'ack-arrived − ACK', tracer: 'ackArrivedNs', stamp: 'ack' },
];

/**
 * One ACK often covers several writes; tcp_clean_rtx_queue then stamps them one after the
 * other, each stamp cloning an skb onto the error queue (~0.3–0.6 µs here), so the k-th
 * write's ACK stamp lags the ACK's processing by k of those. The first write an ACK
 * covers has no such lag: compared on its own under this name.
 */
export const FIRST_PER_ACK = 'ack-processed − ACK, first write per ACK';

export interface PairAgreement {
  /** Writes (with all three stamps and a traced call) whose tracer moment exists. */
  compared: number;
  /** …whose tracer moment is null. */
  missing: number;
  /** tracer − stamp, ns, per compared write. */
  diffsNs: number[];
}

export interface Agreement {
  /** Writes the writer made (their last bytes are the keys). */
  writes: number;
  /** Writes with SCHED, SND and ACK stamps. */
  withAllStamps: number;
  /** …that have a traced call whose last byte is the key. */
  matched: number;
  /** Keys with all stamps and no traced call ending there. */
  unmatchedKeys: number[];
  /** Stamp keys that are no write's last byte (MSG_EOR should make none). */
  foreignKeys: number;
  pairs: Record<string, PairAgreement>;
}

/** Per write (ends at offsets size−1, 2·size−1, …): the tracer's moments minus the kernel's stamps. */
export function agreement(completions: readonly TracedCompletion[], stamps: ParsedStamps['byKey'], writes: number, size: number): Agreement {
  const byByte = new Map<number, KernelWitness>();
  for (const c of completions) if (c.kernel.byte !== null) byByte.set(c.kernel.byte, c.kernel);
  const pairs: Record<string, PairAgreement> = {};
  for (const p of PAIRS) pairs[p.name] = { compared: 0, missing: 0, diffsNs: [] };
  const firstPerAck: PairAgreement = { compared: 0, missing: 0, diffsNs: [] };
  pairs[FIRST_PER_ACK] = firstPerAck;
  let previousAck: string | null = null;
  const ends = new Set<number>();
  let withAllStamps = 0;
  let matched = 0;
  const unmatchedKeys: number[] = [];
  for (let i = 0; i < writes; i++) {
    const key = (i + 1) * size - 1;
    ends.add(key);
    const s = stamps.get(key);
    if (s?.sched === undefined || s.snd === undefined || s.ack === undefined) continue;
    withAllStamps++;
    const k = byByte.get(key);
    if (!k) {
      unmatchedKeys.push(key);
      continue;
    }
    matched++;
    for (const p of PAIRS) {
      const t = k[p.tracer];
      const a = pairs[p.name] as PairAgreement;
      if (t === null) {
        a.missing++;
        continue;
      }
      a.compared++;
      a.diffsNs.push(Number(BigInt(t) - (s[p.stamp] as bigint)));
    }
    if (k.ackProcessedNs !== null && k.ackProcessedNs !== previousAck) {
      firstPerAck.compared++;
      firstPerAck.diffsNs.push(Number(BigInt(k.ackProcessedNs) - s.ack));
    }
    previousAck = k.ackProcessedNs ?? previousAck;
  }
  const foreignKeys = [...stamps.keys()].filter((k) => !ends.has(k)).length;
  return { writes, withAllStamps, matched, unmatchedKeys, foreignKeys, pairs };
}

/** Median of signed values (the bias), p50/p99/max of absolute values. */
export function describe(diffs: readonly number[]): { n: number; median: number; p50: number; p99: number; max: number } {
  const signed = [...diffs].sort((a, b) => a - b);
  const abs = diffs.map(Math.abs).sort((a, b) => a - b);
  const at = (s: number[], q: number) => s[Math.min(s.length - 1, Math.floor(q * (s.length - 1)))] ?? NaN;
  return { n: diffs.length, median: at(signed, 0.5), p50: at(abs, 0.5), p99: at(abs, 0.99), max: abs[abs.length - 1] ?? NaN };
}
