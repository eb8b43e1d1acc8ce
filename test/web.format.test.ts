// The page's pure formatting (service/web/src/format.ts): no DOM, no network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EVENT_COLORS,
  KERNEL_MARKERS,
  STAGE_COLORS,
  compareRow,
  flagNames,
  formatNs,
  interfaceLabel,
  kernelMarkerPoints,
  parseCompareIds,
  progressText,
  refusalText,
  wiresharkFilter,
  writeHoverLines,
} from '../service/web/src/format.js';
import { KERNEL_MOMENTS, STAGE_NAMES, WRITE_FLAGS } from '../service/web/src/shapes.js';
import { writeFlagBits } from '../service/web/timeline.js';
import type { CorrelationRecord } from '../correlate/types.js';

test('Wireshark filter: frame numbers as a set, runs of three or more as ranges, sorted, no repeats', () => {
  assert.equal(wiresharkFilter([]), '');
  assert.equal(wiresharkFilter([7]), 'frame.number in {7}');
  assert.equal(wiresharkFilter([75, 70, 71, 72, 71]), 'frame.number in {70..72, 75}');
  assert.equal(wiresharkFilter([3, 4, 9, 10, 11, 12, 20]), 'frame.number in {3, 4, 9..12, 20}');
});

test('write flags: bits from the correlation, named in WRITE_FLAGS order', () => {
  const base = { nearBoundary: false, uncertain: false, retransmitted: false, bytesReported: 100, offsetStart: 0, offsetEnd: 100, status: 'ok' };
  const bits = (over: Partial<CorrelationRecord>) => writeFlagBits({ ...base, ...over } as CorrelationRecord);
  assert.equal(bits({}), 0);
  assert.deepEqual(flagNames(bits({ retransmitted: true, nearBoundary: true }), WRITE_FLAGS), ['near-boundary', 'retransmitted']);
  assert.deepEqual(flagNames(bits({ bytesReported: 40 }), WRITE_FLAGS), ['partial']);
  assert.deepEqual(flagNames(bits({ status: 'EPIPE', uncertain: true }), WRITE_FLAGS), ['uncertain', 'failed']);
});

test('hover lines: the record, each moment after submit, the deciding gap and its event, the flags', () => {
  const data = {
    writeId: [4], offsetStart: [1000], offsetEnd: [3048], submittedUs: [10], completedUs: [12.5],
    firstWireUs: [11], lastWireUs: [13], ackedUs: [null], stage: [STAGE_NAMES.indexOf('partial-wire')],
    decidingGapNs: [500], decidingEvent: ['last-wire'], reason: [null], flags: [1 << WRITE_FLAGS.indexOf('near-boundary')],
  };
  assert.deepEqual(writeHoverLines(data, 0, STAGE_NAMES, WRITE_FLAGS), [
    'write 4: partial-wire',
    'bytes 1000–3048 (2.0 KiB)',
    'completed 2.50 µs after submit',
    'first wire 1.00 µs after submit',
    'last wire 3.00 µs after submit',
    'ACK not seen',
    'deciding gap 500 ns to last-wire',
    'flags near-boundary',
  ]);
  // with the kernel tracer's witness: its moments after the send call, and who decided
  const traced = { ...data, stage: [STAGE_NAMES.indexOf('qdisc')], decidedBy: ['kernel'], kernelUs: [[11.5, null, 13, null, null]] };
  const tracedLines = writeHoverLines(traced, 0, STAGE_NAMES, WRITE_FLAGS);
  assert.equal(tracedLines[0], 'write 4: qdisc');
  assert.deepEqual(tracedLines.slice(8), [
    'kernel: qdisc in 1.50 µs, qdisc out not seen, driver 3.00 µs, ACK arrived not seen, ACK processed not seen',
    'decided by the kernel',
  ]);
  const unknown = { ...data, stage: [STAGE_NAMES.indexOf('unknown')], reason: ['kernel-drops'], decidingGapNs: [null], flags: [0] };
  const lines = writeHoverLines(unknown, 0, STAGE_NAMES, WRITE_FLAGS);
  assert.equal(lines[0], 'write 4: unknown (kernel-drops)');
  assert.equal(lines[6], 'deciding gap –');
  assert.equal(lines[7], 'flags none');
});

test('interface labels, upload progress, refusals in words, compare ids', () => {
  assert.equal(interfaceLabel({ name: 'lo', addresses: ['127.0.0.1', '::1'], loopback: true, up: true }), 'lo — 127.0.0.1, ::1 (loopback)');
  assert.equal(interfaceLabel({ name: 'eth9', addresses: [], loopback: false, up: false }), 'eth9 — no address (down)');
  assert.equal(progressText(512 * 1024, 2 * 1024 * 1024), '512.0 KiB of 2.0 MiB (25%)');
  assert.equal(progressText(10, 0), '10 B');
  assert.equal(
    refusalText(413, 'ACKSCOPE_ERR_PAYLOAD_TOO_LARGE', 'capture file of 9 bytes is larger than the limit of 8 bytes'),
    'The file is larger than the service accepts: capture file of 9 bytes is larger than the limit of 8 bytes',
  );
  assert.match(refusalText(400, 'ACKSCOPE_ERR_CAPTURE_FILE', 'bad magic at byte 0'), /^This is not a capture file/);
  assert.equal(refusalText(418, 'ACKSCOPE_ERR_SOMETHING_NEW', 'teapot'), 'The service refused (HTTP 418): teapot');
  assert.equal(refusalText(0, 'ACKSCOPE_ERR_INTERNAL', 'the upload was cancelled'), 'the upload was cancelled');
  assert.deepEqual(parseCompareIds('#/compare?ids=3,5,3,0,8'), [3, 5, 8]);
  assert.deepEqual(parseCompareIds('#/compare'), []);
});

test('compare rows: every stage present (new ones too), percentiles as numbers', () => {
  const row = compareRow(
    '3: run',
    { completions: 10, stages: { queued: { share: 0.7 }, acked: { share: 0.3 } }, gaps: { submitToComplete: { p50: '1200', p90: null, p99: '90000' } } },
    STAGE_NAMES,
  );
  assert.deepEqual(Object.keys(row.shares), [...STAGE_NAMES]);
  assert.equal(row.shares.queued, 0.7);
  assert.equal(row.shares.wire, 0);
  assert.equal(row.p50, 1200);
  assert.equal(row.p90, null);
  assert.equal(formatNs(row.p99), '90.0 µs');
});

test('kernel markers: a point per moment seen, on its write\'s row; each kind its own shape, glyph and colour', () => {
  const data = {
    shown: 3,
    writeId: [4, 5, 6],
    kernelUs: [
      [10, null, 12, 30, 31],
      null, // no witness: no markers
      [20, null, 22.5, null, null],
    ],
  };
  const points = kernelMarkerPoints(data);
  assert.deepEqual(points, [
    [[10, 4, 0], [20, 6, 2]],
    [],
    [[12, 4, 0], [22.5, 6, 2]],
    [[30, 4, 0]],
    [[31, 4, 0]],
  ]);
  assert.deepEqual(kernelMarkerPoints({ shown: 2, writeId: [1, 2] }), KERNEL_MOMENTS.map(() => []), 'an untraced flow has none');
  assert.deepEqual(kernelMarkerPoints({ ...data, shown: 1 }).map((p) => p.length), [1, 0, 1, 1, 1], 'only the rows drawn');
  assert.equal(KERNEL_MARKERS.length, KERNEL_MOMENTS.length);
  for (const key of ['glyph', 'symbol', 'color'] as const) {
    assert.equal(new Set(KERNEL_MARKERS.map((m) => m[key])).size, KERNEL_MARKERS.length, `each kind its own ${key}`);
  }
  const taken = new Set<string>([...Object.values(STAGE_COLORS), ...Object.values(EVENT_COLORS)].map((c) => c.toLowerCase()));
  for (const m of KERNEL_MARKERS) assert.ok(!taken.has(m.color.toLowerCase()), `${m.color} is apart from the stage and capture marker colours`);
});

test('the timeline chart: a series per kernel moment seen, in the legend, shown to start up to 2,000 writes, hidden above', async () => {
  const { timelineOption } = await import('../service/web/src/charts.js');
  const timeline = (shown: number, kernel: boolean) => ({
    sessionId: 1, flowId: 1, baseNs: '0', total: shown, shown,
    writeId: Array.from({ length: shown }, (_, i) => i),
    offsetStart: Array.from({ length: shown }, (_, i) => i * 10),
    offsetEnd: Array.from({ length: shown }, (_, i) => i * 10 + 10),
    submittedUs: Array.from({ length: shown }, (_, i) => i),
    completedUs: Array.from({ length: shown }, (_, i) => i + 0.5),
    firstWireUs: Array.from({ length: shown }, () => null), lastWireUs: Array.from({ length: shown }, () => null), ackedUs: Array.from({ length: shown }, () => null),
    stage: Array.from({ length: shown }, () => 0), completionId: Array.from({ length: shown }, (_, i) => i + 1),
    decidingGapNs: Array.from({ length: shown }, () => null), decidingEvent: Array.from({ length: shown }, () => null), reason: Array.from({ length: shown }, () => null),
    flags: Array.from({ length: shown }, () => 0), decidedBy: Array.from({ length: shown }, () => 'both'),
    kernelUs: Array.from({ length: shown }, (_, i) => (kernel ? [i + 0.1, null, i + 0.7, i + 9, null] : null)),
  });
  type Opt = { legend: { data: string[]; selected: Record<string, boolean> }; series: { name: string; symbol?: string; data: number[][] }[] };
  const small = timelineOption(timeline(3, true)) as unknown as Opt;
  const kernelSeries = small.series.filter((s) => s.name.startsWith('kernel: '));
  assert.deepEqual(kernelSeries.map((s) => s.name), ['kernel: qdisc in', 'kernel: driver', 'kernel: ACK arrived'], 'only the kinds some write has');
  assert.deepEqual(kernelSeries[1].data, [[0.7, 0, 0], [1.7, 1, 1], [2.7, 2, 2]], 'at the moment, on the write\'s row');
  assert.deepEqual(kernelSeries.map((s) => s.symbol), [KERNEL_MARKERS[0].symbol, KERNEL_MARKERS[2].symbol, KERNEL_MARKERS[3].symbol]);
  for (const s of kernelSeries) {
    assert.ok(small.legend.data.includes(s.name), `${s.name} in the legend`);
    assert.equal(small.legend.selected[s.name], true, `${s.name} shown`);
  }
  const many = timelineOption(timeline(2001, true)) as unknown as Opt;
  assert.deepEqual(Object.values(many.legend.selected), [false, false, false], 'above 2,000 writes the markers start hidden');
  const untraced = timelineOption(timeline(3, false)) as unknown as Opt;
  assert.equal(untraced.series.filter((s) => s.name.startsWith('kernel: ')).length, 0, 'an untraced flow has no kernel markers');
});
