import { connect, type Socket } from 'node:net';
import { getSendBuffer, setSendBuffer, socketFd } from '../capture/native/index.js';
import { encodeTag, TAG_BYTES } from '../capture/decode/tag.js';
import { AckscopeError } from '../core/errors.js';
import { instrument, type Instrumented, type TcpInfoPolicy } from './instrument.js';
import type { CompletionRecord, FlowAddress } from '../core/completion.js';
import type { DestinationSpec } from './destinations.js';

export type WorkloadMode = 'serial' | 'overlapped' | 'vectored';

export interface WorkloadOptions {
  host: string;
  port: number;
  /** Send calls to make (records, one per call). */
  count: number;
  /** Bytes per send call, cycled through (a fixed size is a list of one). */
  sizes: number[];
  /**
   * serial: wait for each completion before the next call (what a careful programmer does);
   * overlapped: keep up to `window` calls outstanding; vectored: like overlapped, but each
   * call is `buffers` buffers in one writev (cork, writes, uncork).
   */
  mode: WorkloadMode;
  /** Calls outstanding at most (overlapped, vectored). Default 16. */
  window?: number;
  /** Buffers per vectored call (the call's size split among them). Default 4. */
  buffers?: number;
  /** SO_SNDBUF to request, bytes (Linux reports back twice this). */
  sndbuf?: number;
  /** TCP_NODELAY (disable Nagle). */
  nodelay?: boolean;
  /** Pace calls at this many per second (default: as fast as the window allows). */
  rate?: number;
  /** Start each call's bytes with the 24-byte write tag (capture/decode/tag.ts). */
  tag?: boolean;
  /** Record completions (default true). false runs the same loop with plain socket.write (benchmarks). */
  instrument?: boolean;
  /** Where records go besides the returned list (service or local database). */
  destination?: DestinationSpec;
  /** Keep every record in the result (default true). */
  keepRecords?: boolean;
  /** When to read TCP_INFO: 'every' completion, once per 'burst', 'off' (sender/instrument.ts TcpInfoPolicy). */
  tcpInfo?: boolean | TcpInfoPolicy;
  /** After the last completion, how long to wait for the peer to close before resetting. Default 5000 ms. */
  closeTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** Called every `progressEvery` completions (default 10 000) with the count so far. */
  onProgress?: (completed: number) => void;
  progressEvery?: number;
}

export interface WorkloadSummary {
  target: string;
  mode: WorkloadMode;
  flow: FlowAddress | null;
  calls: number;
  completed: number;
  bytes: number;
  errors: number;
  /** The socket's error, if it failed (e.g. ECONNRESET when the peer reset). */
  socketError: string | null;
  elapsedNs: number;
  /**
   * CPU time of this process (all its threads) from the first call to the last
   * completion, µs: on a shared machine it moves far less than the wall-clock rate.
   */
  cpuUs: number;
  callsPerSecond: number;
  megabytesPerSecond: number;
  /** completedNs − submittedNs over the calls (instrumented runs). */
  latencyNs: { p50: number; p99: number; max: number } | null;
  sndbufRequested: number | null;
  /** SO_SNDBUF read back after setting it. */
  sndbufActual: number | null;
  instrumented: boolean;
}

export interface WorkloadResult {
  records: CompletionRecord[];
  summary: WorkloadSummary;
}

const PATTERN_BYTE = 0x61; // 'a': payload bytes are easy to spot in a hex dump

/** Splits a call of `size` bytes into `n` buffers; the first takes the remainder (it holds the tag). */
export function splitSizes(size: number, n: number): number[] {
  const base = Math.floor(size / n);
  const out = new Array<number>(n).fill(base);
  out[0] += size - base * n;
  return out;
}

function validate(o: WorkloadOptions): void {
  const fail = (field: string, problem: string) => {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `${field}: ${problem}`, { field });
  };
  if (!Number.isSafeInteger(o.count) || o.count < 1) fail('count', 'must be a positive integer');
  if (o.sizes.length === 0) fail('size', 'needs at least one size');
  const buffers = o.mode === 'vectored' ? (o.buffers ?? 4) : 1;
  if (!Number.isSafeInteger(buffers) || buffers < 1 || buffers > 1024) fail('buffers', 'must be an integer 1–1024');
  for (const s of o.sizes) {
    if (!Number.isSafeInteger(s) || s < buffers || s > 256 * 1024 * 1024) {
      fail('size', `${s}: each size must be an integer from ${buffers} (one byte per buffer) to 256 MiB`);
    }
    if (o.tag && splitSizes(s, buffers)[0] < TAG_BYTES) {
      fail('size', `${s}: with --tag the first buffer of a call needs at least ${TAG_BYTES} bytes`);
    }
  }
  if (o.window !== undefined && (!Number.isSafeInteger(o.window) || o.window < 1)) fail('window', 'must be a positive integer');
  if (o.rate !== undefined && !(o.rate > 0)) fail('rate', 'must be a positive number of calls per second');
  if (o.sndbuf !== undefined && (!Number.isSafeInteger(o.sndbuf) || o.sndbuf < 1)) fail('sndbuf', 'must be a positive integer');
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) fail('port', 'must be 1–65535');
}

async function connectTo(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new AckscopeError('ACKSCOPE_ERR_SENDER_FAILED', `cannot connect to ${host}:${port}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(
        new AckscopeError(
          'ACKSCOPE_ERR_SENDER_FAILED',
          `cannot connect to ${host}:${port}: ${err.code ?? err.message} (is \`ackscope receive --port ${port}\` running?)`,
        ),
      );
    });
  });
}

/**
 * Makes `count` send calls on one TCP connection in the chosen mode and returns one
 * completion record per call (and sends them to `destination` if given). Used by
 * `ackscope send` and in-process by experiments. A socket error (e.g. the peer resets)
 * does not throw: the failed calls are records with the error as status, and the
 * summary names it.
 */
export async function runWorkload(options: WorkloadOptions): Promise<WorkloadResult> {
  validate(options);
  const mode = options.mode;
  const window = mode === 'serial' ? 1 : (options.window ?? 16);
  const buffersPerCall = mode === 'vectored' ? (options.buffers ?? 4) : 1;
  const instrumented = options.instrument ?? true;
  const keep = options.keepRecords ?? true;
  const target = `${options.host}:${options.port}`;

  const socket = await connectTo(options.host, options.port, options.connectTimeoutMs ?? 10_000);
  let socketError: (Error & { code?: string }) | null = null;
  socket.on('error', (err) => {
    socketError ??= err;
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));

  let sndbufActual: number | null = null;
  if (options.sndbuf !== undefined) {
    const fd = socketFd(socket);
    setSendBuffer(fd, options.sndbuf);
    sndbufActual = getSendBuffer(fd);
  }
  if (options.nodelay) socket.setNoDelay(true);

  // Records are kept in memory (the probe's own list) unless reported elsewhere; with a
  // destination they are also kept here when asked. Latency percentiles come from the
  // kept records after the run; only a run that keeps none collects them as it goes.
  const keptInProbe = keep && options.destination === undefined;
  const records: CompletionRecord[] = [];
  const latencies = instrumented && !keep ? new Float64Array(options.count) : null;
  let latencyCount = 0;
  let flow: FlowAddress | null = null;
  let probe: Instrumented | undefined;
  if (instrumented) {
    probe = instrument(socket, {
      destination: options.destination ?? (keep ? undefined : { add() {}, async flush() {} }),
      tcpInfo: options.tcpInfo,
      onRecord: keptInProbe
        ? undefined
        : keep
          ? (r) => records.push(r)
          : (r, latencyNs) => {
              if (latencyCount < latencies!.length) latencies![latencyCount++] = latencyNs;
              flow ??= r.flow;
            },
    });
  }

  // Payloads: one shared buffer per size when untagged (never mutated, so sharing is
  // safe); a fresh buffer per call when each carries its own tag.
  const shared = new Map<number, Buffer>();
  const payload = (size: number) => {
    let b = shared.get(size);
    if (!b) shared.set(size, (b = Buffer.alloc(size, PATTERN_BYTE)));
    return b;
  };
  let streamOffset = 0;
  const makeCall = (index: number): Buffer[] => {
    const size = options.sizes[index % options.sizes.length];
    const parts = buffersPerCall === 1 ? [size] : splitSizes(size, buffersPerCall);
    const out = parts.map((n) => payload(n));
    if (options.tag) {
      const first = Buffer.allocUnsafe(parts[0]);
      out[0].copy(first);
      encodeTag(first, 0, { writeId: index, length: size, offset: streamOffset });
      out[0] = first;
    }
    streamOffset += size;
    return out;
  };

  const progressEvery = options.progressEvery ?? 10_000;
  let issued = 0;
  let completed = 0;
  let outstanding = 0;
  let errors = 0;
  let bytes = 0;
  const startNs = process.hrtime.bigint();
  const startCpu = process.cpuUsage();
  const nsPerCall = options.rate ? 1e9 / options.rate : 0;

  await new Promise<void>((resolve) => {
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      resolve();
    };
    const onComplete = (err?: Error | null) => {
      outstanding--;
      completed++;
      if (err) errors++;
      if (options.onProgress && completed % progressEvery === 0) options.onProgress(completed);
      if (completed === options.count || (socketError && outstanding === 0)) finish();
      else pump();
    };
    const pump = () => {
      while (outstanding < window && issued < options.count && !socketError && !finished) {
        if (nsPerCall > 0) {
          const dueNs = issued * nsPerCall;
          const nowNs = Number(process.hrtime.bigint() - startNs);
          if (nowNs < dueNs) {
            if (!timer) {
              timer = setTimeout(() => {
                timer = undefined;
                pump();
              }, Math.max(0, Math.floor((dueNs - nowNs) / 1e6)));
            }
            return;
          }
        }
        const buffers = makeCall(issued++);
        outstanding++;
        for (const b of buffers) bytes += b.length;
        if (buffers.length === 1) socket.write(buffers[0], onComplete);
        else if (probe) probe.writev(buffers, onComplete);
        else {
          socket.cork();
          buffers.forEach((b, i) => socket.write(b, i === buffers.length - 1 ? onComplete : undefined));
          socket.uncork();
        }
      }
      if (socketError && outstanding === 0) finish();
    };
    // A destroyed socket calls back every pending write; this only guards against a
    // callback Node never makes, so a failed run still ends.
    socket.once('close', () => setTimeout(finish, 100).unref());
    pump();
  });
  const elapsedNs = Number(process.hrtime.bigint() - startNs);
  const cpu = process.cpuUsage(startCpu);

  // Close: FIN, wait for the peer's; a peer that stopped reading never answers, so reset after a while.
  if (!socket.destroyed) {
    socket.end();
    const timeout = setTimeout(() => socket.resetAndDestroy(), options.closeTimeoutMs ?? 5000);
    await closed;
    clearTimeout(timeout);
  } else {
    await closed;
  }
  if (probe) await probe.flush();

  const kept = keptInProbe && probe ? probe.records : records;
  if (keep) flow = kept[0]?.flow ?? null;
  const latencyNs = !instrumented
    ? null
    : latencySummary(
        latencies
          ? latencies.subarray(0, latencyCount)
          : Float64Array.from(kept, (r) => Number(BigInt(r.completedNs) - BigInt(r.submittedNs))),
      );
  const seconds = elapsedNs / 1e9;
  return {
    records: keep ? kept : [],
    summary: {
      target,
      mode,
      flow,
      calls: issued,
      completed,
      bytes,
      errors,
      socketError: socketError ? ((socketError as { code?: string }).code ?? (socketError as Error).message) : null,
      elapsedNs,
      cpuUs: cpu.user + cpu.system,
      callsPerSecond: completed / seconds,
      megabytesPerSecond: bytes / 1e6 / seconds,
      latencyNs,
      sndbufRequested: options.sndbuf ?? null,
      sndbufActual,
      instrumented,
    },
  };
}

/** completedNs − submittedNs percentiles (sorted after the run, not in the write path). */
function latencySummary(latencies: Float64Array): WorkloadSummary['latencyNs'] {
  if (latencies.length === 0) return null;
  const sorted = latencies.slice().sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
}

/** The one-line summary `ackscope send` prints. */
export function formatSummary(s: WorkloadSummary, sessionId?: number): string {
  const us = (ns: number) => (ns / 1000).toFixed(1);
  const parts = [
    `${s.mode} ${s.completed}/${s.calls} calls, ${s.bytes} bytes to ${s.target} in ${(s.elapsedNs / 1e6).toFixed(1)} ms`,
    `${Math.round(s.callsPerSecond)} calls/s, ${s.megabytesPerSecond.toFixed(1)} MB/s`,
  ];
  if (s.latencyNs) parts.push(`completion p50 ${us(s.latencyNs.p50)} µs p99 ${us(s.latencyNs.p99)} µs`);
  if (s.sndbufActual !== null) parts.push(`SO_SNDBUF ${s.sndbufRequested} → ${s.sndbufActual}`);
  parts.push(`errors ${s.errors}${s.socketError ? ` (${s.socketError})` : ''}`);
  if (s.flow) parts.push(`flow ${s.flow.srcAddr}:${s.flow.srcPort} → ${s.flow.dstAddr}:${s.flow.dstPort}`);
  if (sessionId !== undefined) parts.push(`session ${sessionId}`);
  return parts.join('; ');
}
