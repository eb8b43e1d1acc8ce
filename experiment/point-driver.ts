/**
 * One experiment point, run INSIDE the sender's network namespace (rig.ts explains why:
 * libpcap can only open the sender's veth from a process in that namespace).
 *
 * It is a complete ackscope service on the experiment's SQLite file (WAL lets the parent
 * process read the same file), listening on 127.0.0.1 of the namespace so the sender can
 * post its completions, plus the steps of one measurement:
 *   create a live session → start the capture → run the sender (`ackscope send`, a C
 *   sender whose records are then ingested, or a command traced by the kernel tracer,
 *   recording/trace.ts, whose send calls are stored as they happen) → wait until the
 *   connection is closed on both sides, so every byte and its ACK were captured (and, for
 *   a traced command, every late moment seen) → stop the trace and the capture.
 *
 * Protocol with the parent (experiment/run.ts): the spec is JSON in argv[2]; progress and
 * the outcome are JSON lines on stdout (DriverEvent); after 'capturing' the driver waits
 * for a "go" line on stdin (the parent starts the receiver in parallel and says go once it
 * listens). Logs go to stderr.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp, type App } from '../service/app.js';
import { AckscopeError } from '../core/errors.js';
import { cliEntry, nodeCommand } from './rig.js';
import type { ModeSpec } from './matrix.js';
import { errorFromReply } from '../core/api-reply.js';
import { TraceManager } from '../recording/trace.js';

export interface DriverSpec {
  dbPath: string;
  sessionName: string;
  /**
   * The namespace this driver runs in (null: loopback). Handed to the C senders: Wine's
   * sockets are made by its wineserver, which must be started inside the namespace.
   */
  netns: string | null;
  /** Capture interface (the rig's sender side). */
  iface: string;
  /** BPF filter: only the experiment's connection. */
  filter: string;
  target: { host: string; port: number };
  /** node, posix, winsock, or a command sender's name. */
  sender: string;
  /** A command sender's argv, placeholders filled in; null for ackscope's own senders. */
  command: string[] | null;
  mode: ModeSpec;
  size: number;
  count: number;
  sndbuf: number | null;
  tag: boolean;
  /** Longest the sender may run. */
  sendTimeoutMs: number;
  /** Longest to wait, after the sender, for the connection to close on both sides. */
  settleTimeoutMs: number;
}

export type DriverEvent =
  | { event: 'capturing'; sessionId: number }
  | { event: 'sent'; sessionId: number; exitCode: number | null; records: number | null; output: string }
  | { event: 'stopped'; sessionId: number; settled: boolean }
  | { event: 'error'; step: string; code: string; message: string; sessionId: number | null };

const execFileAsync = promisify(execFile);

/** Extra time after the connection settled, for the capture's last batch. */
const SETTLE_GRACE_MS = 100;

function emit(e: DriverEvent): void {
  process.stdout.write(JSON.stringify(e) + '\n');
}

async function call<T>(app: App, method: 'GET' | 'POST', url: string, payload?: unknown): Promise<T> {
  const res = await app.inject({ method, url, payload: payload as object | undefined });
  if (res.statusCode >= 400) throw errorFromReply(res.statusCode, res.body, `${method} ${url}`);
  return (res.body ? JSON.parse(res.body) : null) as T;
}

/** `ackscope send` arguments for a point (pure). */
export function nodeSendArgs(spec: DriverSpec, sessionId: number, url: string): string[] {
  const args = [
    'send',
    `${spec.target.host}:${spec.target.port}`,
    '--count', String(spec.count),
    '--size', String(spec.size),
    '--mode', spec.mode.mode,
    '--session', String(sessionId),
    '--url', url,
  ];
  if (spec.mode.mode === 'overlapped') args.push('--window', String(spec.mode.window));
  if (spec.mode.mode === 'vectored') args.push('--buffers', String(spec.mode.buffers));
  if (spec.sndbuf !== null) args.push('--sndbuf', String(spec.sndbuf));
  if (spec.tag) args.push('--tag');
  return args;
}

async function runNodeSender(spec: DriverSpec, sessionId: number, url: string): Promise<{ exitCode: number | null; output: string }> {
  const cmd = nodeCommand(cliEntry(), nodeSendArgs(spec, sessionId, url));
  const child = spawn(cmd.file, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), spec.sendTimeoutMs);
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  clearTimeout(timer);
  return { exitCode, output: output.slice(-2000) };
}

/**
 * A command sender: the tracer starts the command and holds it until its programs are
 * attached, so no send call is missed; every second the calls so far are stored as
 * completions with their kernel witnesses. After the command ends the tracer keeps
 * collecting late moments (the last writes' transmissions and ACKs, which a bottleneck
 * holds back for as long as the send buffer takes to drain) until the connection has
 * settled, then it is stopped.
 */
async function runCommandPoint(app: App, spec: DriverSpec, sessionId: number, command: string[]): Promise<{ sent: { exitCode: number | null; output: string; records: number }; settled: boolean }> {
  const traces = new TraceManager({ db: app.db, log: app.log });
  const trace = traces.start(sessionId, { command }, { lingerMs: spec.sendTimeoutMs + spec.settleTimeoutMs });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void traces.stop(sessionId); // the command gets the signal too
  }, spec.sendTimeoutMs);
  let settled = false;
  let exit: Awaited<typeof trace.exited>;
  try {
    exit = await trace.exited;
    clearTimeout(timer);
    settled = exit !== null && !timedOut && (await settle(spec));
  } finally {
    clearTimeout(timer);
    await traces.stop(sessionId); // whatever happened: no tracer outlives the point
  }
  const end = await trace.ended;
  // the tracer's own failure (no permission, no BTF, a command that cannot start) fails the point with its words
  if (end.error) throw end.error;
  // 128+N, as a shell says it, when the command died of signal N; null when it was killed for its time
  const exitCode = timedOut || exit === null ? null : exit.signal ? 128 + signalNumber(exit.signal) : exit.exitCode;
  return { sent: { exitCode, output: end.stderr.trim().slice(-2000), records: end.calls }, settled };
}

function signalNumber(name: string): number {
  return (osConstants.signals as Record<string, number>)[name] ?? 0;
}

async function runCSenderPoint(app: App, spec: DriverSpec, sessionId: number): Promise<{ exitCode: number; output: string; records: number }> {
  const { runCSender } = await import('../sender/c/run.js');
  const mode = spec.mode;
  // the C senders write NDJSON to a file; it is removed once its records are ingested
  const dir = mkdtempSync(join(tmpdir(), `ackscope-${spec.sender}-`));
  try {
    const run = await runCSender({
      kind: spec.sender as 'posix' | 'winsock',
      target: `${spec.target.host}:${spec.target.port}`,
      count: spec.count,
      size: spec.size,
      // the C senders have serial and overlapped; vectored is overlapped with several buffers per call
      mode: mode.mode === 'serial' ? 'serial' : 'overlapped',
      window: mode.mode === 'overlapped' ? mode.window : undefined,
      buffers: mode.mode === 'vectored' ? mode.buffers : undefined,
      sndbuf: spec.sndbuf ?? undefined,
      tag: spec.tag,
      netns: spec.netns ?? undefined,
      outPath: join(dir, 'completions.ndjson'),
      timeoutMs: spec.sendTimeoutMs,
    });
    if (run.records.length > 0) await call(app, 'POST', `/sessions/${sessionId}/completions`, run.records);
    return { exitCode: run.exitCode, output: run.stderr.slice(-2000), records: run.records.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * True once the sender's connection to the target is gone or in TIME-WAIT: every byte was
 * acknowledged and both FINs exchanged, so the capture has everything (it is stopped
 * right after, and libpcap drains what it holds on close). Asked of the kernel (`ss` in
 * this namespace) rather than of the stored frames, which reach the database in batches.
 */
export async function connectionSettled(host: string, port: number): Promise<boolean> {
  const { stdout } = await execFileAsync('ss', ['-tanH', 'dst', host, 'dport', '=', `:${port}`], { encoding: 'utf8' });
  return socketStatesSettled(stdout);
}

/** Waits (up to the settle budget) for the connection to settle, plus a grace for the capture's last batch; false when it did not. */
async function settle(spec: DriverSpec): Promise<boolean> {
  const deadline = Date.now() + spec.settleTimeoutMs;
  let settled = false;
  while (Date.now() < deadline) {
    if (await connectionSettled(spec.target.host, spec.target.port)) {
      settled = true;
      break;
    }
    await sleep(50);
  }
  await sleep(SETTLE_GRACE_MS);
  return settled;
}

/** `ss -tanH` output → no socket, or only TIME-WAIT ones (pure). */
export function socketStatesSettled(ssOutput: string): boolean {
  return ssOutput
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean)
    .every((state) => state === 'TIME-WAIT');
}

/** Resolves on a "go" line on stdin; rejects when stdin ends first (the parent gave up). */
function waitForGo(): Promise<void> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      if (line.trim() === 'go') {
        resolve(); // before close(), whose 'close' event would reject
        lines.close();
        process.stdin.destroy();
      }
    });
    lines.once('close', () => reject(new AckscopeError('ACKSCOPE_ERR_EXPERIMENT_FAILED', 'the parent closed stdin before "go"')));
  });
}

export async function drive(spec: DriverSpec): Promise<void> {
  const app = await buildApp({ dbPath: spec.dbPath, logger: false });
  let sessionId: number | null = null;
  let step = 'listen';
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

    step = 'create session';
    const session = await call<{ id: number }>(app, 'POST', '/sessions', {
      name: spec.sessionName,
      kind: 'live',
      interface: spec.iface,
      filter: spec.filter,
    });
    sessionId = session.id;
    step = 'start capture';
    await call(app, 'POST', `/sessions/${sessionId}/start`);
    emit({ event: 'capturing', sessionId });

    // The parent starts the receiver meanwhile and says "go" once it listens.
    step = 'wait for the receiver';
    await waitForGo();

    step = 'send';
    let sent: { exitCode: number | null; output: string; records: number | null };
    let settled: boolean;
    if (spec.command !== null) {
      step = 'send (traced command)';
      ({ sent, settled } = await runCommandPoint(app, spec, sessionId, spec.command));
      emit({ event: 'sent', sessionId, ...sent });
    } else {
      if (spec.sender === 'node') sent = { ...(await runNodeSender(spec, sessionId, url)), records: null };
      else sent = await runCSenderPoint(app, spec, sessionId);
      emit({ event: 'sent', sessionId, ...sent });
      step = 'settle';
      settled = await settle(spec);
    }

    step = 'stop capture';
    await call(app, 'POST', `/sessions/${sessionId}/stop`);
    emit({ event: 'stopped', sessionId, settled });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    emit({ event: 'error', step, code: e.code ?? 'ACKSCOPE_ERR_INTERNAL', message: e.message ?? String(err), sessionId });
    if (sessionId !== null) {
      await app.inject({ method: 'POST', url: `/sessions/${sessionId}/stop` }).catch(() => {});
    }
    process.exitCode = 1;
  } finally {
    await app.close();
  }
}
