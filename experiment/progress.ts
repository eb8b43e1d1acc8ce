/**
 * Progress of an experiment on stderr: a cli-progress bar on a terminal (points done,
 * the current point, elapsed and estimated remaining time), plain lines otherwise (CI
 * logs, pipes), nothing when quiet.
 */
import cliProgress from 'cli-progress';
import type { MatrixPoint } from './matrix.js';
import type { PointResult } from './results.js';
import { describeStages, fmtDuration } from './report.js';

export interface Progress {
  start(total: number): void;
  pointStarted(point: MatrixPoint): void;
  pointDone(result: PointResult): void;
  stop(): void;
}

/** Remaining time from the mean duration of the points done so far (pure). */
export function remainingMs(doneDurationsMs: readonly number[], remainingPoints: number): number | null {
  if (doneDurationsMs.length === 0) return null;
  const mean = doneDurationsMs.reduce((a, b) => a + b, 0) / doneDurationsMs.length;
  return mean * remainingPoints;
}

/** One line about a finished point (pure). */
export function pointLine(result: PointResult, done: number, total: number): string {
  const head = `[${done}/${total}] ${result.point.label}: ${result.status} in ${fmtDuration(result.durationMs)}`;
  const m = result.measurement;
  if (result.status !== 'ok') return `${head} — ${result.reason ?? ''}`;
  if (!m) return head;
  return `${head} — ${m.completions} completions: ${describeStages(m.stages, m.completions) || 'none'}; session ${result.sessionId}`;
}

class Tracker {
  total = 0;
  done = 0;
  readonly durations: number[] = [];
  startedAt = Date.now();
  remaining(): string {
    const ms = remainingMs(this.durations, this.total - this.done);
    return ms === null ? '?' : fmtDuration(ms);
  }
  elapsed(): string {
    return fmtDuration(Date.now() - this.startedAt);
  }
}

class BarProgress implements Progress {
  private readonly t = new Tracker();
  private readonly bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: ' {bar} {value}/{total} points | {elapsedText} elapsed, ~{remainingText} left | {point}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  private timer: NodeJS.Timeout | undefined;
  private current = '';
  // The bar hides the cursor; give it back however the process ends (Ctrl-C exits from rig.ts).
  private readonly restoreCursor = () => this.bar.stop();

  start(total: number): void {
    this.t.total = total;
    this.t.startedAt = Date.now();
    process.once('exit', this.restoreCursor);
    this.bar.start(total, 0, this.payload());
    // keep "elapsed" moving while a long point runs
    this.timer = setInterval(() => this.bar.update(this.payload()), 1000);
    this.timer.unref();
  }
  private payload() {
    return { point: this.current, elapsedText: this.t.elapsed(), remainingText: this.t.remaining() };
  }
  pointStarted(point: MatrixPoint): void {
    this.current = `${point.index + 1}. ${point.label}`;
    this.bar.update(this.payload());
  }
  pointDone(result: PointResult): void {
    this.t.done++;
    this.t.durations.push(result.durationMs);
    this.bar.update(this.t.done, this.payload());
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.current = 'done';
    this.bar.update(this.payload());
    this.bar.stop();
    process.off('exit', this.restoreCursor);
  }
}

class LineProgress implements Progress {
  private readonly t = new Tracker();
  constructor(private readonly write: (line: string) => void) {}
  start(total: number): void {
    this.t.total = total;
    this.t.startedAt = Date.now();
    this.write(`experiment: ${total} points`);
  }
  pointStarted(point: MatrixPoint): void {
    this.write(`[${point.index + 1}/${this.t.total}] ${point.label} … (elapsed ${this.t.elapsed()}, ~${this.t.remaining()} left)`);
  }
  pointDone(result: PointResult): void {
    this.t.done++;
    this.t.durations.push(result.durationMs);
    this.write(pointLine(result, this.t.done, this.t.total));
  }
  stop(): void {
    this.write(`experiment: ${this.t.done}/${this.t.total} points in ${this.t.elapsed()}`);
  }
}

const silent: Progress = { start() {}, pointStarted() {}, pointDone() {}, stop() {} };

/** A bar on a terminal, lines otherwise; 'quiet' prints nothing. */
export function createProgress(kind: 'auto' | 'bar' | 'lines' | 'quiet' = 'auto'): Progress {
  if (kind === 'quiet') return silent;
  if (kind === 'bar' || (kind === 'auto' && process.stderr.isTTY)) return new BarProgress();
  return new LineProgress((line) => process.stderr.write(line + '\n'));
}
