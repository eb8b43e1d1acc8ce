/**
 * Memory over time, as bench/soak.ts measures it: the verdict (is it flat after warm-up?),
 * a text sparkline for the terminal and an ECharts line plot. Pure: samples in, numbers,
 * text and chart options out (renderSvg in plots.ts draws the option).
 */
import type { EChartsOption } from 'echarts';

/** One sample: seconds since the start and values in MiB by series name (e.g. rss). */
export interface MemorySample {
  t: number;
  mib: Record<string, number>;
}

export interface MemoryTrend {
  /** The series' value at the end of the warm-up (the first sample at or after it). */
  warmMiB: number;
  maxMiB: number;
  endMiB: number;
  /** Least-squares slope over the samples from the warm-up on, MiB per minute. */
  slopeMiBPerMin: number;
  /** Samples the slope was fitted on. */
  fitted: number;
  flat: boolean;
}

/**
 * Above this slope after warm-up a series is not flat: 2 MiB/min is 2.9 GiB a day, far
 * more than a service left running can afford, and well above the noise of a 2-core
 * machine's RSS (a few MiB up and down as the garbage collectors run).
 */
export const FLAT_SLOPE_MIB_PER_MIN = 2;

/** Trend of `series` in samples ordered by time; `warmupS`: seconds ignored by the fit. */
export function memoryTrend(samples: readonly MemorySample[], series: string, warmupS: number): MemoryTrend {
  const points = samples.filter((s) => Number.isFinite(s.mib[series])).map((s) => ({ t: s.t, v: s.mib[series] }));
  if (points.length === 0) throw new Error(`memoryTrend: no sample of ${series}`);
  const after = points.filter((p) => p.t >= warmupS);
  const fit = after.length >= 2 ? after : points;
  const slopePerS = leastSquaresSlope(fit.map((p) => p.t), fit.map((p) => p.v));
  const slopeMiBPerMin = slopePerS * 60;
  return {
    warmMiB: (after[0] ?? points[points.length - 1]).v,
    maxMiB: Math.max(...points.map((p) => p.v)),
    endMiB: points[points.length - 1].v,
    slopeMiBPerMin,
    fitted: fit.length,
    flat: slopeMiBPerMin <= FLAT_SLOPE_MIB_PER_MIN,
  };
}

/** Slope of the least-squares line through (x, y); 0 for fewer than two distinct x. */
export function leastSquaresSlope(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2) return 0;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

const BARS = '▁▂▃▄▅▆▇█';

/**
 * The values as one line of block characters, `width` wide at most (each character the
 * maximum of its bucket, so a peak is never thinned away), scaled from `low` to `high`
 * (default: the values' own range).
 */
export function sparkline(values: readonly number[], width = 60, low?: number, high?: number): string {
  if (values.length === 0) return '';
  const buckets = Math.min(width, values.length);
  const maxima: number[] = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * values.length) / buckets);
    const to = Math.floor(((b + 1) * values.length) / buckets);
    maxima.push(Math.max(...values.slice(from, Math.max(to, from + 1))));
  }
  const lo = low ?? Math.min(...values);
  const hi = high ?? Math.max(...values);
  const span = hi - lo;
  return maxima
    .map((v) => BARS[span <= 0 ? 0 : Math.min(BARS.length - 1, Math.max(0, Math.floor(((v - lo) / span) * BARS.length)))])
    .join('');
}

/** One line per series over time (MiB), with a dashed mark where the warm-up ends. */
export function memoryPlotOption(samples: readonly MemorySample[], series: readonly string[], title: string, warmupS: number): EChartsOption {
  return {
    title: { text: title, left: 'center', textStyle: { fontSize: 13 } },
    legend: { bottom: 0 },
    grid: { left: 60, right: 20, top: 40, bottom: 60 },
    xAxis: { type: 'value', name: 's', nameLocation: 'middle', nameGap: 25 },
    yAxis: { type: 'value', name: 'MiB' },
    series: series.map((name, i) => ({
      name,
      type: 'line',
      showSymbol: false,
      data: samples.filter((s) => Number.isFinite(s.mib[name])).map((s) => [s.t, s.mib[name]]),
      ...(i === 0
        ? { markLine: { symbol: 'none', silent: true, lineStyle: { type: 'dashed' }, label: { formatter: 'warm-up' }, data: [{ xAxis: warmupS }] } }
        : {}),
    })),
  };
}
