/**
 * Report and plots are pure functions of summary data: checked here on hand-made
 * results (the live end-to-end test checks them on real traffic).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { expandMatrix, parseMatrix, type MatrixPoint } from '../experiment/matrix.js';
import { emptyStages, percentiles, type ExperimentRun, type PointResult, type RunDetail, type Stage } from '../experiment/results.js';
import { buildReport, describeConditions, describeStages, fmtMs, ladderSection, mdTable, senderComparison, stageAnswer, writeReport } from '../experiment/report.js';
import { checkExpectations } from '../experiment/expectations.js';
import {
  completionTimesOption,
  downsampleAcks,
  downsampleSegments,
  MAX_SERIES_POINTS,
  stageShareOption,
  stageSharePlot,
  timeSequenceOption,
  timeSequencePlot,
  timeSequenceStart,
} from '../experiment/plots.js';
import { tempDir } from './helpers/app.js';

function result(point: MatrixPoint, stages: Partial<Record<Stage, number>>, extra: Partial<NonNullable<PointResult['measurement']>> = {}): PointResult {
  const s = { ...emptyStages(), ...stages };
  const completions = Object.values(s).reduce((a, b) => a + b, 0);
  return {
    point,
    status: 'ok',
    reason: null,
    sessionId: 100 + point.index,
    durationMs: 1500,
    qdisc: { kind: 'tbf', bytes: 1e6, packets: 700, drops: 0, overlimits: 30, backlog: 0 },
    received: null,
    measurement: {
      completions,
      stages: s,
      completionMs: percentiles([0.01, 0.02, 0.5]),
      lastWireAfterMs: percentiles([1, 2, 3]),
      ackedAfterMs: percentiles([2, 3, 4]),
      partial: { count: 0, examples: [] },
      ordering: { verdict: 'in-order', writesChecked: completions, firstViolation: null },
      retransmitted: 0,
      nearBoundary: 0,
      pcapDropped: 0,
      kernelAgreement: null,
      kernelWitness: null,
      apis: [],
      ...extra,
    },
  };
}

/** The default matrix with plausible stage counts: default sndbuf queued, small sndbuf + stops → wire/acked. */
function sampleRun(): ExperimentRun {
  const points = expandMatrix(parseMatrix({}));
  const results = points.map((p) =>
    p.sndbuf === null ? result(p, { queued: 60, 'partial-wire': 4 }) : p.receiver.behaviour === 'stops' ? result(p, { queued: 10, wire: 30, acked: 24 }) : result(p, { queued: 50, wire: 14 }),
  );
  return {
    startedAt: '2026-11-25T09:00:00.000Z',
    matrix: parseMatrix({}),
    durationMs: 75_000,
    serviceUrl: 'http://127.0.0.1:7878',
    dbPath: '/tmp/x/ackscope.db',
    environment: { kernel: '6.18', node: 'v20.20.2', host: 'test' },
    results,
    representative: detail(2000, 20),
  };
}

function detail(writes: number, retransmits: number): RunDetail {
  const size = 16384;
  const completions = Array.from({ length: writes }, (_, i) => ({
    writeId: i,
    offsetStart: i * size,
    offsetEnd: (i + 1) * size,
    submittedMs: i * 0.01,
    completedMs: i * 0.01 + 0.005,
    firstWireMs: i * 6.5,
    lastWireMs: i * 6.5 + 6,
    ackedMs: i * 6.5 + 7,
    stage: 'queued' as const,
  }));
  const segments = [];
  for (let off = 0, t = 0; off < writes * size; off += 1448, t += 0.58) {
    segments.push({ tMs: t, offsetStart: off, offsetEnd: off + 1448, retransmit: false });
  }
  for (let i = 0; i < retransmits; i++) segments.push({ tMs: i * 100 + 0.3, offsetStart: i * 1448, offsetEnd: (i + 1) * 1448, retransmit: true });
  const acks = segments.filter((s) => !s.retransmit).map((s) => ({ tMs: s.tMs + 0.1, ackOffset: s.offsetEnd }));
  return { label: 'node overlapped:16 16KiB sndbuf=default 20Mbit/s reads', sessionId: 102, completions, segments, acks };
}

test('the fixed conditions in one sentence', () => {
  assert.equal(
    describeConditions(parseMatrix({ count: 50, tag: false, bottleneck: { burstBytes: 3028, limitBytes: 100000 }, ackRate: '1mbit', repeat: 3 })),
    "50 send calls per point; untagged writes (no ordering verdict); tbf bottleneck on the sender's egress with burst 3028 B, queue limit 100000 B; ACK path shaped to 1Mbit/s; every point run 3 times.",
  );
});

test('small formatting helpers', () => {
  assert.equal(mdTable(['a', 'b|c'], [[1, 'x|y']]), '| a | b\\|c |\n| --- | --- |\n| 1 | x\\|y |');
  assert.equal(fmtMs(0.0123), '12.3 µs');
  assert.equal(fmtMs(1.5), '1.50 ms');
  assert.equal(fmtMs(-250), '-250 ms');
  assert.equal(fmtMs(null), '–');
  assert.equal(describeStages({ ...emptyStages(), queued: 97, wire: 3 }, 100), '97% queued, 3.0% wire');
  assert.deepEqual(percentiles([5, 1, 3, 2, 4]), { p50: 3, p90: 5, p99: 5, max: 5 });
  assert.equal(percentiles([]), null);
});

test('expectations are judged from the measured numbers, and can come out contradicted', () => {
  const run = sampleRun();
  const checks = checkExpectations(run.results);
  assert.deepEqual(checks.map((c) => [c.id, c.holds]), [
    ['slow-default-queued', true],
    ['small-sndbuf-stopped-reader', true],
    ['whole-and-in-order', true],
    ['no-partial', true],
  ]);
  assert.match(checks[0].measured, /^94% of 384 completions were queued \(6 points\)$/);
  assert.ok(checks[1].measured.endsWith('; with the same small SO_SNDBUF and a receiver that keeps reading: 22% of 192'), checks[1].measured);
  // When the reading receiver shows the same shift, the report says the buffer did it.
  const bufferOnly = run.results.map((r) => (r.point.sndbuf !== null ? result(r.point, { queued: 10, wire: 30, acked: 24 }) : r));
  assert.match(checkExpectations(bufferOnly)[1].measured, /: 84% of 192 — the small send buffer, not the stopped receiver, moved the stages$/);
  // The same data with the small-buffer points queued as well: the second expectation fails.
  const flipped = run.results.map((r) => (r.point.sndbuf !== null ? result(r.point, { queued: 64 }) : r));
  assert.equal(checkExpectations(flipped)[1].holds, false);
  // A reordered overlapped point and a partial completion.
  const broken = run.results.map((r, i) =>
    i === 1
      ? result(r.point, { queued: 64 }, {
          ordering: { verdict: 'violated', writesChecked: 64, firstViolation: 'write 7 at offset 114688 before write 6' },
          partial: { count: 1, examples: ['write 9: 8192 of 16384 B'] },
        })
      : r,
  );
  const c = checkExpectations(broken);
  assert.equal(c[2].holds, false);
  assert.match(c[2].measured, /point 2: write 7 at offset 114688 before write 6/);
  assert.equal(c[3].holds, false);
  assert.deepEqual(c[3].points, [2]);
  // Nothing measured: not covered, not "confirmed".
  assert.deepEqual(checkExpectations([]).map((x) => x.holds), [null, null, null, null]);
});

test('report.md: a table per question, plain answers, session links, plots referenced', () => {
  const run = sampleRun();
  run.results[0].measurement!.kernelAgreement = { compared: 64, agreed: 60 };
  const md = buildReport(run);
  assert.ok(
    md.includes('| 1 | node serial 16KiB sndbuf=default 20Mbit/s reads | ok | 100 | [timeline.json](http://127.0.0.1:7878/sessions/100/export/timeline.json) · [page](http://127.0.0.1:7878/#/sessions/100) | 1.5 s | 700 pkts, 0 drops | 0 | 0 | 0 | 60/64 |'),
  );
  for (const heading of [
    '## 1. What did a completion mean under each condition?',
    '## 2. Did any completion report fewer bytes than were submitted?',
    '## 3. Did overlapped and vectored writes reach the wire whole and in posting order?',
    '## 4. Expectations, checked by measurement',
    '## Sessions',
  ]) {
    assert.ok(md.includes(heading), heading);
  }
  // one row per point in the stage table, with the measured shares
  const stageRows = md.split('\n').filter((l) => /^\| \d+ \| node \| /.test(l) && l.includes('sndbuf') === false && l.split('|').length > 15);
  assert.equal(stageRows.length, 12);
  assert.match(stageRows[0], /^\| 1 \| node \| serial \| 16KiB \| default \| 20Mbit\/s \| reads \| 64 \| 94% \| 6\.3% \| 0% \| 0% \| 0% \| 20\.0 µs \| 2\.00 ms \| 3\.00 ms \|$/);
  assert.ok(md.includes('**No.** None of the 768 completions in 12 points reported fewer bytes than were submitted.'));
  assert.ok(md.includes('**Yes.** 512 tagged writes in 8 points: every one whole and in posting order.'));
  assert.ok(md.includes('[timeline.json](http://127.0.0.1:7878/sessions/100/export/timeline.json)'));
  assert.ok(md.includes('![Stage share per configuration](stage-share.svg)'));
  assert.ok(md.includes('![Time-sequence graph with completion markers](time-sequence.svg)'));
  assert.ok(md.includes('in 1 min 15 s'));
  assert.ok(md.includes("Conditions: about 1MiB per point; every write tagged (24-byte header); tbf bottleneck on the sender's egress with burst 4 ms at the rate, queue up to 100 ms; ACK path unshaped."));
  // a group whose stages were mostly decided within the margin carries a caveat
  const nearRun = sampleRun();
  for (const r of nearRun.results.slice(0, 3)) r.measurement!.nearBoundary = 20;
  assert.match(stageAnswer(nearRun.results)[0], /\. 31% of these were decided by less than the near-boundary margin: read them as "about then"\.$/);
  assert.ok(!stageAnswer(nearRun.results)[1].includes('near-boundary'));
  const answers = stageAnswer(run.results);
  assert.equal(answers.length, 4);
  assert.match(answers[0], /node, 20Mbit\/s, SO_SNDBUF default, a receiver reading at once\*\* \(3 points, 192 completions\): 94% queued, 6\.3% partial-wire\. Almost always, a completion meant no byte of the write had left the host yet/);
  assert.match(answers[1], /: 78% queued, 22% wire\. Mostly, a completion meant no byte/);
  assert.match(answers[3], /: 47% wire, 38% acked, 16% queued\. No single meaning: most often \(47%\) every byte had left the host, but the peer had not acknowledged all of it, otherwise \(38%\) the peer's cumulative ACK/);
});

test('a failed point is listed with its reason and left out of the tables', () => {
  const run = sampleRun();
  run.results[3] = { ...run.results[3], status: 'failed', reason: 'sender exited with code 1', measurement: null, sessionId: null };
  const md = buildReport(run);
  assert.ok(md.includes('11 measured, 1 failed, 0 skipped'));
  assert.ok(md.includes('- 4. node serial 16KiB sndbuf=4608 20Mbit/s reads: failed — sender exited with code 1'));
  run.results[5] = { ...run.results[5], reason: 'the receiver did not close within the settle time;\nlate ACKs may be missing' };
  const noted = buildReport(run);
  assert.ok(noted.includes('| 6 | node vectored:4 16KiB sndbuf=4608 20Mbit/s reads | ok (see notes) |'));
  assert.ok(noted.includes('## Notes\n\n- 6. node vectored:4 16KiB sndbuf=4608 20Mbit/s reads: the receiver did not close within the settle time; late ACKs may be missing\n'));
});

test('plots: thinning keeps bounds and every retransmission, options carry the data', () => {
  const d = detail(2000, 20);
  assert.ok(d.segments.length > 20000);
  const thin = downsampleSegments(d.segments);
  assert.ok(thin.length <= MAX_SERIES_POINTS);
  assert.equal(thin.filter((s) => s.retransmit).length, 20);
  assert.equal(Math.max(...thin.map((s) => s.offsetEnd)), Math.max(...d.segments.map((s) => s.offsetEnd)), 'the highest offset survives');
  assert.ok(thin.every((s, i) => i === 0 || thin[i - 1].tMs <= s.tMs), 'sorted by time');
  const acks = downsampleAcks(d.acks, 500);
  assert.ok(acks.length <= 500);
  assert.equal(acks[acks.length - 1].ackOffset, d.acks[d.acks.length - 1].ackOffset);
  assert.deepEqual(downsampleSegments(d.segments.slice(0, 10)), d.segments.slice(0, 10));

  const share = stageShareOption(sampleRun().results) as { series: { name: string; data: number[] }[]; yAxis: { data: string[] } };
  assert.equal(share.yAxis.data.length, 12);
  assert.deepEqual(share.series.map((s) => s.name), ['queued', 'partial-wire', 'wire', 'acked', 'unknown']);
  assert.ok(Math.abs(share.series[0].data[0] + share.series[1].data[0] - 100) <= 0.2, 'shares of a bar add up to 100% (rounded to 0.1)');
  const ts = timeSequenceOption(d) as { series: { name: string; data: unknown[] }[] };
  assert.deepEqual(ts.series.map((s) => [s.name, s.data.length <= MAX_SERIES_POINTS]), [
    ['cumulative ACK', true], ['segment sent', true], ['retransmission', true], ['completion', true],
  ]);
  assert.equal(ts.series[3].data.length, 2000);
  assert.equal(ts.series[2].data.length, 20, 'every retransmission drawn');
  assert.equal(timeSequenceStart(d), 0);
  assert.equal(timeSequenceStart({ ...d, segments: [{ tMs: -2.5, offsetStart: 0, offsetEnd: 1, retransmit: false }] }), -3);
  const ct = completionTimesOption(d) as { series: { data: unknown[] }[] };
  assert.equal(ct.series.length, 4);
});

test('plots render to standalone SVG with ECharts SSR', () => {
  const svg = stageSharePlot(sampleRun().results);
  assert.match(svg, /^<svg[^>]+xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.includes('partial-wire') && svg.includes('Stage of each completion'));
  const ts = timeSequencePlot(detail(300, 3));
  assert.match(ts, /^<svg/);
  assert.ok(ts.includes('cumulative ACK'));
  assert.ok(ts.length < 3_000_000);
});

test('writeReport writes report.md, three SVGs and results.json', () => {
  const t = tempDir();
  try {
    const run = sampleRun();
    writeReport(t.dir, run);
    assert.deepEqual(readdirSync(t.dir).sort(), ['completion-times.svg', 'report.md', 'results.json', 'stage-share.svg', 'time-sequence.svg']);
    assert.equal(JSON.parse(readFileSync(`${t.dir}/results.json`, 'utf8')).results.length, 12);
  } finally {
    t.cleanup();
  }
});

test('senders side by side, and non-blocking POSIX short returns counted apart', () => {
  const points = expandMatrix(parseMatrix({ senders: ['node', 'posix', 'winsock'], modes: ['serial', 'overlapped:8'], sndbufs: ['default'], receivers: ['reads'] }));
  const results = points.map((p) =>
    p.sender === 'posix' && p.mode.mode === 'overlapped'
      ? result(p, { queued: 30, 'partial-wire': 6 }, { partial: { count: 4, examples: ['write 3: 9000 of 16384 B (ok)'] } })
      : result(p, { queued: 60, acked: 4 }),
  );
  const table = senderComparison(results);
  const lines = table.split('\n');
  assert.equal(lines[0], '| condition | node (node:socket.write) | posix (posix:send) | winsock (winsock:WSASend) |');
  assert.equal(lines.length, 4);
  assert.equal(lines[3], '| overlapped:8 16KiB sndbuf=default 20Mbit/s reads | 94% queued, 6.3% acked | 83% queued, 17% partial-wire | 94% queued, 6.3% acked |');
  assert.equal(senderComparison(results.filter((r) => r.point.sender === 'node')), '');
  const check = checkExpectations(results).find((c) => c.id === 'no-partial')!;
  assert.equal(check.holds, true, 'short returns of non-blocking send are not held against the expectation');
  assert.match(check.measured, /node: 0 of 128; posix: 0 of 64; winsock: 0 of 128; posix non-blocking send \(short returns are partial completions by design, counted apart\): 4 of 36/);
  const md = buildReport({ ...sampleRun(), results });
  assert.ok(md.includes('**Yes.** 4 of 356 completions reported fewer bytes than submitted, in point 5.'), md.split('\n').find((l) => l.startsWith('**Yes')));
  assert.ok(md.includes('Every other API and mode completed whole.'));
  assert.ok(md.includes('**The same conditions, each sender side by side**'));
  // a partial completion from a blocking call is held against it
  const blocking = results.map((r) => (r.point.sender === 'winsock' && r.point.mode.mode === 'serial' ? result(r.point, { queued: 2 }, { partial: { count: 1, examples: [] } }) : r));
  assert.equal(checkExpectations(blocking).find((c) => c.id === 'no-partial')!.holds, false);
});

test('command senders in the report: their APIs as recorded, the ladder per API in plain words', () => {
  const matrix = parseMatrix({
    senders: ['node', { name: 'python', command: ['python3', 'c.py', '{host}', '{port}'] }],
    modes: ['serial'], sndbufs: ['default'], receivers: ['reads'], rates: ['20mbit', 'loopback'], count: 10,
  });
  const points = expandMatrix(matrix);
  const sendto = (stages: Partial<Record<Stage, number>>) => ({ api: 'linux:sendto', completions: 10, stages: { ...emptyStages(), ...stages } });
  const kernelWitness = { witnessed: 10, compared: 9, agreed: 9, driverMinusWireMs: percentiles([0.001, 0.002]) };
  const results = points.map((p) =>
    p.sender === 'node'
      ? result(p, { queued: 10 })
      : p.path.kind === 'veth'
        ? result(p, { socket: 7, qdisc: 1, 'partial-wire': 2 }, { kernelWitness, apis: [sendto({ socket: 7, qdisc: 1, 'partial-wire': 2 })] })
        : result(p, { socket: 5, wire: 3, acked: 2 }, { kernelWitness, apis: [sendto({ socket: 5, wire: 3, acked: 2 })] }),
  );
  const table = senderComparison(results).split('\n');
  assert.equal(table[0], '| condition | node (node:socket.write) | python (linux:sendto) |');
  assert.equal(table[2], '| serial 16KiB sndbuf=default 20Mbit/s reads | 100% queued | 70% socket, 20% partial-wire, 10% qdisc |');

  const ladder = ladderSection(results)!.split('\n');
  assert.equal(ladder[0], '| # | sender | api | path | receiver | completions | socket | qdisc | queued | partial-wire | wire | acked | unknown |');
  assert.equal(ladder[2], '| 2 | python | linux:sendto | 20Mbit/s | reads | 10 | 70% | 10% | 0% | 20% | 0% | 0% | 0% |');
  assert.ok(ladder.includes(
    "- **python, `linux:sendto`, 20Mbit/s** (1 point, 10 calls): when the call returned, the last byte was 70% taken by the socket layer / queued in TCP (not yet passed down) (`socket`); " +
      "20% partly sent out by the NIC (`partial-wire`); 10% in the host's transmit queue (qdisc / NIC send buffer) (`qdisc`).",
  ), ladder.join('\n'));
  assert.equal(ladderSection(results.filter((r) => r.point.sender === 'node')), null, 'no traced point, no ladder section');

  const md = buildReport({ ...sampleRun(), matrix, results, representative: null });
  assert.ok(md.includes('### The ladder per API (commands traced by the kernel tracer)'));
  assert.ok(md.includes('every write tagged (24-byte header), except by the commands, which write their own bytes'));
  assert.match(md, /\| 2 \| python serial 16KiB sndbuf=default 20Mbit\/s reads \| ok \| 101 \|.*\| 9\/9 \(10 witnessed; driver − frame p50 1\.00 µs, max 2\.00 µs\) \| – \|/);
  const partial = checkExpectations(results).find((c) => c.id === 'no-partial')!;
  assert.match(partial.measured, /node: 0 of 20; traced commands \(short returns are partial completions by design, counted apart\): 0 of 20/);
  assert.equal(describeConditions(parseMatrix({ senders: [{ command: ['x', '{host}', '{port}'] }], count: 3 })).split(';')[1], ' commands write their own bytes (untagged: no ordering verdict)');
});
