/**
 * The TypeScript face of ackscope's native addon (capture/native/src, built by
 * scripts/build.sh with node-gyp). All policy lives here — defaults, validation, the
 * stream-offset correction of TCP_INFO, error codes — and the addon takes plain
 * positional values. The addon is loaded on first use, so importing this module never
 * fails; a missing or unloadable build surfaces as ACKSCOPE_ERR_CAPTURE_UNAVAILABLE.
 *
 *   realtimeNs(): bigint                         CLOCK_REALTIME ns (the clock libpcap stamps with)
 *   realtimeStamp() / realtimeStampSlots()       the same as [seconds, nanoseconds] in a reused array (hot path)
 *   tcpInfo(fd, opened?): TcpInfo                TCP_INFO corrected to stream offsets (Linux)
 *   socketTcpInfo(socket): TcpInfo               the same for a net.Socket (knows who opened it)
 *   tcpInfoInto / socketTcpInfoInto(…, out)      the same into a reused Float64Array (hot path)
 *   setSendBuffer(fd, bytes) / getSendBuffer(fd) SO_SNDBUF (Linux reports back twice the request)
 *   socketFd(socket): number                     a connected net.Socket's file descriptor
 *   listInterfaces(): NetworkInterface[]         libpcap's devices with IPv4/IPv6 addresses
 *   compileFilter(filter, linkType, snaplen)     throws ACKSCOPE_ERR_CAPTURE_FILTER if it does not compile
 *   openLive(options, callbacks): LiveCapture    a running capture; frames arrive in batches
 *   forEachFrame(batch, visit)                   walks the records of one batch
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { AckscopeError, type ErrorCode } from '../../core/errors.js';

// ---------------------------------------------------------------------------------
// Loading

/** What C++ throws: libpcap's or the OS's message plus a kind (src/errors.h). */
type NativeErrorKind = 'interface' | 'permission' | 'filter' | 'failed' | 'unsupported' | 'argument';
interface NativeError extends Error {
  kind?: NativeErrorKind;
  pcapStatus?: number;
}

interface RawTcpInfo {
  state: number;
  bytesSent: number;
  bytesAcked: number;
  bytesRetrans: number;
  bytesReceived: number;
  notsentBytes: number;
  unacked: number;
  rttUs: number;
  sndMss: number;
  sndCwnd: number;
}

/** What take() hands out: the oldest queued batch, the error that ended the capture, or null (empty). */
type NativeTaken = { records: Buffer; frames: number } | { error: NativeError } | null;

interface NativeLiveCapture {
  start(): void;
  stats(): CaptureStats;
  take(): NativeTaken;
  close(): Promise<void>;
  datalink(): number;
  snaplen(): number;
}

interface NativeAddon {
  platform: 'linux' | 'other';
  realtimeNs(): bigint;
  realtimeStamp(): void;
  realtimeSlots: Float64Array;
  tcpInfoRaw(fd: number): RawTcpInfo;
  tcpInfoInto(fd: number, out: Float64Array): void;
  setSendBuffer(fd: number, bytes: number): void;
  getSendBuffer(fd: number): number;
  listInterfaces(): NetworkInterface[];
  compileFilter(linkType: number, snaplen: number, filter: string): number;
  libVersion(): string;
  LiveCapture: new (
    device: string,
    snaplen: number,
    bufferSize: number,
    immediate: boolean,
    timeoutMs: number,
    filter: string,
    batchFrames: number,
    batchBytes: number,
    batchDelayMs: number,
    queueBatches: number,
    onReady: () => void,
    onEnd: () => void,
  ) => NativeLiveCapture;
}

const ADDON_FILE = 'ackscope_native.node';

/** Where the build lands, seen from this file in the source tree and from dist/. */
function addonCandidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  return [
    join(here, 'build', 'Release', ADDON_FILE), // capture/native/index.ts (tsx)
    resolve(here, '..', '..', '..', 'capture', 'native', 'build', 'Release', ADDON_FILE), // dist/capture/native/index.js
  ];
}

let loaded: NativeAddon | undefined;

function addon(): NativeAddon {
  if (loaded) return loaded;
  const candidates = addonCandidates();
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_CAPTURE_UNAVAILABLE',
      `the native capture addon is not built (looked for ${candidates[0]}); run \`npm run setup\``,
    );
  }
  try {
    loaded = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (err) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_CAPTURE_UNAVAILABLE',
      `the native capture addon at ${path} does not load: ${(err as Error).message}; rebuild it with \`npm run build:native\``,
    );
  }
  return loaded;
}

/** True when the addon is built and loads (tests and the CLI use it to explain a skip). */
export function nativeAvailable(): boolean {
  try {
    addon();
    return true;
  } catch {
    return false;
  }
}

const KIND_TO_CODE: Record<NativeErrorKind, ErrorCode> = {
  interface: 'ACKSCOPE_ERR_CAPTURE_INTERFACE',
  permission: 'ACKSCOPE_ERR_CAPTURE_PERMISSION',
  filter: 'ACKSCOPE_ERR_CAPTURE_FILTER',
  failed: 'ACKSCOPE_ERR_CAPTURE_FAILED',
  unsupported: 'ACKSCOPE_ERR_NATIVE_UNSUPPORTED',
  argument: 'ACKSCOPE_ERR_INTERNAL',
};

/** Turns what the addon threw into an AckscopeError; `context` says what was being done. */
function toAckscopeError(err: unknown, context: string): AckscopeError {
  if (err instanceof AckscopeError) return err;
  const native = err as NativeError;
  const code = (native.kind && KIND_TO_CODE[native.kind]) ?? 'ACKSCOPE_ERR_CAPTURE_FAILED';
  let message = `${context}: ${native.message}`;
  if (code === 'ACKSCOPE_ERR_CAPTURE_PERMISSION') message += ' (run as root, or give the node binary CAP_NET_RAW: docs/operations.md)';
  const details: Record<string, unknown> = {};
  if (native.pcapStatus !== undefined) details.pcapStatus = native.pcapStatus;
  return new AckscopeError(code, message, Object.keys(details).length ? details : undefined);
}

function call<T>(context: string, fn: (a: NativeAddon) => T): T {
  const a = addon();
  try {
    return fn(a);
  } catch (err) {
    throw toAckscopeError(err, context);
  }
}

// ---------------------------------------------------------------------------------
// Clock and sockets

/** CLOCK_REALTIME in epoch nanoseconds: the clock libpcap stamps frames with. */
export function realtimeNs(): bigint {
  // Read twice per write by the sender: no closure on this path.
  const a = loaded ?? addon();
  try {
    return a.realtimeNs();
  } catch (err) {
    throw toAckscopeError(err, 'CLOCK_REALTIME');
  }
}

/**
 * The array realtimeStamp() fills: [seconds, nanoseconds] of CLOCK_REALTIME. One per
 * thread, made by the addon; read both slots right after each realtimeStamp().
 */
export function realtimeStampSlots(): Float64Array {
  return (loaded ?? addon()).realtimeSlots;
}

/**
 * realtimeNs without allocating: CLOCK_REALTIME into realtimeStampSlots(). The sender's
 * hot path (two readings per write): a BigInt per reading was an allocation each and
 * GC work after (bench/sender-overhead.ts).
 */
export function realtimeStamp(): void {
  const a = loaded ?? addon();
  try {
    a.realtimeStamp();
  } catch (err) {
    throw toAckscopeError(err, 'CLOCK_REALTIME');
  }
}

/** libpcap's version string. */
export function pcapVersion(): string {
  return call('pcap_lib_version', (a) => a.libVersion());
}

/**
 * A connected net.Socket's file descriptor. Node keeps it on the private `_handle`
 * (TCP wrap) and offers no public accessor; this is the one place that reaches in.
 */
export function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new AckscopeError(
      'ACKSCOPE_ERR_NATIVE_UNSUPPORTED',
      'this socket has no file descriptor (not connected yet, already closed, or a platform without fds)',
    );
  }
  return fd;
}

/** TCP_INFO as stream offsets of this socket's sending direction. */
export interface TcpInfo {
  /** Highest stream offset handed to the network (first transmissions; SYN, FIN and retransmissions removed). */
  bytesSent: number;
  /** Stream offset up to which the peer acknowledged (SYN and FIN removed). */
  bytesAcked: number;
  /** Bytes written by the application that TCP has not sent yet (tcpi_notsent_bytes). */
  notsentBytes: number;
  /** Segments sent and not yet acknowledged (tcpi_unacked: segments, not bytes). */
  unacked: number;
  /** Bytes retransmitted so far (tcpi_bytes_retrans). */
  bytesRetrans: number;
  /** Smoothed round-trip time, microseconds (tcpi_rtt). */
  rttUs: number;
}

/** Who opened the connection: `active` = connect(), `passive` = accepted by a listener. */
export type OpenedBy = 'active' | 'passive';

/**
 * Pure correction of the kernel's TCP_INFO counters to stream offsets. Measured on
 * Linux 6.18 loopback sockets (test/native.addon.test.ts checks each point):
 * - tcpi_bytes_acked counts every sequence number the peer acknowledged, so on an
 *   actively opened socket it includes the SYN (1 right after connect, N + 1 once N
 *   payload bytes are acked); an accepted socket starts at 0, because its SYN-ACK was
 *   acknowledged before the socket existed. An acknowledged FIN adds one more.
 * - tcpi_bytes_sent counts payload bytes only (never SYN/FIN) but includes every
 *   retransmission, so first transmissions are bytes_sent - bytes_retrans.
 * So: bytesSent = bytes_sent - bytes_retrans; bytesAcked = bytes_acked - (active ? 1 : 0),
 * capped at bytesSent (removes the FIN, which only follows the last payload byte).
 */
export function tcpInfoToStreamOffsets(raw: RawTcpInfoCounters, opened: OpenedBy): TcpInfo {
  const bytesSent = Math.max(0, raw.bytesSent - raw.bytesRetrans);
  const synAcked = opened === 'active' && raw.bytesAcked > 0 ? 1 : 0;
  const bytesAcked = Math.min(bytesSent, Math.max(0, raw.bytesAcked - synAcked));
  return {
    bytesSent,
    bytesAcked,
    notsentBytes: raw.notsentBytes,
    unacked: raw.unacked,
    bytesRetrans: raw.bytesRetrans,
    rttUs: raw.rttUs,
  };
}

/** The kernel counters tcpInfoToStreamOffsets needs, as TCP_INFO reports them. */
export type RawTcpInfoCounters = Pick<RawTcpInfo, 'bytesSent' | 'bytesAcked' | 'bytesRetrans' | 'notsentBytes' | 'unacked' | 'rttUs'>;

/** TCP_INFO exactly as the kernel reports it (no correction), for tests and diagnostics. */
export function tcpInfoRaw(fd: number): RawTcpInfo {
  return call('TCP_INFO', (a) => {
    if (a.platform !== 'linux') throw unsupported('TCP_INFO byte counters are read on Linux only');
    return a.tcpInfoRaw(fd);
  });
}

/**
 * TCP_INFO of a socket, as stream offsets. `opened` says whether this side called
 * connect() (the default: an instrumented sender usually connects) or was accepted;
 * the kernel counts the SYN for the former only. For a net.Socket use socketTcpInfo,
 * which knows. Throws ACKSCOPE_ERR_NATIVE_UNSUPPORTED off Linux.
 */
export function tcpInfo(fd: number, opened: OpenedBy = 'active'): TcpInfo {
  return tcpInfoToStreamOffsets(tcpInfoRaw(fd), opened);
}

/** tcpInfo for a net.Socket: accepted sockets carry their server (`socket.server`). */
export function socketTcpInfo(socket: Socket): TcpInfo {
  return tcpInfo(socketFd(socket), openedBy(socket));
}

/** Who opened a net.Socket's connection: Node sets `server` on sockets a listener accepted. */
export function openedBy(socket: Socket): OpenedBy {
  return (socket as unknown as { server?: unknown }).server !== undefined ? 'passive' : 'active';
}

/**
 * Slots of the array tcpInfoInto fills, in TcpInfo's order (plus the TCP state).
 * Allocate once with `new Float64Array(TCP_INFO_SLOTS.length)` and reuse it.
 */
export const TCP_INFO_SLOTS = ['bytesSent', 'bytesAcked', 'notsentBytes', 'unacked', 'bytesRetrans', 'rttUs', 'state'] as const;

/**
 * tcpInfo without allocating: fills `out` (see TCP_INFO_SLOTS) with the same stream
 * offsets tcpInfo returns — the hot-path form for a sender reading TCP_INFO per write
 * (about 2 µs per call for the object form, most of it building the object).
 */
export function tcpInfoInto(fd: number, opened: OpenedBy, out: Float64Array): void {
  const a = loaded ?? addon();
  if (a.platform !== 'linux') throw unsupported('TCP_INFO byte counters are read on Linux only');
  try {
    a.tcpInfoInto(fd, out);
  } catch (err) {
    throw toAckscopeError(err, 'TCP_INFO');
  }
  // The correction of tcpInfoToStreamOffsets, in place (slots 0, 1 and 4).
  const bytesSent = Math.max(0, out[0] - out[4]);
  const synAcked = opened === 'active' && out[1] > 0 ? 1 : 0;
  out[0] = bytesSent;
  out[1] = Math.min(bytesSent, Math.max(0, out[1] - synAcked));
}

/** tcpInfoInto for a net.Socket. */
export function socketTcpInfoInto(socket: Socket, out: Float64Array): void {
  tcpInfoInto(socketFd(socket), openedBy(socket), out);
}

/** SO_SNDBUF. Linux doubles the request (bookkeeping overhead) and caps it at net.core.wmem_max. */
export function setSendBuffer(fd: number, bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes > 0x7fffffff) {
    throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `send buffer size must be a positive 31-bit integer, got ${bytes}`);
  }
  call('SO_SNDBUF', (a) => a.setSendBuffer(fd, bytes));
}

export function getSendBuffer(fd: number): number {
  return call('SO_SNDBUF', (a) => a.getSendBuffer(fd));
}

function unsupported(message: string): AckscopeError {
  return new AckscopeError('ACKSCOPE_ERR_NATIVE_UNSUPPORTED', message);
}

// ---------------------------------------------------------------------------------
// Interfaces and filters

export interface NetworkInterface {
  name: string;
  description?: string;
  /** IPv4 and IPv6 addresses, text form. */
  addresses: string[];
  loopback: boolean;
  up: boolean;
}

export function listInterfaces(): NetworkInterface[] {
  return call('pcap_findalldevs', (a) => a.listInterfaces());
}

/** Link types ackscope meets most (LINKTYPE_* numbers, the same as DLT_* here). */
export const LINKTYPE_ETHERNET = 1;

/**
 * Compiles a BPF filter for a link type without opening a device (pcap_open_dead), so
 * a bad filter is refused before a capture starts. Throws ACKSCOPE_ERR_CAPTURE_FILTER
 * with libpcap's message.
 */
export function compileFilter(filter: string, linkType = LINKTYPE_ETHERNET, snaplen = 262144): void {
  call(`filter "${filter}" does not compile`, (a) => a.compileFilter(linkType, snaplen, filter));
}

// ---------------------------------------------------------------------------------
// Live capture

export interface LiveOptions {
  /** Interface name as listInterfaces() gives it. */
  device: string;
  /** BPF filter; empty or absent captures everything. */
  filter?: string;
  /** Bytes kept per frame (default 262144: whole frames, GSO super-frames included). */
  snaplen?: number;
  /** Kernel capture buffer, bytes (default 32 MiB). */
  bufferSize?: number;
  /**
   * Wake per packet. Off by default: measured here it slowed the sender's transmit path
   * by up to ~50 µs on veth (docs/design-notes.md); batch delivery with a short timeout does not.
   */
  immediate?: boolean;
  /** libpcap read timeout, ms (default 10): the longest a frame waits in the kernel ring. */
  timeoutMs?: number;
  /** A batch is handed to JavaScript at this many frames (default 8192) ... */
  batchFrames?: number;
  /** ... or this many bytes of records (default 4 MiB) ... */
  batchBytes?: number;
  /** ... or when its first frame is this old, ms (default 20). */
  batchDelayMs?: number;
  /**
   * Batches that may wait for JavaScript before the capture thread waits and the kernel
   * ring fills (default 8): with the batch bounds above, at most 8 × 4 MiB of frames the
   * process holds beyond what JavaScript is working on.
   */
  queueBatches?: number;
}

export interface CaptureStats {
  /** ps_recv: packets the kernel's filter passed. */
  received: number;
  /** ps_drop: dropped because the capture buffer was full. */
  dropped: number;
  /** ps_ifdrop: dropped by the interface or its driver. */
  ifDropped: number;
  /** Batches read from the kernel and waiting for JavaScript (at most queueBatches). */
  queuedBatches: number;
}

export interface LiveCallbacks {
  /** One batch of frames; `records` is owned by the callee (walk it with forEachFrame). */
  onBatch(records: Buffer, frames: number): void;
  /** The capture died (e.g. the interface went away); libpcap's message. onEnd follows. */
  onError(err: AckscopeError): void;
  /** The capture thread stopped and every batch it read was delivered. Called once. */
  onEnd(): void;
}

export interface LiveCapture {
  /** LINKTYPE_* of the frames (pcap_datalink). */
  readonly linkType: number;
  /** Snap length libpcap settled on. */
  readonly snaplen: number;
  /** libpcap's counters now (after the end: the last values read). */
  stats(): CaptureStats;
  /** Stops the capture; resolves after every batch already captured was delivered. */
  close(): Promise<void>;
}

const LIVE_DEFAULTS = {
  filter: '',
  snaplen: 262144,
  bufferSize: 32 * 1024 * 1024,
  immediate: false,
  timeoutMs: 10,
  batchFrames: 8192,
  batchBytes: 4 * 1024 * 1024,
  batchDelayMs: 20,
  queueBatches: 8,
} satisfies Required<Omit<LiveOptions, 'device'>>;

/**
 * Opens, activates and starts a live capture with nanosecond kernel timestamps.
 * Option, permission, interface and filter errors throw here, synchronously, as
 * AckscopeErrors carrying libpcap's message (…_CAPTURE_INTERFACE / _PERMISSION /
 * _FILTER / _FAILED). Frames then arrive through callbacks.onBatch from a capture
 * thread; the JavaScript event loop never paces the capture.
 *
 * Batches are taken one per turn of the event loop (setImmediate between two): timers
 * run between batches however far behind JavaScript is, and so does Node's freeing of
 * the batches already dropped (an external Buffer's bytes are freed from the event loop;
 * delivered back to back, without a turn, none was, and a slow consumer grew the process
 * by every batch it had ever read: docs/operations.md, "Soak").
 */
export function openLive(options: LiveOptions, callbacks: LiveCallbacks): LiveCapture {
  const o = { ...LIVE_DEFAULTS, ...stripUndefined(options) };
  for (const key of ['snaplen', 'bufferSize', 'timeoutMs', 'batchFrames', 'batchBytes', 'batchDelayMs', 'queueBatches'] as const) {
    const v = o[key];
    if (!Number.isSafeInteger(v) || v < (key === 'timeoutMs' || key === 'batchDelayMs' ? 0 : 1) || v > 0x7fffffff) {
      throw new AckscopeError('ACKSCOPE_ERR_VALIDATION', `capture option ${key} must be a positive integer, got ${v}`);
    }
  }
  const device = options.device;
  const context = (err: unknown) =>
    (err as NativeError).kind === 'filter' ? `capture on ${device}: filter "${o.filter}" does not compile` : `capture on ${device}`;
  const a = addon();
  let native: NativeLiveCapture;
  let scheduled = false;
  let threadEnded = false;
  let delivered = false;
  let markDelivered!: () => void;
  const allDelivered = new Promise<void>((resolve) => (markDelivered = resolve));
  const takeOne = () => {
    scheduled = false;
    if (delivered) return;
    const taken = native.take();
    if (taken === null) {
      // empty: the next batch queued sends a wake-up; after the thread's end, nothing comes
      if (threadEnded) {
        delivered = true;
        try {
          callbacks.onEnd();
        } finally {
          markDelivered();
        }
      }
      return;
    }
    try {
      if ('error' in taken) callbacks.onError(toAckscopeError(taken.error, `capture on ${device} failed`));
      else callbacks.onBatch(taken.records, taken.frames);
    } finally {
      schedule(); // after the callback: what it set off (setImmediate) runs before the next batch
    }
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(takeOne);
  };
  try {
    native = new a.LiveCapture(
      device,
      o.snaplen,
      o.bufferSize,
      o.immediate,
      o.timeoutMs,
      o.filter,
      o.batchFrames,
      o.batchBytes,
      o.batchDelayMs,
      o.queueBatches,
      schedule,
      () => {
        threadEnded = true;
        schedule();
      },
    );
    native.start();
  } catch (err) {
    throw toAckscopeError(err, context(err));
  }
  return {
    linkType: native.datalink(),
    snaplen: native.snaplen(),
    stats: () => call(`pcap_stats on ${device}`, () => native.stats()),
    close: async () => {
      await native.close();
      await allDelivered;
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Size of a record's fixed part in a batch (src/live_capture.cc has the layout). */
const RECORD_HEADER = 16;

/**
 * Walks the records of one batch Buffer: little-endian u64 epoch-ns timestamp,
 * u32 captured length, u32 wire length, the captured bytes, padding to 8. `visit`
 * gets the frame as records[dataOffset, dataOffset + caplen) — a view, not a copy —
 * and `view`, one DataView over the whole batch (same offsets) for decoders that take one.
 */
export function forEachFrame(
  records: Buffer,
  visit: (tsNs: bigint, caplen: number, wirelen: number, bytes: Buffer, dataOffset: number, view: DataView) => void,
): number {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let at = 0;
  let count = 0;
  while (at + RECORD_HEADER <= records.byteLength) {
    const tsNs = view.getBigUint64(at, true);
    const caplen = view.getUint32(at + 8, true);
    const wirelen = view.getUint32(at + 12, true);
    visit(tsNs, caplen, wirelen, records, at + RECORD_HEADER, view);
    at += (RECORD_HEADER + caplen + 7) & ~7;
    count++;
  }
  return count;
}
