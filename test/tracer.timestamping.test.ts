import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withRig } from '../experiment/rig.js';
import type { CallEvent, StatsEvent, TracerEvent } from '../tracer/events.js';
import { joinMoments, type TracedCompletion } from '../tracer/join.js';
import { collectTrace, tracerBinary } from '../tracer/run.js';
import { agreement, describe, FIRST_PER_ACK, parseStamps, PAIRS, type Agreement } from './helpers/tstamp-agreement.js';
import { assertNoTracerLeft, countingReceiver } from './helpers/tracer-live.js';
import { startRigReceiver } from './helpers/rig-receiver.js';

/**
 * The tracer's moments against the kernel's own clock of the same events: SO_TIMESTAMPING.
 * A small C writer (test/programs/tstamp-writer.c) asks for SCHED, SND and ACK stamps on
 * its socket and writes 4 KiB with MSG_EOR (each write ends its own skb, so each write's
 * last byte has its own stamps, keyed by OPT_ID); the tracer traces it at the same time
 * (command mode). Per write: qdisc-in vs SCHED (both in __dev_queue_xmit), driver vs SND
 * (net_dev_start_xmit vs the driver's skb_tx_timestamp), ack-processed vs ACK (tcp_probe
 * at the start of tcp_rcv_established vs tcp_ack_tstamp in tcp_clean_rtx_queue).
 *
 * Tolerance: the pairs sit a few hundred instructions apart on one CPU, mostly with bottom
 * halves off, so the true gap is ~0.1–3 µs (the stamp's own clone-and-queue lies between
 * SCHED and qdisc-in); what can widen it is an interrupt or, for ACKs processed from the
 * socket backlog in process context, a preemption — rare, so it moves p99/max, not the
 * median. The median of |tracer − stamp| is held below 10 µs (the goal) for each
 * pair on both paths (ACK: on the first write each ACK covers, see ASSERTED); p99 and
 * max are printed, not asserted (on this loaded 2-CPU
 * machine one preempted backlog run is enough to make them milliseconds). A write with all
 * three stamps must have a traced call ending at its last byte; a null tracer moment is
 * counted and must stay rare (KERNEL-TRACE.md: runs on veth lost 4–16 consecutive transmit
 * events), never filled in.
 */
const P50_TOLERANCE_NS = 10_000;
/**
 * Loopback's qdisc-in − SCHED: one clean-clone run on a quiet machine (load 1.5) showed a
 * steady +13 µs (p99 17 µs) where loaded runs showed 0.3–0.5 µs, while driver − SND in the
 * same run agreed to 0.3 µs. Not understood yet (docs/trace.md, Limits); held at 50 µs
 * on lo until it is, 10 µs everywhere else.
 */
const LOOPBACK_QDISC_P50_TOLERANCE_NS = 50_000;
/** At least this share of the matched writes must have each compared tracer moment. */
const MIN_COMPARED_SHARE = 0.8;
const WRITES = 200;
const SIZE = 4096;

const dir = mkdtempSync(join(tmpdir(), 'ackscope-tstamp-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

let writerBinary: string | null = null;
function writer(): string {
  if (writerBinary) return writerBinary;
  const src = fileURLToPath(new URL('./programs/tstamp-writer.c', import.meta.url));
  const bin = join(dir, 'tstamp-writer');
  execFileSync('cc', ['-O2', '-Wall', '-Werror', '-o', bin, src], { stdio: ['ignore', 'ignore', 'pipe'] });
  writerBinary = bin;
  return bin;
}

function requireTracer(): void {
  assert.equal(process.getuid?.(), 0, 'the kernel tracer and the rig need root (npm test runs them as root)');
  execFileSync('test', ['-x', tracerBinary()]);
}

/** Traces the writer, reads its stamps, and checks what must hold whatever the timing. */
async function traceWriter(label: string, command: string[], outFile: string, port: number): Promise<{ agree: Agreement; events: TracerEvent[] }> {
  const { events, result } = await collectTrace({ command }, { commandStdio: 'ignore', lingerMs: 300 });
  assert.equal(result.exit?.exitCode, 0, `${label}: the writer failed: ${result.stderr}`);
  const stamps = parseStamps(readFileSync(outFile, 'utf8'));
  assert.deepEqual(stamps.done, { writes: WRITES, size: SIZE }, `${label}: the writer did not finish`);

  const stats = events.filter((e): e is StatsEvent => e.type === 'stats').at(-1);
  assert.ok(stats?.final, `${label}: no final stats`);
  const ours = events.filter((e) => (e.type !== 'call' && e.type !== 'moment') || e.flow.dstPort === port);
  const calls = ours.filter((e): e is CallEvent => e.type === 'call');
  const joined = joinMoments(ours);
  const tiles = joined.completions.map((c: TracedCompletion) => [c.record.offsetStart, c.record.bytesReported]);
  assert.deepEqual(tiles, Array.from({ length: WRITES }, (_, i) => [i * SIZE, SIZE]), `${label}: one traced call per write, in order`);
  assert.ok(calls.every((c) => c.syscall === 'sendto'));

  const agree = agreement(joined.completions, stamps.byKey, WRITES, SIZE);
  const lines = [
    `# ${label}: ${WRITES} writes × ${SIZE} B; with all three stamps ${agree.withAllStamps}, matched ${agree.matched}; ` +
      `stamps on no write's end ${agree.foreignKeys}; ring-buffer lost ${stats.lost}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  ];
  const retransmitted = joined.completions.filter((c) => c.kernel.retransmitted).length;
  lines.push(`#   retransmitted writes ${retransmitted}; repeated stamps ${JSON.stringify(stamps.repeated)}; tracer missing ${JSON.stringify(joined.missing)}`);
  for (const name of [...PAIRS.map((p) => p.name), FIRST_PER_ACK]) {
    const a = agree.pairs[name]!;
    const d = describe(a.diffsNs);
    lines.push(`#   ${name.padEnd(40)} n ${a.compared} missing ${a.missing}; signed median ${d.median} ns; |diff| p50 ${d.p50} p99 ${d.p99} max ${d.max} ns`);
  }
  console.log(lines.join('\n'));

  // the kernel's own witness must be there for (nearly) every write, or the test proves nothing
  assert.equal(agree.foreignKeys, 0, `${label}: a stamp for a byte that ends no write (MSG_EOR did not hold)`);
  assert.ok(agree.withAllStamps >= WRITES * 0.95, `${label}: only ${agree.withAllStamps} of ${WRITES} writes got all three stamps`);
  assert.deepEqual(agree.unmatchedKeys, [], `${label}: writes with all stamps and no traced call ending there`);
  assert.equal(agree.matched, agree.withAllStamps);
  await assertNoTracerLeft(label);
  return { agree, events };
}

function assertAgrees(label: string, agree: Agreement, tolerance: (name: string) => number = () => P50_TOLERANCE_NS): void {
  for (const { name } of PAIRS) {
    const a = agree.pairs[name]!;
    assert.equal(a.compared + a.missing, agree.matched);
    assert.ok(a.compared >= agree.matched * MIN_COMPARED_SHARE, `${label}: ${name}: only ${a.compared} of ${agree.matched} writes have the tracer moment`);
  }
  for (const name of ASSERTED) {
    const d = describe(agree.pairs[name]!.diffsNs);
    assert.ok(d.n > 0, `${label}: ${name}: nothing compared`);
    assert.ok(d.p50 <= tolerance(name), `${label}: ${name}: median |tracer − stamp| ${d.p50} ns > ${tolerance(name)} ns`);
  }
}

/**
 * ACK: compared on the first write each ACK covers. When one ACK covers k writes (stretch
 * and delayed ACKs, common on lo) the kernel stamps them one after the other, each stamp
 * cloning an skb onto the error queue, so the k-th stamp lags the ACK by ~k × 0.5 µs —
 * a cost of the witness, not a disagreement (measured on lo: 19 ACKs for 200 writes,
 * all-writes median 6–12 µs, first-per-ACK median 0.6 µs). The all-writes figures are printed.
 */
const ASSERTED = ['qdisc-in − SCHED', 'driver − SND', FIRST_PER_ACK];

test('loopback: qdisc-in, driver and ack-processed agree with SO_TIMESTAMPING SCHED, SND and ACK per write', async () => {
  requireTracer();
  const bin = writer();
  const rx = await countingReceiver();
  const out = join(dir, 'lo.stamps');
  try {
    const { agree } = await traceWriter('loopback', [bin, '127.0.0.1', String(rx.port), String(WRITES), String(SIZE), out], out, rx.port);
    await rx.closed(1);
    assert.equal([...rx.bytes.values()][0], WRITES * SIZE, 'the receiver read every byte');
    assertAgrees('loopback', agree, (name) => (/^qdisc-in/.test(name) ? LOOPBACK_QDISC_P50_TOLERANCE_NS : P50_TOLERANCE_NS));
  } finally {
    await rx.close();
  }
});

test('veth behind the rig\'s 20 Mbit/s tbf: SCHED and SND differ by the queue wait, the tracer follows both', async () => {
  requireTracer();
  const bin = writer();
  await withRig({ bottleneck: { rateBps: 20e6, limitBytes: 200_000 } }, async (rig) => {
    const port = 5003;
    const { received } = await startRigReceiver(rig, port);

    const out = join(dir, 'veth.stamps');
    const cmd = rig.command('sender', bin, [rig.receiver.addr, String(port), String(WRITES), String(SIZE), out]);
    const { agree, events } = await traceWriter('veth + tbf 20 Mbit/s', [cmd.file, ...cmd.args], out, port);
    assert.equal(await received, WRITES * SIZE, 'the receiver read every byte');
    assertAgrees('veth + tbf', agree);

    // the bottleneck made the stamps differ: most writes waited in tbf (SND − SCHED above
    // a frame time at 20 Mbit/s, 0.6 ms), and the tracer saw the qdisc-out of those
    const stamps = parseStamps(readFileSync(out, 'utf8')).byKey;
    const waited = [...stamps.values()].filter((s) => s.snd !== undefined && s.sched !== undefined && s.snd - s.sched > 600_000n).length;
    assert.ok(waited >= WRITES / 2, `only ${waited} writes waited in tbf`);
    assert.ok(events.some((e) => e.type === 'moment' && e.moment === 'qdisc-out'), 'qdisc-out moments on a device with a qdisc');
    // tbf's 200 kB queue overflows here: a dropped skb was SCHED-stamped (and seen at
    // qdisc-in) on its failed try and is stamped again when TCP sends it later; both
    // witnesses keep the first try (see docs/trace.md, Measured)
    const qdisc = await rig.qdiscStats('sender');
    console.log(`#   tbf: ${qdisc.packets} packets, ${qdisc.drops} dropped`);
  });
});

test('agreement(): a null tracer moment is counted missing, a write without all stamps is not required, a missing call is named', () => {
  const witness = (byte: number, ns: string | null) => ({
    byte,
    qdiscInNs: ns,
    qdiscOutNs: null,
    driverNs: ns,
    ackArrivedNs: ns,
    ackProcessedNs: ns,
    retransmitted: false,
  });
  const completions = [
    { record: {} as TracedCompletion['record'], kernel: witness(9, '1010') },
    { record: {} as TracedCompletion['record'], kernel: witness(19, null) },
  ];
  const stamps = parseStamps(
    ['stamp sched 9 1000', 'stamp snd 9 1000', 'stamp ack 9 1000', 'stamp snd 9 1500', 'stamp sched 19 1000', 'stamp snd 19 1000', 'stamp ack 19 1000', 'stamp sched 29 1', 'stamp snd 29 1', 'stamp ack 29 1', 'stamp sched 39 1', 'done 4 10'].join('\n'),
  );
  assert.deepEqual(stamps.repeated, { sched: 0, snd: 1, ack: 0 });
  assert.deepEqual(stamps.done, { writes: 4, size: 10 });
  const a = agreement(completions, stamps.byKey, 4, 10);
  assert.equal(a.withAllStamps, 3);
  assert.equal(a.matched, 2);
  assert.deepEqual(a.unmatchedKeys, [29]);
  assert.deepEqual(a.pairs['driver − SND'], { compared: 1, missing: 1, diffsNs: [10] });
  assert.deepEqual(describe([-5, 3, 100]), { n: 3, median: 3, p50: 5, p99: 5, max: 100 });
});
