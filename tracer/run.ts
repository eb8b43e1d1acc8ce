/**
 * Runs the kernel tracer binary (tracer/build/ackscope-tracer) and streams its events.
 * The events come as binary frames (tracer/frames.ts decodes them: far cheaper for this
 * process than JSON lines, and it shares the CPUs with the traced program); this file only
 * spawns, hands the bytes to the decoder and maps the binary's exit codes to TracerError codes.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TRACER_EXIT_CODES, TracerError } from './errors.js';
import type { ExitEvent, StatsEvent, TracerEvent } from './events.js';
import { TracerFrameDecoder } from './frames.js';

/** Where the build puts the binary: tracer/build/ (also found from dist/tracer/). */
export function tracerBinary(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'tracer', 'build', 'ackscope-tracer');
    if (existsSync(candidate)) return candidate;
    const here = join(dir, 'build', 'ackscope-tracer');
    if (existsSync(here)) return here;
    dir = resolve(dir, '..');
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), 'build', 'ackscope-tracer');
}

export type TraceTarget =
  | { pid: number; followChildren?: boolean }
  | { cgroup: string }
  | { command: readonly string[] };

export interface TraceOptions {
  /** Keep collecting late moments (ACKs) this long after the target ends. Default 200. */
  lingerMs?: number;
  /** A stats event this often. Default 1000. */
  statsMs?: number;
  /** The tracer's own niceness once attached (a traced command keeps this process's). */
  nice?: number;
  binary?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The traced command's stdin/stdout: this process's (default) or /dev/null. Its stderr is piped with the tracer's. */
  commandStdio?: 'inherit' | 'ignore';
}

export interface TraceResult {
  /** The traced command's exit (command mode), or the PID's end; null when stopped first. */
  exit: ExitEvent | null;
  /** The last stats event (final: true when the tracer ended cleanly). */
  stats: StatsEvent | null;
  /** The tracer process's own exit code. */
  tracerExitCode: number | null;
  stderr: string;
}

export interface TraceRun {
  /** The tracer process id. */
  pid: number;
  /**
   * Every event, decoded, in the order the tracer wrote them. Read this or `batches`, not
   * both, and read one of them to the end: the events pipe is drained only by reading (a
   * reader that falls behind makes the tracer count lost events), and `done` waits for it.
   */
  events: AsyncIterable<TracerEvent>;
  /** The same events as they arrive, a chunk at a time: no per-event await (the cheaper way for a busy trace). */
  batches: AsyncIterable<TracerEvent[]>;
  /** Resolves when the tracer has ended; rejects with a TracerError for the tracer's own failures. */
  done: Promise<TraceResult>;
  /** Ctrl-C or SIGTERM to the tracer: it detaches and ends (a command gets the signal too). */
  stop(signal?: 'SIGINT' | 'SIGTERM'): void;
}

export function traceArgs(target: TraceTarget, opts: TraceOptions = {}): string[] {
  // events on fd 3, so the traced command keeps its own stdout
  const args: string[] = ['--events-fd', '3', '--events-format', 'binary'];
  if (opts.lingerMs !== undefined) args.push('--linger-ms', String(opts.lingerMs));
  if (opts.statsMs !== undefined) args.push('--stats-ms', String(opts.statsMs));
  if (opts.nice !== undefined) args.push('--nice', String(opts.nice));
  if ('pid' in target) {
    args.push('--pid', String(target.pid));
    if (target.followChildren) args.push('--follow-children');
  } else if ('cgroup' in target) {
    args.push('--cgroup', target.cgroup);
  } else {
    if (target.command.length === 0) throw new TracerError('ACKSCOPE_ERR_TRACER_USAGE', 'an empty command');
    args.push('--', ...target.command);
  }
  return args;
}

/** Maps the tracer's end to a result or a TracerError (pure). */
export function traceOutcome(
  code: number | null,
  signal: string | null,
  stderr: string,
  exit: ExitEvent | null,
  stats: StatsEvent | null,
): TraceResult | TracerError {
  const result: TraceResult = { exit, stats, tracerExitCode: code, stderr };
  // A command's exit code is passed through: the `exit` event says the code is the command's.
  if (exit || (code === 0 && stats?.final)) return result;
  const errCode = code === null ? undefined : TRACER_EXIT_CODES[code];
  const line = /ackscope-tracer: error [A-Z_]+: (.*)/.exec(stderr)?.[1];
  if (errCode) return new TracerError(errCode, line ?? `the tracer exited with code ${code}`, { exitCode: code, stderr });
  if (stats?.final) return result; // stopped by a signal before the command ended
  return new TracerError(
    'ACKSCOPE_ERR_TRACER_LOAD',
    `the tracer ended unexpectedly (${signal ?? `code ${code}`}): ${stderr.trim().slice(0, 500)}`,
    { exitCode: code, signal, stderr },
  );
}

export function startTrace(target: TraceTarget, opts: TraceOptions = {}): TraceRun {
  const binary = opts.binary ?? tracerBinary();
  if (process.platform !== 'linux' || !existsSync(binary)) {
    throw new TracerError(
      'ACKSCOPE_ERR_TRACER_UNAVAILABLE',
      `the kernel tracer is not built (${binary}); run scripts/build.sh on Linux with BTF`,
    );
  }
  const io = opts.commandStdio ?? 'inherit';
  const child = spawn(binary, traceArgs(target, opts), {
    stdio: [io, io, 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  let stderr = '';
  const errStream = child.stderr as NodeJS.ReadableStream;
  errStream.setEncoding('utf8');
  errStream.on('data', (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  let exit: ExitEvent | null = null;
  let stats: StatsEvent | null = null;
  let parseError: TracerError | null = null;
  const eventsStream = child.stdio[3] as NodeJS.ReadableStream;
  const closed = new Promise<void>((res) => eventsStream.once('close', () => res()));
  const exited = new Promise<[number | null, string | null]>((res, rej) => {
    child.once('error', rej);
    child.once('close', (code, sig) => res([code, sig]));
  });

  const decoder = new TracerFrameDecoder();
  async function* batches(): AsyncGenerator<TracerEvent[]> {
    for await (const chunk of eventsStream) {
      if (parseError) continue; // a malformed frame ends the decoding; done rejects with it
      let got: TracerEvent[];
      try {
        got = decoder.push(chunk as Buffer);
      } catch (err) {
        parseError = err as TracerError;
        continue;
      }
      for (const e of got) {
        if (e.type === 'exit') exit = e;
        else if (e.type === 'stats') stats = e;
      }
      if (got.length > 0) yield got;
    }
    if (!parseError) {
      try {
        decoder.end();
      } catch (err) {
        parseError = err as TracerError;
      }
    }
  }
  const batchIterable = batches();
  async function* events(): AsyncGenerator<TracerEvent> {
    for await (const batch of batchIterable) yield* batch;
  }

  const done = (async () => {
    const [code, sig] = await exited;
    await closed;
    if (parseError) throw parseError;
    const out = traceOutcome(code, sig, stderr, exit, stats);
    if (out instanceof TracerError) throw out;
    return out;
  })();

  return {
    pid: child.pid ?? -1,
    events: events(),
    batches: batchIterable,
    done,
    stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Runs a trace to its end and returns every event (tests, small runs). */
export async function collectTrace(
  target: TraceTarget,
  opts: TraceOptions = {},
): Promise<{ events: TracerEvent[]; result: TraceResult }> {
  const run = startTrace(target, opts);
  const events: TracerEvent[] = [];
  const reading = (async () => {
    for await (const batch of run.batches) events.push(...batch);
  })();
  const result = await run.done.finally(() => reading);
  await reading;
  return { events, result };
}
