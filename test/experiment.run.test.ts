/**
 * The runner's pure parts: rig and sink settings per point, time budgets, the driver's
 * command line and "connection settled" test, summary → measurement, run detail, progress.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expandMatrix, parseMatrix } from '../experiment/matrix.js';
import { errorLine, pickRepresentative, pointBudgetMs, pointCommand, receivedBytes, rigOptionsFor, receiverArgs } from '../experiment/run.js';
import { nodeSendArgs, socketStatesSettled, type DriverSpec } from '../experiment/point-driver.js';
import { buildRunDetail, orderingVerdict, summaryToMeasurement } from '../experiment/measure.js';
import { pointLine, remainingMs } from '../experiment/progress.js';
import { emptyStages, type PointResult } from '../experiment/results.js';
import type { CorrelationT, SummaryT } from '../service/schemas/correlation.js';

const matrix = parseMatrix({
  modes: ['serial', 'overlapped:8', 'vectored:3'],
  rates: ['loopback', 'unshaped', '10mbit'],
  receivers: ['reads', 'late:30', 'stops:1000:250'],
  sndbufs: ['default'],
  sizes: [4096],
  count: 100,
  ackRate: '1mbit',
  bottleneck: { latencyMs: 50 },
});
const points = expandMatrix(matrix);
const find = (pred: (p: (typeof points)[number]) => boolean) => points.find(pred)!;

test('rig settings per point: loopback, unshaped veth, tbf with the matrix shape and ACK-path rate', () => {
  assert.deepEqual(rigOptionsFor(find((p) => p.path.kind === 'loopback'), matrix), { kind: 'loopback' });
  assert.deepEqual(rigOptionsFor(find((p) => p.path.kind === 'veth' && p.path.rateBps === null), matrix), {
    kind: 'veth',
    bottleneck: undefined,
    ackPath: { rateBps: 1e6 },
  });
  assert.deepEqual(rigOptionsFor(find((p) => p.path.kind === 'veth' && p.path.rateBps === 10e6), matrix), {
    kind: 'veth',
    bottleneck: { rateBps: 10e6, latencyMs: 50 },
    ackPath: { rateBps: 1e6 },
  });
});

test('sink arguments per receiver behaviour', () => {
  assert.deepEqual(receiverArgs(find((p) => p.receiver.behaviour === 'reads'), '198.18.0.2', 7000), ['receive', '--port', '7000', '--host', '198.18.0.2']);
  assert.deepEqual(receiverArgs(find((p) => p.receiver.behaviour === 'late'), 'h', 1).slice(5), ['--read-delay-ms', '30']);
  assert.deepEqual(receiverArgs(find((p) => p.receiver.behaviour === 'stops'), 'h', 1).slice(5), ['--pause-after-bytes', '1000', '--pause-ms', '250']);
});

test('time budgets grow with the bytes over the bottleneck, never below 30 s', () => {
  const slow = find((p) => p.path.kind === 'veth' && p.path.rateBps === 10e6 && p.receiver.behaviour === 'reads');
  assert.deepEqual(pointBudgetMs(slow), { sendTimeoutMs: 30_000, settleTimeoutMs: 10_000 });
  const big = { ...slow, count: 10_000, size: 65_536 }; // 655 MB at 10 Mbit/s: 524 s on the wire
  const b = pointBudgetMs(big);
  assert.ok(Math.abs(b.sendTimeoutMs - 4 * 524_288) < 1, String(b.sendTimeoutMs));
  assert.ok(Math.abs(b.settleTimeoutMs - 2 * 524_288) < 1);
});

test('the driver: `ackscope send` arguments, and when the connection counts as settled', () => {
  const spec: DriverSpec = {
    dbPath: '/x.db', sessionName: 's', netns: 'ns', iface: 'aks1s', filter: 'tcp port 7000', target: { host: '198.18.0.2', port: 7000 },
    sender: 'node', command: null, mode: { mode: 'vectored', buffers: 3 }, size: 4096, count: 10, sndbuf: 4608, tag: true, sendTimeoutMs: 1, settleTimeoutMs: 1,
  };
  assert.deepEqual(nodeSendArgs(spec, 7, 'http://127.0.0.1:4000'), [
    'send', '198.18.0.2:7000', '--count', '10', '--size', '4096', '--mode', 'vectored', '--session', '7', '--url', 'http://127.0.0.1:4000',
    '--buffers', '3', '--sndbuf', '4608', '--tag',
  ]);
  assert.deepEqual(nodeSendArgs({ ...spec, mode: { mode: 'overlapped', window: 5 }, sndbuf: null, tag: false }, 1, 'u').slice(8), ['--session', '1', '--url', 'u', '--window', '5']);
  assert.equal(socketStatesSettled(''), true);
  assert.equal(socketStatesSettled('TIME-WAIT 0 0 198.18.0.1:40000 198.18.0.2:7000\n'), true);
  assert.equal(socketStatesSettled('TIME-WAIT 0 0 a b\nFIN-WAIT-1 0 12000 a b\n'), false);
  assert.equal(socketStatesSettled('ESTAB 0 0 a b\n'), false);
});

function summary(partial: Partial<SummaryT['overall']> = {}, flows: Partial<SummaryT['flows'][number]>[] = []): SummaryT {
  const spread = (p50: string | null) => ({ count: p50 === null ? 0 : 10, p50, p90: p50, p99: p50, max: p50 });
  const group = {
    completions: 10,
    stages: { queued: { count: 7, share: 0.7 }, 'partial-wire': { count: 1, share: 0.1 }, wire: { count: 0, share: 0 }, acked: { count: 2, share: 0.2 }, unknown: { count: 0, share: 0 } },
    unknownReasons: {},
    uncertain: 0,
    nearBoundary: 1,
    gaps: { submitToComplete: spread('1500000'), lastWireMinusComplete: spread('-250000'), ackedMinusComplete: spread(null) },
    retransmitted: 1,
    sackedBeforeAck: 0,
    tcpInfo: { compared: 10, agree: 9, disagree: 1 },
    partial: { verdict: 'found' as const, completions: 10, partial: 1, examples: [{ writeId: 4, length: 4096, bytesReported: 1000, status: 'ok' }] },
    kernel: { witnessed: 10, compared: 8, agree: 7, decidedByKernel: 2, driverMinusWire: spread('1200'), ackArrivedMinusCapture: spread(null) },
    ...partial,
  };
  return {
    sessionId: 3,
    clockUncertaintyNs: '0',
    nearMarginNs: '5000',
    capture: { startNs: '1', endNs: '2', frames: 100, tcp: 100, flows: 1, drops: { received: 100, dropped: 2, ifDropped: 0 } },
    correlation: { elapsedMs: 1, queries: 1 },
    percentiles: { exact: true, relativeError: 0 },
    overall: group,
    flows: flows.map((f) => ({ flowId: 1, endpoints: 'a', frames: 100, flowRetransmits: 1, ordering: { verdict: 'in-order' as const, writesSeen: 10, firstViolation: null }, ...group, ...f })),
    apis: [{ api: 'linux:sendto', ordering: { verdict: 'no-tags' as const, writesSeen: 0, firstViolation: null }, ...group, stages: { ...group.stages, socket: { count: 3, share: 0.3 } } }],
  } as SummaryT;
}

test('a session summary becomes a point measurement', () => {
  const m = summaryToMeasurement(summary({}, [{}]));
  assert.deepEqual(m.stages, { ...emptyStages(), queued: 7, 'partial-wire': 1, acked: 2 });
  assert.deepEqual(m.completionMs, { p50: 1.5, p90: 1.5, p99: 1.5, max: 1.5 });
  assert.deepEqual(m.lastWireAfterMs?.p50, -0.25);
  assert.equal(m.ackedAfterMs, null);
  assert.deepEqual(m.partial, { count: 1, examples: ['write 4: 1000 of 4096 B (ok)'] });
  assert.deepEqual(m.ordering, { verdict: 'in-order', writesChecked: 10, firstViolation: null });
  assert.equal(m.pcapDropped, 2);
  assert.equal(m.nearBoundary, 1);
  assert.deepEqual(m.kernelAgreement, { compared: 10, agreed: 9 });
  assert.deepEqual(m.kernelWitness, { witnessed: 10, compared: 8, agreed: 7, driverMinusWireMs: { p50: 0.0012, p90: 0.0012, p99: 0.0012, max: 0.0012 } });
  assert.deepEqual(m.apis, [{ api: 'linux:sendto', completions: 10, stages: { ...emptyStages(), socket: 3, queued: 7, 'partial-wire': 1, acked: 2 } }]);
  assert.equal(summaryToMeasurement(summary({ kernel: { witnessed: 0, compared: 0, agree: 0, decidedByKernel: 0, driverMinusWire: { count: 0, p50: null, p90: null, p99: null, max: null }, ackArrivedMinusCapture: { count: 0, p50: null, p90: null, p99: null, max: null } } })).kernelWitness, null);
  // a violation in any flow wins; completions no flow matched (flowId null) are not judged
  const bad = summaryToMeasurement(
    summary({}, [{}, { flowId: 2, ordering: { verdict: 'reordered', writesSeen: 5, firstViolation: { kind: 'reordered', streamOff: 8192, writeId: 3, atNs: '9', message: 'write 3 before write 2' } } }, { flowId: null, ordering: { verdict: 'no-tags', writesSeen: 0, firstViolation: null } }]),
  );
  assert.deepEqual(bad.ordering, { verdict: 'violated', writesChecked: 15, firstViolation: 'write 3 before write 2' });
  assert.equal(summaryToMeasurement(summary({}, [])).ordering.verdict, 'unknown');
  assert.equal(orderingVerdict('interleaved'), 'violated');
  assert.equal(orderingVerdict('no-tags'), 'untagged');
});

test('run detail: times in ms since the first submission, frames as segments and ACKs', () => {
  const base = 1_795_596_023_000_000_000n;
  const c = (writeId: number, sub: bigint, done: bigint, wire: bigint | null): CorrelationT =>
    ({
      writeId, offsetStart: writeId * 100, offsetEnd: writeId * 100 + 100, submittedNs: String(base + sub), completedNs: String(base + done),
      firstWireNs: wire === null ? null : String(base + wire), lastWireNs: wire === null ? null : String(base + wire), ackedNs: null, stage: 'queued', flowId: 1,
    }) as unknown as CorrelationT;
  const d = buildRunDetail('x', 5, [c(1, 2_000_000n, 3_000_000n, null), c(0, 1_000_000n, 1_500_000n, 4_000_000n)], {
    data: [{ tsNs: base + 4_000_000n, seqOff: 0, len: 100, retransmit: false }, { tsNs: base + 9_000_000n, seqOff: 0, len: 100, retransmit: true }],
    acks: [{ tsNs: base + 5_000_000n, ackOff: 100 }],
  });
  assert.deepEqual(d.completions.map((x) => [x.writeId, x.submittedMs, x.completedMs, x.lastWireMs]), [[0, 0, 0.5, 3], [1, 1, 2, null]]);
  assert.deepEqual(d.segments, [{ tMs: 3, offsetStart: 0, offsetEnd: 100, retransmit: false }, { tMs: 8, offsetStart: 0, offsetEnd: 100, retransmit: true }]);
  assert.deepEqual(d.acks, [{ tMs: 4, ackOffset: 100 }]);
  assert.deepEqual(buildRunDetail('e', null, [], { data: [], acks: [] }).completions, []);
});

test('representative run and progress lines', () => {
  const ok = (i: number): PointResult => ({
    point: points[i], status: 'ok', reason: null, sessionId: i + 1, durationMs: 2000, qdisc: null, received: null,
    measurement: { completions: 4, stages: { ...emptyStages(), queued: 3, acked: 1 }, completionMs: null, lastWireAfterMs: null, ackedAfterMs: null, partial: { count: 0, examples: [] }, ordering: { verdict: 'in-order', writesChecked: 4, firstViolation: null }, retransmitted: 0, nearBoundary: 0, pcapDropped: 0, kernelAgreement: null, kernelWitness: null, apis: [] },
  });
  const results = points.map((_, i) => ok(i));
  const rep = pickRepresentative(results)!;
  assert.equal(rep.point.mode.mode, 'overlapped');
  assert.deepEqual(rep.point.path, { kind: 'veth', rateBps: 10e6 });
  assert.equal(pickRepresentative(results, 2)!.point.index, 1);
  assert.equal(pickRepresentative([]), null);
  assert.equal(remainingMs([], 3), null);
  assert.equal(remainingMs([1000, 3000], 3), 6000);
  assert.equal(pointLine(results[0], 1, 27), `[1/27] ${points[0].label}: ok in 2.0 s — 4 completions: 75% queued, 25% acked; session 1`);
  assert.equal(pointLine({ ...results[0], status: 'failed', reason: 'boom', measurement: null }, 2, 27), `[2/27] ${points[0].label}: failed in 2.0 s — boom`);
});

test('the error line of a crashed process', () => {
  const stderr = [
    'node:internal/modules/esm/resolve:275',
    '    throw new ERR_MODULE_NOT_FOUND(',
    '          ^',
    '',
    "Error [ERR_MODULE_NOT_FOUND]: Cannot find module '/w/dist/service/web/timeline.js' imported from /w/dist/service/routes/web.js",
    '    at finalizeResolution (node:internal/modules/esm/resolve:275:11)',
    '    at moduleResolve (node:internal/modules/esm/resolve:860:10) {',
    "  code: 'ERR_MODULE_NOT_FOUND',",
    "  url: 'file:///w/dist/service/web/timeline.js'",
    '}',
    '',
    'Node.js v20.20.2',
  ].join('\n');
  assert.equal(errorLine(stderr), "Error [ERR_MODULE_NOT_FOUND]: Cannot find module '/w/dist/service/web/timeline.js' imported from /w/dist/service/routes/web.js");
  assert.equal(errorLine("x\n  code: 'ERR_X',\n"), "code: 'ERR_X',");
  assert.equal(errorLine('point driver: boom\n'), 'point driver: boom');
  assert.equal(errorLine(''), 'no output');
});

test("a command sender's argv per point, and the receiver's own count of the bytes it read", () => {
  const [node, python] = expandMatrix(
    parseMatrix({
      senders: ['node', { name: 'py', command: ['python3', 'c.py', '{host}', '{port}', '{size}', '{count}', '{bytes}', '{mode}', '{sndbuf}'] }],
      modes: ['overlapped:4'], sizes: [1000], sndbufs: [4608], rates: ['loopback'], receivers: ['reads'], count: 3,
    }),
  );
  assert.equal(pointCommand(node, 'h', 1), null);
  assert.deepEqual(pointCommand(python, '198.18.0.2', 7000), ['python3', 'c.py', '198.18.0.2', '7000', '1000', '3', '3000', 'overlapped:4', '4608']);
  assert.equal(pointCommand({ ...python, sndbuf: null }, 'h', 1)!.at(-1), 'default');
  assert.equal(receivedBytes('sink: listening on 127.0.0.1:7000\n'), null);
  assert.equal(receivedBytes('sink: 127.0.0.1:40000 closed after 1048576 bytes'), 1048576);
  assert.equal(receivedBytes('sink: a closed after 10 bytes\nsink: b closed after 5 bytes\nsink: 2 connections, 15 bytes\n'), 15);
});
