// The soak's memory verdict (experiment/memory-trend.ts): slope after warm-up, the
// figures a reader compares, the sparkline and the plot's series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FLAT_SLOPE_MIB_PER_MIN, leastSquaresSlope, memoryPlotOption, memoryTrend, sparkline, type MemorySample } from '../experiment/memory-trend.js';
import { renderSvg } from '../experiment/plots.js';

const samples = (values: number[], everyS = 10): MemorySample[] => values.map((v, i) => ({ t: i * everyS, mib: { rss: v } }));

test('least squares: the slope of an exact line, of noise around it, and of too few points', () => {
  assert.equal(leastSquaresSlope([0, 1, 2, 3], [5, 7, 9, 11]), 2);
  assert.ok(Math.abs(leastSquaresSlope([0, 1, 2, 3, 4, 5], [10, 12, 10, 12, 10, 12]) - 3 / 17.5) < 1e-12); // Σdxdy / Σdx²
  assert.equal(leastSquaresSlope([3], [1]), 0);
  assert.equal(leastSquaresSlope([2, 2], [1, 5]), 0);
});

test('a series that rises during warm-up and then stays level is flat; its warm-up, max and end are read off the samples', () => {
  // 0–30 s warm-up from 180 to 340 MiB, then level with ±3 MiB of noise, 5 minutes
  const values = [180, 250, 310, 340, ...Array.from({ length: 27 }, (_, i) => 340 + (i % 2 === 0 ? 3 : -3))];
  const trend = memoryTrend(samples(values), 'rss', 30);
  assert.equal(trend.warmMiB, 340);
  assert.equal(trend.maxMiB, 343);
  assert.equal(trend.endMiB, 343);
  assert.equal(trend.fitted, 28);
  assert.ok(Math.abs(trend.slopeMiBPerMin) < 0.5, String(trend.slopeMiBPerMin));
  assert.equal(trend.flat, true);
});

test('a series that keeps growing after warm-up is not flat, with its slope in MiB per minute', () => {
  // +7 MiB/s, the growth the unbounded capture path showed
  const values = Array.from({ length: 13 }, (_, i) => 200 + 7 * 5 * i);
  const trend = memoryTrend(samples(values, 5), 'rss', 10);
  assert.equal(trend.slopeMiBPerMin, 420);
  assert.equal(trend.flat, false);
  assert.ok(FLAT_SLOPE_MIB_PER_MIN < 420);
});

test('the sparkline keeps peaks when it thins, and scales to the range asked for', () => {
  assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7]), '▁▂▃▄▅▆▇█');
  assert.equal(sparkline([1, 9, 1, 1], 2), '█▁', 'each character is its bucket maximum: the peak survives');
  assert.equal(sparkline([5, 5, 5]), '▁▁▁');
  assert.equal(sparkline([100], 10, 0, 200), '▅');
  assert.equal(sparkline([]), '');
});

test('the plot draws one line per series with the warm-up marked', () => {
  const s: MemorySample[] = [
    { t: 0, mib: { rss: 180, worker: 10 } },
    { t: 5, mib: { rss: 300, worker: 20 } },
    { t: 10, mib: { rss: 310, worker: Number.NaN } },
  ];
  const option = memoryPlotOption(s, ['rss', 'worker'], 'soak', 5) as { series: { name: string; data: number[][] }[] };
  assert.deepEqual(option.series.map((x) => x.name), ['rss', 'worker']);
  assert.deepEqual(option.series[0].data, [[0, 180], [5, 300], [10, 310]]);
  assert.deepEqual(option.series[1].data, [[0, 10], [5, 20]], 'a missing value is left out, not drawn as 0');
  const svg = renderSvg(option, 600, 300);
  assert.match(svg, /^<svg/);
  assert.match(svg, /warm-up/);
});
