import { isIPv4, isIPv6 } from 'node:net';
import { AckscopeError } from './errors.js';
import { MAX_DISTANCE_FROM_SESSION_NS, distanceFromSpan, isoOf, type SessionTimeSpan } from './time.js';

/**
 * The completion record (docs/completions.md): one per send call, as any sender posts
 * it. This module holds its validation as a pure function, so the HTTP route, the
 * local-database reporter and the tests share one definition of "valid".
 */

/** A record as posted (JSON). ns values are decimal strings or safe integers. */
export interface CompletionInput {
  flow: { srcAddr: string; srcPort: number; dstAddr: string; dstPort: number };
  writeId: number;
  offsetStart: number;
  offsetEnd: number;
  submittedNs: string | number;
  completedNs: string | number;
  bytesReported: number;
  api: string;
  buffers: number;
  status: string;
  writeReturned?: number;
  immediate?: string;
  writableLength?: number;
  tcpInfo?: Partial<TcpInfoFields>;
  /** tcpInfo is the reading taken at this writeId's completion (same burst), not at this one's. */
  tcpInfoFrom?: number;
  extra?: Record<string, unknown>;
}

export interface TcpInfoFields {
  bytesSent: number;
  bytesAcked: number;
  notsentBytes: number;
  unacked: number;
  bytesRetrans: number;
  rttUs: number;
}

/** A record as senders produce it: nanosecond times always as decimal strings (exact beyond 2^53). */
export interface CompletionRecord extends CompletionInput {
  submittedNs: string;
  completedNs: string;
}

export type FlowAddress = CompletionInput['flow'];

/** Where completion records go: the service, a local database, memory (sender/, db/). */
export interface CompletionDestination {
  /** Takes one record; may buffer it. Never throws: failures surface from flush(). */
  add(record: CompletionRecord): void;
  /** Delivers everything buffered; rejects with the first delivery error. */
  flush(): Promise<void>;
}

/** A validated record, normalised for storage (canonical addresses, BigInt ns). */
/** Which of a session's completions a listing keeps (GET /sessions/:id/completions), on either store. */
export interface CompletionFilter {
  srcAddr?: string;
  srcPort?: number;
  dstAddr?: string;
  dstPort?: number;
  api?: string;
  status?: string;
  /** completed_ns ≥ fromNs */
  fromNs?: bigint;
  /** completed_ns < toNs */
  toNs?: bigint;
}

export interface CompletionRow {
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
  writeId: number;
  offsetStart: number;
  offsetEnd: number;
  submittedNs: bigint;
  completedNs: bigint;
  bytesReported: number;
  api: string;
  buffers: number;
  status: string;
  writeReturned: number | null;
  immediate: string | null;
  writableLength: number | null;
  tcpBytesSent: number | null;
  tcpBytesAcked: number | null;
  tcpNotsentBytes: number | null;
  tcpUnacked: number | null;
  tcpBytesRetrans: number | null;
  tcpRttUs: number | null;
  /** writeId whose completion read the shared tcpInfo; null: read at this completion (or none). */
  tcpInfoFrom: number | null;
  /** JSON text of `extra`, kept as posted. */
  extra: string | null;
}

const TOP_LEVEL_FIELDS = new Set([
  'flow',
  'writeId',
  'offsetStart',
  'offsetEnd',
  'submittedNs',
  'completedNs',
  'bytesReported',
  'api',
  'buffers',
  'status',
  'writeReturned',
  'immediate',
  'writableLength',
  'tcpInfo',
  'tcpInfoFrom',
  'extra',
]);
const FLOW_FIELDS = new Set(['srcAddr', 'srcPort', 'dstAddr', 'dstPort']);
export const TCP_INFO_FIELDS = ['bytesSent', 'bytesAcked', 'notsentBytes', 'unacked', 'bytesRetrans', 'rttUs'] as const;
const TCP_INFO_FIELD_SET = new Set<string>(TCP_INFO_FIELDS);

const INT64_MAX = 9223372036854775807n;
const MAX_TEXT = 200;

/** Refusal of record `index` because of `field`; the message names both. */
/**
 * The first record whose submittedNs or completedNs lies more than
 * MAX_DISTANCE_FROM_SESSION_NS outside the session's time span, refused with a message
 * naming its index, the field and the span (one wrong clock must not reach the
 * correlation, where it cannot be placed). `escape` names the way to post it anyway.
 */
export function checkNearSession(rows: readonly CompletionRow[], span: SessionTimeSpan, escape: string): void {
  for (let i = 0; i < rows.length; i++) {
    const problem = nearSessionProblem(rows[i], i, span, escape);
    if (problem) throw problem;
  }
}

/** checkNearSession for one row, record `index` of its request: the refusal, or null. */
export function nearSessionProblem(row: CompletionRow, index: number, span: SessionTimeSpan, escape: string): AckscopeError | null {
  for (const field of ['submittedNs', 'completedNs'] as const) {
    const d = distanceFromSpan(row[field], span);
    if (d > MAX_DISTANCE_FROM_SESSION_NS || -d > MAX_DISTANCE_FROM_SESSION_NS) {
      const days = Number((d < 0n ? -d : d) / 86_400_000_000_000n);
      return invalidRecord(
        index,
        field,
        `${row[field]} is ${days} days ${d < 0n ? 'before' : 'after'} the session's time span (${span.from}: ` +
          `${span.startNs} … ${span.endNs}, ${isoOf(span.startNs)} … ${isoOf(span.endNs)}); more than ` +
          `${Number(MAX_DISTANCE_FROM_SESSION_NS / 86_400_000_000_000n)} days away is a wrong clock. ` +
          `If the session truly has no capture, ${escape}`,
      );
    }
  }
  return null;
}

export function invalidRecord(index: number, field: string, problem: string): AckscopeError {
  return new AckscopeError('ACKSCOPE_ERR_COMPLETION_INVALID', `record ${index}: ${field}: ${problem}`, { index, field });
}

/**
 * The address as the capture stores it: IPv4 dotted quad, IPv6 in RFC 5952 form
 * (lower case, longest zero run compressed). An IPv4-mapped IPv6 address
 * (`::ffff:127.0.0.1`, what a dual-stack Node socket reports) becomes the IPv4 address,
 * since that is what the wire carries; a zone id (`%eth0`) is not on the wire either.
 * Returns null when the text is not an IP address.
 */
export function canonicalAddress(input: string): string | null {
  if (input.length > 64) return null;
  // a bracketed IPv6 literal ("[::1]", as in URLs) is the same address
  const text = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  if (isIPv4(text)) return text;
  const zone = text.indexOf('%');
  const bare = zone >= 0 ? text.slice(0, zone) : text;
  if (!isIPv6(bare)) return null;
  // WHATWG URL serialises IPv6 hosts exactly as RFC 5952 asks.
  const host = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped) {
    const hi = parseInt(mapped[1], 16);
    const lo = parseInt(mapped[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return host;
}

/**
 * Validates one posted record and normalises it. `addressCache` (per request) spares
 * re-canonicalising the same few addresses for every record of a flow.
 * Throws ACKSCOPE_ERR_COMPLETION_INVALID naming the index and the first bad field.
 */
export function parseCompletion(value: unknown, index: number, addressCache?: Map<string, string>): CompletionRow {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidRecord(index, 'record', 'must be a JSON object');
  }
  const r = value as Record<string, unknown>;
  for (const key in r) {
    if (!TOP_LEVEL_FIELDS.has(key)) throw invalidRecord(index, key, 'unknown field (put your own fields in "extra")');
  }

  const flow = r.flow;
  if (typeof flow !== 'object' || flow === null || Array.isArray(flow)) {
    throw invalidRecord(index, 'flow', 'must be an object {srcAddr, srcPort, dstAddr, dstPort}');
  }
  const f = flow as Record<string, unknown>;
  for (const key in f) {
    if (!FLOW_FIELDS.has(key)) throw invalidRecord(index, `flow.${key}`, 'unknown field');
  }
  return completionRow(
    index,
    addressCache,
    f.srcAddr,
    f.srcPort,
    f.dstAddr,
    f.dstPort,
    r.writeId,
    r.offsetStart,
    r.offsetEnd,
    r.submittedNs,
    r.completedNs,
    r.bytesReported,
    r.api,
    r.buffers,
    r.status,
    r.writeReturned,
    r.immediate,
    r.writableLength,
    r.tcpInfo,
    r.tcpInfoFrom,
    r.extra,
  );
}

/** tcpInfo read by a scanner: its 6 values as posted, in TCP_INFO_FIELDS order (undefined: absent). */
export class ScannedTcpInfo {
  constructor(readonly values: readonly unknown[]) {}
}

/**
 * Validates a record's field values (as posted; undefined = absent) in a fixed order and
 * normalises them: the one definition of a valid record, shared by parseCompletion
 * (from an object) and parseCompletionLine (straight from an NDJSON line), so both
 * accept the same records and name the same first bad field. `tcpInfoValue` is the posted
 * value, or a ScannedTcpInfo whose shape the scanner already checked.
 */
export function completionRow(
  index: number,
  addressCache: Map<string, string> | undefined,
  srcAddrValue: unknown,
  srcPortValue: unknown,
  dstAddrValue: unknown,
  dstPortValue: unknown,
  writeIdValue: unknown,
  offsetStartValue: unknown,
  offsetEndValue: unknown,
  submittedNsValue: unknown,
  completedNsValue: unknown,
  bytesReportedValue: unknown,
  apiValue: unknown,
  buffersValue: unknown,
  statusValue: unknown,
  writeReturnedValue: unknown,
  immediateValue: unknown,
  writableLengthValue: unknown,
  tcpInfoValue: unknown,
  tcpInfoFromValue: unknown,
  extraValue: unknown,
): CompletionRow {
  const srcAddr = address(srcAddrValue, index, 'flow.srcAddr', addressCache);
  const srcPort = port(srcPortValue, index, 'flow.srcPort');
  const dstAddr = address(dstAddrValue, index, 'flow.dstAddr', addressCache);
  const dstPort = port(dstPortValue, index, 'flow.dstPort');

  const writeId = count(writeIdValue, index, 'writeId');
  const offsetStart = count(offsetStartValue, index, 'offsetStart');
  const offsetEnd = count(offsetEndValue, index, 'offsetEnd');
  if (offsetEnd < offsetStart) {
    throw invalidRecord(index, 'offsetEnd', `must be ≥ offsetStart (${offsetEnd} < ${offsetStart})`);
  }
  const submittedNs = nanoseconds(submittedNsValue, index, 'submittedNs');
  const completedNs = nanoseconds(completedNsValue, index, 'completedNs');
  if (completedNs < submittedNs) {
    throw invalidRecord(index, 'completedNs', `must be ≥ submittedNs (${completedNs} < ${submittedNs})`);
  }
  const bytesReported = count(bytesReportedValue, index, 'bytesReported');
  if (bytesReported > offsetEnd - offsetStart) {
    throw invalidRecord(
      index,
      'bytesReported',
      `must be ≤ the write's length offsetEnd − offsetStart (${bytesReported} > ${offsetEnd - offsetStart})`,
    );
  }
  const api = text(apiValue, index, 'api');
  const buffers = count(buffersValue, index, 'buffers');
  if (buffers < 1) throw invalidRecord(index, 'buffers', 'must be ≥ 1');
  const status = text(statusValue, index, 'status');

  let writeReturned: number | null = null;
  if (writeReturnedValue !== undefined) {
    if (!Number.isSafeInteger(writeReturnedValue)) throw invalidRecord(index, 'writeReturned', 'must be an integer');
    writeReturned = writeReturnedValue as number;
  }
  const immediate = immediateValue === undefined ? null : text(immediateValue, index, 'immediate');
  const writableLength = writableLengthValue === undefined ? null : count(writableLengthValue, index, 'writableLength');

  const tcp: (number | null)[] = [null, null, null, null, null, null];
  if (tcpInfoValue !== undefined) {
    let values: readonly unknown[];
    if (tcpInfoValue instanceof ScannedTcpInfo) {
      values = tcpInfoValue.values;
    } else {
      const t = tcpInfoValue;
      if (typeof t !== 'object' || t === null || Array.isArray(t)) throw invalidRecord(index, 'tcpInfo', 'must be an object');
      const ti = t as Record<string, unknown>;
      for (const key in ti) {
        if (!TCP_INFO_FIELD_SET.has(key)) throw invalidRecord(index, `tcpInfo.${key}`, 'unknown field');
      }
      values = [ti.bytesSent, ti.bytesAcked, ti.notsentBytes, ti.unacked, ti.bytesRetrans, ti.rttUs];
    }
    for (let i = 0; i < TCP_INFO_FIELDS.length; i++) {
      const v = values[i];
      if (v !== undefined) tcp[i] = count(v, index, `tcpInfo.${TCP_INFO_FIELDS[i]}`);
    }
  }

  let tcpInfoFrom: number | null = null;
  if (tcpInfoFromValue !== undefined) {
    tcpInfoFrom = count(tcpInfoFromValue, index, 'tcpInfoFrom');
    if (tcpInfoValue === undefined) throw invalidRecord(index, 'tcpInfoFrom', 'names the source of tcpInfo: needs tcpInfo');
  }

  let extra: string | null = null;
  if (extraValue !== undefined) {
    if (typeof extraValue !== 'object' || extraValue === null || Array.isArray(extraValue)) {
      throw invalidRecord(index, 'extra', 'must be an object');
    }
    extra = JSON.stringify(extraValue);
  }

  return {
    srcAddr,
    srcPort,
    dstAddr,
    dstPort,
    writeId,
    offsetStart,
    offsetEnd,
    submittedNs,
    completedNs,
    bytesReported,
    api,
    buffers,
    status,
    writeReturned,
    immediate,
    writableLength,
    tcpBytesSent: tcp[0],
    tcpBytesAcked: tcp[1],
    tcpNotsentBytes: tcp[2],
    tcpUnacked: tcp[3],
    tcpBytesRetrans: tcp[4],
    tcpRttUs: tcp[5],
    tcpInfoFrom,
    extra,
  };
}

function address(v: unknown, index: number, field: string, cache?: Map<string, string>): string {
  if (typeof v !== 'string') throw invalidRecord(index, field, 'must be an IPv4 or IPv6 address as a string');
  const known = cache?.get(v);
  if (known !== undefined) return known;
  const canonical = canonicalAddress(v);
  if (canonical === null) throw invalidRecord(index, field, `"${v.slice(0, 80)}" is not an IPv4 or IPv6 address`);
  if (cache && cache.size < 10_000) cache.set(v, canonical);
  return canonical;
}

function port(v: unknown, index: number, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
    throw invalidRecord(index, field, `must be an integer port 0–65535, got ${show(v)}`);
  }
  return v;
}

/** A non-negative safe integer (ids, offsets, byte counts). */
function count(v: unknown, index: number, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw invalidRecord(index, field, `must be a non-negative integer below 2^53, got ${show(v)}`);
  }
  return v;
}

const DECIMAL = /^[0-9]{1,19}$/;

/** Epoch ns: a decimal string (exact) or a safe integer (or the fast path's BigInt); non-negative, fits int64. */
function nanoseconds(v: unknown, index: number, field: string): bigint {
  if (typeof v === 'bigint') {
    // only the NDJSON fast path gives a BigInt (JSON.parse never does): a decimal string it read digit by digit
    if (v < 0n || v > INT64_MAX) throw invalidRecord(index, field, `${v} does not fit in 64 bits`);
    return v;
  }
  if (typeof v === 'string') {
    if (!DECIMAL.test(v)) throw invalidRecord(index, field, `must be a non-negative decimal integer string, got ${show(v)}`);
    const ns = BigInt(v);
    if (ns > INT64_MAX) throw invalidRecord(index, field, `${v} does not fit in 64 bits`);
    return ns;
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw invalidRecord(index, field, `a number must be a non-negative integer below 2^53 (send larger values as a string), got ${v}`);
    }
    return BigInt(v);
  }
  throw invalidRecord(index, field, `must be integer nanoseconds as a decimal string or a safe integer, got ${show(v)}`);
}

function text(v: unknown, index: number, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_TEXT) {
    throw invalidRecord(index, field, `must be a non-empty string of at most ${MAX_TEXT} characters, got ${show(v)}`);
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing (the field is required)';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
