import { completionRow, ScannedTcpInfo, type CompletionRow } from './completion.js';

/**
 * Fast path of NDJSON ingest: reads one completion record straight from its line into a
 * validated row, without JSON.parse building the object first. JSON.parse was ~2 µs of
 * a record's ~6.5 µs on the server, and the generic object checks ~0.9 µs more
 * (bench/ingest.ts: 500k records as the Node sender writes them).
 *
 * It reads the plain form senders write (JSON.stringify of a record, no spaces, keys in
 * the order of docs/completions.md): integers as digits, strings without escapes, no
 * `extra`. Anything else — other key order, spaces, an escape, a fraction or exponent, a
 * negative number, an unknown key, null, true, false, `extra`, malformed JSON — returns
 * undefined, and the caller parses the line with JSON.parse and parseCompletion, which
 * accept or refuse it and name the problem. Values found are validated by
 * completionRow, the same function parseCompletion ends in, so a line gives the same row
 * (or the same error) either way.
 */
export function parseCompletionLine(line: string, index: number, addressCache?: Map<string, string>): CompletionRow | undefined {
  if (line.indexOf('\\') !== -1) return undefined; // escapes: JSON.parse decodes them
  let texts: Map<string, string> | undefined;
  if (addressCache !== undefined) {
    texts = textCaches.get(addressCache);
    if (texts === undefined) textCaches.set(addressCache, (texts = new Map()));
  }
  return new LineScanner(line, texts).record(index, addressCache);
}

/** Per request (keyed by its address cache): one copy of each api/status/immediate text. */
const textCaches = new WeakMap<Map<string, string>, Map<string, string>>();

/** A value outside the plain form: the line is left to JSON.parse. */
const NOT_PLAIN = -1;

const TCP_KEYS = ['', ',"bytesAcked":', ',"notsentBytes":', ',"unacked":', ',"bytesRetrans":', ',"rttUs":'];

/**
 * Reads the line as the fixed template senders write: each key is matched in place with
 * startsWith, so no key string is made and no lookup by name happens. (A general
 * scanner that read each key as a string was slower than JSON.parse: ~4 µs a record.)
 */
class LineScanner {
  private pos = 0;
  constructor(
    private readonly line: string,
    /** Per request: one copy of each api/status/immediate text (see text()). */
    private readonly texts: Map<string, string> | undefined,
  ) {}

  record(index: number, addressCache: Map<string, string> | undefined): CompletionRow | undefined {
    if (!this.literal('{"flow":{"srcAddr":')) return undefined;
    const srcAddr = this.string();
    if (srcAddr === undefined || !this.literal(',"srcPort":')) return undefined;
    const srcPort = this.integer();
    if (srcPort === NOT_PLAIN || !this.literal(',"dstAddr":')) return undefined;
    const dstAddr = this.string();
    if (dstAddr === undefined || !this.literal(',"dstPort":')) return undefined;
    const dstPort = this.integer();
    if (dstPort === NOT_PLAIN || !this.literal('},"writeId":')) return undefined;
    const writeId = this.integer();
    if (writeId === NOT_PLAIN || !this.literal(',"offsetStart":')) return undefined;
    const offsetStart = this.integer();
    if (offsetStart === NOT_PLAIN || !this.literal(',"offsetEnd":')) return undefined;
    const offsetEnd = this.integer();
    if (offsetEnd === NOT_PLAIN || !this.literal(',"submittedNs":')) return undefined;
    const submittedNs = this.string();
    if (submittedNs === undefined || !this.literal(',"completedNs":')) return undefined;
    const completedNs = this.string();
    if (completedNs === undefined || !this.literal(',"bytesReported":')) return undefined;
    const bytesReported = this.integer();
    if (bytesReported === NOT_PLAIN || !this.literal(',"api":')) return undefined;
    const api = this.text();
    if (api === undefined || !this.literal(',"buffers":')) return undefined;
    const buffers = this.integer();
    if (buffers === NOT_PLAIN || !this.literal(',"status":')) return undefined;
    const status = this.text();
    if (status === undefined) return undefined;

    let writeReturned: number | undefined;
    let immediate: string | undefined;
    let writableLength: number | undefined;
    let tcpInfo: ScannedTcpInfo | undefined;
    let tcpInfoFrom: number | undefined;
    if (this.literal(',"writeReturned":')) {
      writeReturned = this.integer();
      if (writeReturned === NOT_PLAIN) return undefined;
    }
    if (this.literal(',"immediate":')) {
      immediate = this.text();
      if (immediate === undefined) return undefined;
    }
    if (this.literal(',"writableLength":')) {
      writableLength = this.integer();
      if (writableLength === NOT_PLAIN) return undefined;
    }
    if (this.literal(',"tcpInfo":{"bytesSent":')) {
      const values: number[] = [0, 0, 0, 0, 0, 0];
      for (let slot = 0; slot < 6; slot++) {
        if (slot > 0 && !this.literal(TCP_KEYS[slot])) return undefined;
        const v = this.integer();
        if (v === NOT_PLAIN) return undefined;
        values[slot] = v;
      }
      if (!this.literal('}')) return undefined;
      tcpInfo = new ScannedTcpInfo(values);
    }
    if (this.literal(',"tcpInfoFrom":')) {
      tcpInfoFrom = this.integer();
      if (tcpInfoFrom === NOT_PLAIN) return undefined;
    }
    if (!this.literal('}') || this.pos !== this.line.length) return undefined;
    // prettier-ignore
    return completionRow(index, addressCache, srcAddr, srcPort, dstAddr, dstPort, writeId, offsetStart, offsetEnd,
      submittedNs, completedNs, bytesReported, api, buffers, status, writeReturned, immediate, writableLength,
      tcpInfo, tcpInfoFrom, undefined);
  }

  /** Consumes `text` if the line continues with it. */
  private literal(text: string): boolean {
    if (!this.line.startsWith(text, this.pos)) return false;
    this.pos += text.length;
    return true;
  }

  /** A string with no escape and no control character (JSON forbids raw ones), or undefined. */
  private string(): string | undefined {
    const line = this.line;
    if (line.charCodeAt(this.pos) !== 34 /* " */) return undefined;
    const start = this.pos + 1;
    const close = line.indexOf('"', start);
    if (close === -1) return undefined;
    for (let i = start; i < close; i++) if (line.charCodeAt(i) < 32) return undefined;
    this.pos = close + 1;
    return line.slice(start, close);
  }

  /**
   * A string kept in the row (api, status, immediate): a slice of the line would keep
   * the whole line (and its upload chunk) alive as long as the row, so each distinct
   * text is copied once and shared.
   */
  private text(): string | undefined {
    const s = this.string();
    if (s === undefined || this.texts === undefined) return s;
    const known = this.texts.get(s);
    if (known !== undefined) return known;
    const copy = `${s} `.slice(0, s.length); // refers to this short string, not the line
    if (this.texts.size < 10_000) this.texts.set(copy, copy);
    return copy;
  }

  /** A non-negative integer of at most 15 digits (exact as a double), else NOT_PLAIN. */
  private integer(): number {
    const line = this.line;
    const start = this.pos;
    let n = 0;
    let d = line.charCodeAt(start);
    while (d >= 48 && d <= 57) {
      n = n * 10 + (d - 48);
      d = line.charCodeAt(++this.pos);
    }
    const digits = this.pos - start;
    if (digits === 0 || digits > 15) return NOT_PLAIN; // '-', null, true, ...; beyond exact
    if (digits > 1 && line.charCodeAt(start) === 48) return NOT_PLAIN; // a leading zero is not JSON
    if (d === 46 || d === 101 || d === 69) return NOT_PLAIN; // . e E
    return n;
  }
}
