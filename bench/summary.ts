/**
 * What a finished session's summary costs once its correlation is held: the one-pass exact
 * fold the desks use (correlate/summary-stream.ts `summariseHeld`) against the reference,
 * `summariseSession` (correlate/summary.ts: each group from its own array of records), and
 * the sketch fold a capturing session's summary takes, on the same synthetic records:
 * n completions over `flows` flows and two apis, stages and gaps drawn from a seeded
 * generator (log-uniform gaps 1 µs … 1 s, whole ns; a tenth with kernel moments). Prints
 * wall and CPU time of each (one thread), the ratio against the reference from the same
 * run, and whether the exact fold's summary equals the reference's. Asserts nothing.
 *
 *   node --expose-gc --import tsx bench/summary.ts [--completions 1000000] [--flows 200] [--runs 3]
 */
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { summariseSession, type FlowIdentity, type SessionSummaryData } from '../correlate/summary.js';
import { SessionSummaryFold, summariseHeld } from '../correlate/summary-stream.js';
import { STAGES, type CorrelationRecord } from '../correlate/types.js';
import { seededRandom } from '../fixtures/random.js';
import { loadAverage, ownCpuS } from './process-cpu.js';

const { values: args } = parseArgs({
  options: {
    completions: { type: 'string', default: '1000000' },
    flows: { type: 'string', default: '200' },
    runs: { type: 'string', default: '3' },
  },
});
const n = Number(args.completions);
const flowCount = Number(args.flows);
const runs = Number(args.runs);

const random = seededRandom(7);
const gap = (): number => Math.round(10 ** (3 + random() * 6));
const signedGap = (): number => (random() < 0.5 ? -gap() : gap());

function syntheticRecords(): CorrelationRecord[] {
  const records: CorrelationRecord[] = new Array(n);
  const stages = STAGES.filter((s) => s !== 'socket' && s !== 'qdisc');
  for (let i = 0; i < n; i++) {
    const flowId = i % 97 === 0 ? null : 1 + (i % flowCount);
    const stage = stages[Math.floor(random() * stages.length)];
    const withKernel = i % 10 === 0;
    const offsetStart = i * 1000;
    records[i] = {
      stage,
      reason: stage === 'unknown' ? 'bytes-not-captured' : null,
      firstWireNs: 1000 + i,
      lastWireNs: 2000 + i,
      ackedNs: 3000 + i,
      sackedNs: i % 50 === 0 ? 2500 + i : null,
      retransmitted: i % 200 === 0,
      submitToCompleteNs: gap(),
      lastWireMinusCompleteNs: stage === 'unknown' ? null : signedGap(),
      ackedMinusCompleteNs: stage === 'unknown' ? null : signedGap(),
      decidingGapNs: stage === 'unknown' ? null : gap(),
      decidingEvent: stage === 'unknown' ? null : 'ack',
      decidingEarliestNs: null,
      decidingLatestNs: null,
      decidingDoubt: null,
      nearBoundary: i % 31 === 0,
      uncertain: i % 41 === 0,
      tcpInfoStage: null,
      tcpInfoAgrees: i % 3 === 0 ? random() < 0.9 : null,
      completionId: i + 1,
      flowId,
      dataDir: flowId === null ? null : 0,
      srcAddr: '10.0.0.1',
      srcPort: 40000 + (i % flowCount),
      dstAddr: '10.0.0.2',
      dstPort: 443,
      writeId: i,
      api: i % 3 === 0 ? 'wsasend' : 'node-write',
      status: 'ok',
      buffers: 1,
      offsetStart,
      offsetEnd: offsetStart + 1000,
      bytesReported: i % 501 === 0 ? 500 : 1000,
      submittedNs: i * 10_000,
      completedNs: i * 10_000 + 5000,
      tcpBytesSent: null,
      tcpBytesAcked: null,
      kernel: withKernel ? ({} as CorrelationRecord['kernel']) : null,
      kernelStage: withKernel ? 'wire' : null,
      decidedBy: withKernel && i % 20 === 0 ? 'kernel' : 'capture',
      driverMinusWireNs: withKernel ? signedGap() : null,
      ackArrivedMinusCaptureNs: withKernel ? signedGap() : null,
      clockErrorNs: 0,
      crossHost: false,
      completionHost: null,
      captureHost: null,
    };
  }
  return records;
}

const gc = (globalThis as { gc?: () => void }).gc;
function timed(run: () => SessionSummaryData): { wallS: number; cpuS: number; summary: SessionSummaryData } {
  gc?.();
  const c0 = ownCpuS();
  const t0 = performance.now();
  const summary = run();
  return { wallS: (performance.now() - t0) / 1000, cpuS: ownCpuS() - c0, summary };
}

const records = syntheticRecords();
const flows: FlowIdentity[] = Array.from({ length: flowCount }, (_, k) => ({
  id: k + 1, aAddr: '10.0.0.1', aPort: 40000 + k, bAddr: '10.0.0.2', bPort: 443, frames: 0, retransmits: 0,
}));
const ordering = flows.map((f) => ({ flowId: f.id, dir: 0 as const, result: { verdict: 'no-tags' as const, writesSeen: 0, firstViolation: null } }));

console.log(`# summary of ${n.toLocaleString('en')} held records, ${flowCount} flows, 2 apis; load ${loadAverage()}${gc ? '' : ' (run with --expose-gc for steadier figures)'}`);
const fmt = (t: { wallS: number; cpuS: number }) => `${t.wallS.toFixed(3)} s wall, ${t.cpuS.toFixed(3)} s CPU`;
for (let run = 1; run <= runs; run++) {
  const reference = timed(() => summariseSession(records, flows, ordering));
  const exact = timed(() => summariseHeld(records, flows, ordering));
  const sketch = timed(() => {
    const fold = new SessionSummaryFold('sketch');
    for (const r of records) fold.add(r);
    return fold.summary(flows, ordering);
  });
  const equal = isDeepStrictEqual(exact.summary, reference.summary);
  console.log(
    `run ${run}: reference summariseSession ${fmt(reference)} | exact fold ${fmt(exact)} (${(reference.wallS / exact.wallS).toFixed(2)}× faster, ` +
      `equal to the reference: ${equal ? 'yes' : 'NO'}) | sketch fold ${fmt(sketch)} (${(reference.wallS / sketch.wallS).toFixed(2)}×); load ${loadAverage()}`,
  );
}
