/**
 * Runs an experiment: every point of a matrix on a fresh rig, then the report.
 *
 * Per point: rig up (experiment/rig.ts) → `ackscope receive` in the receiver's namespace →
 * the point driver in the sender's namespace (experiment/point-driver.ts: a service on
 * the same SQLite file that captures, runs the sender with tagged writes, waits for the
 * last ACK and stops) → rig down → the session's summary read here (GET
 * /sessions/:id/summary through this process's own app on the same file). Every session
 * stays in the database; the report links to each one's timeline.
 *
 * A point that fails is recorded with the step and reason and the run goes on; the rig
 * is torn down whatever happens (also on Ctrl-C, see rig.ts).
 */
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { hostname, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { extname } from 'node:path';
import { existsSync } from 'node:fs';
import { tracerBinary } from '../tracer/index.js';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp, type App } from '../service/app.js';
import { AckscopeError } from '../core/errors.js';
import { cliEntry, startRig, type Rig, type RigOptions } from './rig.js';
import { commandArgv, expandMatrix, formatMode, type Matrix, type MatrixPoint, type SenderKind } from './matrix.js';
import type { DriverEvent, DriverSpec } from './point-driver.js';
import { readRunDetail, readSummary, summaryToMeasurement } from './measure.js';
import { createProgress, type Progress } from './progress.js';
import { writeReport } from './report.js';
import type { ExperimentRun, PointResult } from './results.js';

export interface ExperimentOptions {
  outDir: string;
  dbPath: string;
  matrix: Matrix;
  /** Base URL the report's session links use (`ackscope serve` on the same database). */
  serviceUrl: string;
  progress?: Progress;
  /** 1-based point whose run the per-run plots draw (default: picked, see pickRepresentative). */
  representative?: number;
}

/** The port the sink listens on inside a fresh receiver namespace (always free there). */
const RIG_SINK_PORT = 7000;

/** Rig settings for a point (pure). */
export function rigOptionsFor(point: MatrixPoint, matrix: Matrix): RigOptions {
  if (point.path.kind === 'loopback') return { kind: 'loopback' };
  return {
    kind: 'veth',
    bottleneck: point.path.rateBps === null ? undefined : { rateBps: point.path.rateBps, ...matrix.bottleneck },
    ackPath: matrix.ackRateBps === null ? undefined : { rateBps: matrix.ackRateBps },
  };
}

/** `ackscope receive` arguments for a point (pure). */
export function receiverArgs(point: MatrixPoint, host: string, port: number): string[] {
  const args = ['receive', '--port', String(port), '--host', host];
  const r = point.receiver;
  if (r.behaviour === 'late') args.push('--read-delay-ms', String(r.readDelayMs));
  if (r.behaviour === 'stops') args.push('--pause-after-bytes', String(r.pauseAfterBytes), '--pause-ms', String(r.pauseMs));
  return args;
}

/**
 * Time budgets for a point (pure): the sender gets four times what the bottleneck needs
 * for its bytes plus any receiver pause, and never less than 30 s.
 */
export function pointBudgetMs(point: MatrixPoint): { sendTimeoutMs: number; settleTimeoutMs: number } {
  const bits = point.count * point.size * 8;
  const wireMs = point.path.kind === 'veth' && point.path.rateBps ? (bits / point.path.rateBps) * 1000 : 0;
  const pauseMs = point.receiver.behaviour === 'stops' ? point.receiver.pauseMs : 0;
  const lateMs = point.receiver.behaviour === 'late' ? point.receiver.readDelayMs * Math.ceil((point.count * point.size) / 65536) : 0;
  return { sendTimeoutMs: Math.max(30_000, 4 * (wireMs + pauseMs + lateMs)), settleTimeoutMs: Math.max(10_000, 2 * wireMs) };
}

/**
 * The run the per-run plots draw: the first measured point with a bottleneck and several
 * writes outstanding (overlapped), where completion, wire and ACK times differ most
 * visibly; else the first measured point.
 */
export function pickRepresentative(results: readonly PointResult[], wanted?: number): PointResult | null {
  const ok = results.filter((r) => r.status === 'ok' && r.sessionId !== null && r.measurement && r.measurement.completions > 0);
  if (wanted !== undefined) return ok.find((r) => r.point.index + 1 === wanted) ?? null;
  return (
    ok.find((r) => r.point.mode.mode === 'overlapped' && r.point.path.kind === 'veth' && r.point.path.rateBps !== null && r.point.sender === 'node') ??
    ok.find((r) => r.point.path.kind === 'veth') ??
    ok[0] ??
    null
  );
}

function pointMainEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./point-main${extname(self)}`, import.meta.url));
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Why a sender cannot run here, or null when it can. */
export async function senderUnavailable(point: Pick<MatrixPoint, 'sender' | 'command'>): Promise<string | null> {
  if (point.command !== null) return tracerUnavailable();
  const kind = point.sender as SenderKind;
  if (kind === 'node') return null;
  try {
    const { ensureCSenderBuilt } = await import('../sender/c/run.js');
    await ensureCSenderBuilt(kind);
    if (kind === 'winsock') {
      const { findWine } = await import('../sender/c/wine.js');
      if (!findWine()) return 'Wine is not installed (apt-get install wine wine64)';
    }
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Why a command sender cannot be traced here (the kernel tracer is not built, not root), or null. */
function tracerUnavailable(): string | null {
  if (process.platform !== 'linux') return 'a command sender is traced by the kernel tracer, which needs Linux';
  if (!existsSync(tracerBinary())) return `the kernel tracer is not built (${tracerBinary()}): run scripts/build.sh on Linux with BTF`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'a command sender is traced by the kernel tracer, which needs root (or CAP_BPF and CAP_PERFMON)';
  }
  return null;
}

/** A command sender's argv for a point: its placeholders filled with the point's values (pure). */
export function pointCommand(point: MatrixPoint, host: string, port: number): string[] | null {
  if (point.command === null) return null;
  return commandArgv(point.command, {
    host,
    port,
    size: point.size,
    count: point.count,
    bytes: point.size * point.count,
    mode: formatMode(point.mode),
    sndbuf: point.sndbuf ?? 'default',
  });
}

/** Bytes the receiver read, summed over its "closed after N bytes" lines (pure); null when it reported no connection. */
export function receivedBytes(receiverLog: string): number | null {
  const counts = [...receiverLog.matchAll(/closed after (\d+) bytes/g)].map((m) => Number(m[1]));
  return counts.length === 0 ? null : counts.reduce((a, b) => a + b, 0);
}

/** Waits until something listens on the port on the receiver's side (ss in its namespace). */
async function waitListening(rig: Rig, port: number, sinkExited: () => string | null, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const exited = sinkExited();
    if (exited !== null) throw new AckscopeError('ACKSCOPE_ERR_EXPERIMENT_FAILED', `the sink exited before listening: ${exited}`);
    const { stdout } = await rig.run('receiver', 'ss', ['-ltnH', `sport = :${port}`]);
    if (stdout.trim() !== '') return;
    await sleep(25);
  }
  throw new AckscopeError('ACKSCOPE_ERR_EXPERIMENT_FAILED', `the sink did not listen on port ${port} within ${timeoutMs} ms`);
}

/**
 * The line of a process's stderr that says what went wrong (pure): the last thrown error's
 * message line, else the last line naming an error, else the last line; never a stack frame.
 */
export function errorLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('at ') && !/^Node\.js v\d/.test(l));
  const thrown = lines.filter((l) => /^[A-Za-z]*Error\b[^:]*: /.test(l)); // "TypeError: …", "Error [ERR_X]: …"
  const named = lines.filter((l) => /\b(Error|ERR_[A-Z_]+|error:)/.test(l));
  const line = thrown.at(-1) ?? named.at(-1) ?? lines.at(-1) ?? 'no output';
  return line.length > 400 ? `${line.slice(0, 400)}…` : line;
}

interface DriverOutcome {
  sessionId: number | null;
  stopped: boolean;
  settled: boolean;
  error: string | null;
  senderExit: number | null;
  senderOutput: string;
}

/**
 * Starts the point driver in the sender's namespace; `receiverReady` runs meanwhile (the
 * sink starting in the other namespace) and "go" is sent once both are ready.
 */
async function runDriver(rig: Rig, spec: DriverSpec, timeoutMs: number, receiverReady: Promise<void>): Promise<DriverOutcome> {
  const child = rig.spawnNode('sender', pointMainEntry(), [JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const outcome: DriverOutcome = { sessionId: null, stopped: false, settled: false, error: null, senderExit: null, senderOutput: '' };
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.stdin!.on('error', () => {}); // the driver may be gone already
  const ready = receiverReady.then(
    () => null,
    (err: Error) => err.message,
  );
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    let e: DriverEvent;
    try {
      e = JSON.parse(line) as DriverEvent;
    } catch {
      return; // not ours
    }
    if ('sessionId' in e && e.sessionId !== null) outcome.sessionId = e.sessionId;
    if (e.event === 'capturing') {
      void ready.then((problem) => {
        if (problem === null) child.stdin!.write('go\n');
        else {
          outcome.error = `receiver: ${problem}`;
          child.stdin!.end(); // the driver stops its capture and exits
        }
      });
    } else if (e.event === 'sent') {
      outcome.senderExit = e.exitCode;
      outcome.senderOutput = e.output;
    } else if (e.event === 'stopped') {
      outcome.stopped = true;
      outcome.settled = e.settled;
    } else if (e.event === 'error') {
      outcome.error ??= `${e.step}: ${e.code}: ${e.message}`;
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  if (!outcome.stopped && outcome.error === null) {
    outcome.error =
      signal === 'SIGKILL'
        ? `the point did not finish within ${Math.round(timeoutMs / 1000)} s`
        : `the point driver exited with ${code ?? signal}: ${errorLine(stderr)}`;
  }
  return outcome;
}

async function runPoint(app: App, options: ExperimentOptions, point: MatrixPoint, startedAt: string, unavailable: string | null): Promise<PointResult> {
  const t0 = Date.now();
  const base = { point, sessionId: null, measurement: null, qdisc: null, received: null };
  if (unavailable !== null) return { ...base, status: 'skipped', reason: unavailable, durationMs: 0 };
  const rig = await startRig(rigOptionsFor(point, options.matrix));
  let outcome: DriverOutcome | null = null;
  let qdisc: PointResult['qdisc'] = null;
  let received: number | null = null;
  try {
    const port = rig.kind === 'veth' ? RIG_SINK_PORT : await freeLoopbackPort();
    let sinkExit: string | null = null;
    let sinkErr = '';
    const sink = rig.spawnNode('receiver', cliEntry(), receiverArgs(point, rig.receiver.addr, port), { stdio: ['ignore', 'ignore', 'pipe'] });
    sink.stderr!.on('data', (d) => (sinkErr = (sinkErr + d).slice(-2000)));
    // the receiver's own count of the bytes it read, one line per connection
    createInterface({ input: sink.stderr! }).on('line', (line) => {
      const n = receivedBytes(line);
      if (n !== null) received = (received ?? 0) + n;
    });
    sink.once('exit', (code, signal) => (sinkExit = `exit ${code ?? signal}: ${sinkErr.trim()}`));
    const sinkListening = waitListening(rig, port, () => sinkExit);
    sinkListening.catch(() => {}); // reported through the driver's outcome

    const budget = pointBudgetMs(point);
    const spec: DriverSpec = {
      dbPath: options.dbPath,
      sessionName: `experiment ${startedAt} #${point.index + 1}: ${point.label}`,
      netns: rig.sender.netns,
      iface: rig.sender.iface,
      filter: `tcp port ${port}`,
      target: { host: rig.receiver.addr, port },
      sender: point.sender,
      command: pointCommand(point, rig.receiver.addr, port),
      mode: point.mode,
      size: point.size,
      count: point.count,
      sndbuf: point.sndbuf,
      tag: options.matrix.tag,
      ...budget,
    };
    outcome = await runDriver(rig, spec, budget.sendTimeoutMs + budget.settleTimeoutMs + 30_000, sinkListening);
    if (rig.kind === 'veth' && point.path.kind === 'veth' && point.path.rateBps !== null) qdisc = await rig.qdiscStats('sender');
  } catch (err) {
    return { ...base, status: 'failed', reason: (err as Error).message, durationMs: Date.now() - t0 };
  } finally {
    rig.down();
  }

  const sessionId = outcome.sessionId;
  if (outcome.error !== null || sessionId === null) {
    return { ...base, sessionId, qdisc, received, status: 'failed', reason: outcome.error ?? 'no session was created', durationMs: Date.now() - t0 };
  }
  if (outcome.senderExit !== 0) {
    const out = outcome.senderOutput.trim().split('\n').slice(-3).join(' ');
    const why =
      outcome.senderExit === null
        ? `the sender did not finish within its ${Math.round(pointBudgetMs(point).sendTimeoutMs / 1000)} s budget and was killed`
        : `the sender exited with ${outcome.senderExit}`;
    return { ...base, sessionId, qdisc, received, status: 'failed', reason: `${why}: ${out}`, durationMs: Date.now() - t0 };
  }
  try {
    const measurement = summaryToMeasurement(await readSummary(app, sessionId));
    const reason = outcome.settled ? null : 'the connection did not close on both sides within the settle time: late frames or ACKs may be missing';
    return { ...base, sessionId, qdisc, received, status: 'ok', reason, measurement, durationMs: Date.now() - t0 };
  } catch (err) {
    return { ...base, sessionId, qdisc, received, status: 'failed', reason: `summary: ${(err as Error).message}`, durationMs: Date.now() - t0 };
  }
}

/** Runs every point, writes the report folder, returns what it measured and the files. */
export async function runExperiment(options: ExperimentOptions): Promise<{ run: ExperimentRun; files: string[] }> {
  const points = expandMatrix(options.matrix);
  const progress = options.progress ?? createProgress('auto');
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  if (points.some((p) => p.path.kind === 'veth') && typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_RIG_PERMISSION',
      'this matrix uses the veth rig (a bottleneck or "unshaped"), which needs root: run as root, or use --rates loopback',
    );
  }
  // Opening the app first also migrates the database before any point driver opens it.
  const app = await buildApp({ dbPath: options.dbPath, logger: false });
  const results: PointResult[] = [];
  try {
    const unavailable = new Map<string, string | null>();
    for (const p of points) if (!unavailable.has(p.sender)) unavailable.set(p.sender, await senderUnavailable(p));
    progress.start(points.length);
    for (const point of points) {
      progress.pointStarted(point);
      const result = await runPoint(app, options, point, startedAt, unavailable.get(point.sender) ?? null);
      results.push(result);
      progress.pointDone(result);
    }
    progress.stop();
    const rep = pickRepresentative(results, options.representative);
    const representative = rep ? await readRunDetail(app, rep.point.label, rep.sessionId!) : null;
    const run: ExperimentRun = {
      startedAt,
      matrix: options.matrix,
      durationMs: Date.now() - t0,
      serviceUrl: options.serviceUrl,
      dbPath: options.dbPath,
      environment: { kernel: release(), node: process.version, host: hostname() },
      results,
      representative,
    };
    return { run, files: writeReport(options.outDir, run) };
  } finally {
    await app.close();
  }
}
