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
  return parseCompletionSpan(line, 0, line.length, index, addressCache);
}

/**
 * parseCompletionLine of the line text[start, end), read in place: an upload's chunk
 * is scanned without a string made per line (slicing each line and reading the slice
 * cost ~0.5 µs more a record, bench/ingest.ts).
 */
export function parseCompletionSpan(
  text: string,
  start: number,
  end: number,
  index: number,
  addressCache?: Map<string, string>,
): CompletionRow | undefined {
  return new LineScanner(text, start, end, knownOf(addressCache), false).record(index, addressCache);
}

/**
 * A JSON array's element read in place (service/json-array-elements.ts): the record in
 * the plain form from `start`, then optional JSON whitespace and the array's `,` or `]`,
 * whose position is returned with the row. undefined: not the plain form, or the
 * separator is not in `text` yet — the element is then split out and parsed as text.
 */
export function readCompletionElement(
  text: string,
  start: number,
  index: number,
  addressCache?: Map<string, string>,
): { row: CompletionRow; separator: number } | undefined {
  const scanner = new LineScanner(text, start, text.length, knownOf(addressCache), true);
  const row = scanner.record(index, addressCache);
  return row === undefined ? undefined : { row, separator: scanner.separator };
}

function knownOf(addressCache: Map<string, string> | undefined): KnownTexts | undefined {
  if (addressCache === undefined) return undefined;
  let known = knownTexts.get(addressCache);
  if (known === undefined) knownTexts.set(addressCache, (known = { texts: new Map(), recentTexts: [], recentAddresses: [] }));
  return known;
}

/** Per request (keyed by its address cache): the texts its records repeat. */
interface KnownTexts {
  /** One copy of each api/status/immediate text. */
  texts: Map<string, string>;
  /**
   * The first few texts and addresses, matched in place in the line (no slice made and
   * hashed per value: ~0.2 µs a record with 4 strings).
   */
  recentTexts: string[];
  recentAddresses: string[];
}
const knownTexts = new WeakMap<Map<string, string>, KnownTexts>();
const RECENT = 8;

/** A value outside the plain form: the line is left to JSON.parse. */
const NOT_PLAIN = -1;

const TCP_KEYS = ['', ',"bytesAcked":', ',"notsentBytes":', ',"unacked":', ',"bytesRetrans":', ',"rttUs":'];

/**
 * Reads the line as the fixed template senders write: each key is matched in place with
 * startsWith, so no key string is made and no lookup by name happens. (A general
 * scanner that read each key as a string was slower than JSON.parse: ~4 µs a record.)
 */
class LineScanner {
  private pos: number;
  constructor(
    private readonly line: string,
    start: number,
    /** The line ends here (exclusive); the text may go on (the rest of the chunk). */
    private readonly end: number,
    /** Per request: one copy of each api/status/immediate text (see text()). */
    private readonly known: KnownTexts | undefined,
    /** An array element: the record is followed by whitespace and `,` or `]`, not the end. */
    private readonly element: boolean,
  ) {
    this.pos = start;
  }

  /** Where the element's separator is (element mode, after a record was read). */
  separator = -1;

  /** The record's text ended where it should: the line's end, or an element's separator. */
  private finished(): boolean {
    if (!this.element) return this.pos === this.end;
    const line = this.line;
    let at = this.pos;
    let c = line.charCodeAt(at);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = line.charCodeAt(++at);
    if (c !== 44 /* , */ && c !== 93 /* ] */) return false; // also NaN: the text ends first
    this.separator = at;
    return true;
  }

  record(index: number, addressCache: Map<string, string> | undefined): CompletionRow | undefined {
    if (!this.literal('{"flow":{"srcAddr":')) return undefined;
    const srcAddr = this.address();
    if (srcAddr === undefined || !this.literal(',"srcPort":')) return undefined;
    const srcPort = this.integer();
    if (srcPort === NOT_PLAIN || !this.literal(',"dstAddr":')) return undefined;
    const dstAddr = this.address();
    if (dstAddr === undefined || !this.literal(',"dstPort":')) return undefined;
    const dstPort = this.integer();
    if (dstPort === NOT_PLAIN || !this.literal('},"writeId":')) return undefined;
    const writeId = this.integer();
    if (writeId === NOT_PLAIN || !this.literal(',"offsetStart":')) return undefined;
    const offsetStart = this.integer();
    if (offsetStart === NOT_PLAIN || !this.literal(',"offsetEnd":')) return undefined;
    const offsetEnd = this.integer();
    if (offsetEnd === NOT_PLAIN || !this.literal(',"submittedNs":')) return undefined;
    const submittedNs = this.decimal();
    if (submittedNs === undefined || !this.literal(',"completedNs":')) return undefined;
    const completedNs = this.decimal();
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
    if (!this.literal('}') || !this.finished()) return undefined;
    // prettier-ignore
    return completionRow(index, addressCache, srcAddr, srcPort, dstAddr, dstPort, writeId, offsetStart, offsetEnd,
      submittedNs, completedNs, bytesReported, api, buffers, status, writeReturned, immediate, writableLength,
      tcpInfo, tcpInfoFrom, undefined);
  }

  /**
   * Consumes `text` if the line continues with it. A charCodeAt loop, which the
   * optimiser inlines: startsWith was a builtin call per key (~35 ns, a third of the
   * scan, bench/ingest.ts profile).
   */
  private literal(text: string): boolean {
    if (this.pos + text.length > this.end || !this.line.startsWith(text, this.pos)) return false;
    this.pos += text.length;
    return true;
  }

  /**
   * A string with no escape (JSON.parse decodes them) and no control character (JSON
   * forbids raw ones), or undefined. A backslash anywhere else in a line is no JSON, and
   * the literals and digits around it refuse it.
   */
  private string(): string | undefined {
    const line = this.line;
    if (this.pos >= this.end || line.charCodeAt(this.pos) !== 34 /* " */) return undefined;
    const start = this.pos + 1;
    const close = line.indexOf('"', start);
    if (close === -1 || close >= this.end) return undefined;
    for (let i = start; i < close; i++) {
      const c = line.charCodeAt(i);
      if (c < 32 || c === 92 /* \ */) return undefined;
    }
    this.pos = close + 1;
    return line.slice(start, close);
  }

  /**
   * Epoch ns as senders write them: a JSON string of 1–19 decimal digits, read as a
   * BigInt (completionRow still checks it fits in 64 bits), or undefined (the line goes
   * to JSON.parse, whose path names the problem). The digits are checked here, so the
   * row is not made from a slice tested again by a regular expression (~0.2 µs a record).
   */
  private decimal(): bigint | undefined {
    const line = this.line;
    let at = this.pos;
    if (at >= this.end || line.charCodeAt(at) !== 34 /* " */) return undefined;
    const start = ++at;
    let d = line.charCodeAt(at);
    while (d >= 48 && d <= 57) d = line.charCodeAt(++at);
    const digits = at - start;
    if (d !== 34 || digits === 0 || digits > 19 || at >= this.end) return undefined;
    this.pos = at + 1;
    return BigInt(line.slice(start, at));
  }

  /**
   * A string kept in the row (api, status, immediate): a slice of the line would keep
   * the whole line (and its upload chunk) alive as long as the row, so each distinct
   * text is copied once and shared.
   */
  private text(): string | undefined {
    const known = this.known;
    if (known === undefined) return this.string();
    const seen = this.recent(known.recentTexts);
    if (seen !== undefined) return seen;
    const s = this.string();
    if (s === undefined) return s;
    const had = known.texts.get(s);
    if (had !== undefined) return had;
    const copy = `${s} `.slice(0, s.length); // refers to this short string, not the line
    if (known.texts.size < 10_000) known.texts.set(copy, copy);
    if (known.recentTexts.length < RECENT) known.recentTexts.push(copy);
    return copy;
  }

  /** An address as posted (completionRow makes it canonical, through the request's cache). */
  private address(): string | undefined {
    const known = this.known;
    if (known === undefined) return this.string();
    const seen = this.recent(known.recentAddresses);
    if (seen !== undefined) return seen;
    const s = this.string();
    if (s !== undefined && known.recentAddresses.length < RECENT) known.recentAddresses.push(`${s} `.slice(0, s.length));
    return s;
  }

  /** One of `texts` if the line continues with it as a whole JSON string (texts hold no quote, escape or control character). */
  private recent(texts: readonly string[]): string | undefined {
    const line = this.line;
    const open = this.pos;
    if (line.charCodeAt(open) !== 34 /* " */) return undefined;
    for (let i = 0; i < texts.length; i++) {
      const t = texts[i];
      const close = open + 1 + t.length;
      if (close < this.end && line.charCodeAt(close) === 34 && line.startsWith(t, open + 1)) {
        this.pos = close + 1;
        return t;
      }
    }
    return undefined;
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
    if (this.pos > this.end) return NOT_PLAIN;
    if (digits === 0 || digits > 15) return NOT_PLAIN; // '-', null, true, ...; beyond exact
    if (digits > 1 && line.charCodeAt(start) === 48) return NOT_PLAIN; // a leading zero is not JSON
    if (d === 46 || d === 101 || d === 69) return NOT_PLAIN; // . e E
    return n;
  }
}
