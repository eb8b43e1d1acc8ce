/**
 * Streaming reader of classic pcap files: microsecond (a1b2c3d4) and nanosecond
 * (a1b23c4d) magic in both byte orders, and the "modified" (Kuznetzov, a1b2cd34) variant
 * whose records carry 8 more bytes.
 */
import { BoundedCursor, ChunkJoiner } from './cursor.js';
import { CaptureRecord, captureFileError, type CaptureReader, type RecordSink } from './frame.js';
import { WholeSecondsNs } from './seconds.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
const GLOBAL_HEADER_BYTES = 24;
/** libpcap's largest accepted record (MAXIMUM_SNAPLEN); larger means a corrupt length. */
export const MAX_RECORD_BYTES = 262144;

export class PcapReader implements CaptureReader {
  readonly format = 'pcap' as const;
  /** A classic pcap file has no place for drop counts. */
  readonly drops = null;
  private readonly joiner = new ChunkJoiner();
  private readonly record = new CaptureRecord();
  private headerRead = false;
  private littleEndian = true;
  private nanoseconds = false;
  private recordHeaderBytes = 16;
  private linkType = 0;
  private consumed = 0;
  private readonly seconds = new WholeSecondsNs();

  get bytesRead(): number {
    return this.consumed;
  }

  push(chunk: Uint8Array, sink: RecordSink): void {
    const joined = this.joiner.join(chunk);
    if (!joined) return;
    const { bytes, fileBase } = joined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    if (!this.headerRead) {
      if (bytes.length < GLOBAL_HEADER_BYTES) {
        this.joiner.keep(bytes, fileBase, 0);
        return;
      }
      this.readGlobalHeader(view);
      pos = GLOBAL_HEADER_BYTES;
    }
    const le = this.littleEndian;
    const headerBytes = this.recordHeaderBytes;
    const rec = this.record;
    rec.bytes = bytes;
    rec.view = view;
    let needed = 0;
    while (bytes.length - pos >= headerBytes) {
      const caplen = view.getUint32(pos + 8, le);
      if (caplen > MAX_RECORD_BYTES) {
        throw captureFileError(
          fileBase + pos,
          `record captured length ${caplen} is larger than the largest accepted ${MAX_RECORD_BYTES}: the file is corrupt`,
        );
      }
      if (bytes.length - pos - headerBytes < caplen) {
        needed = headerBytes + caplen; // the record continues in the next chunks
        break;
      }
      const sec = view.getUint32(pos, le);
      const frac = view.getUint32(pos + 4, le);
      const fracLimit = this.nanoseconds ? 1_000_000_000 : 1_000_000;
      if (frac >= fracLimit) {
        throw captureFileError(
          fileBase + pos + 4,
          `record timestamp fraction ${frac} is not below ${fracLimit} (${this.nanoseconds ? 'ns' : 'µs'} file)`,
        );
      }
      rec.tsNs = this.seconds.of(sec) + BigInt(this.nanoseconds ? frac : frac * 1000);
      rec.linkType = this.linkType;
      rec.caplen = caplen;
      rec.wirelen = view.getUint32(pos + 12, le);
      rec.at = pos + headerBytes;
      rec.fileOffset = fileBase + pos;
      sink(rec);
      pos += headerBytes + caplen;
    }
    this.consumed = fileBase + pos;
    this.joiner.keep(bytes, fileBase, pos, needed);
  }

  end(_sink: RecordSink): void {
    const pending = this.joiner.pendingBytes;
    if (!this.headerRead) {
      throw captureFileError(0, `file is ${pending} bytes long, shorter than the ${GLOBAL_HEADER_BYTES}-byte pcap header`);
    }
    if (pending > 0) {
      throw captureFileError(
        this.joiner.pendingFileOffset,
        `the file ends inside a record: ${pending} bytes left, fewer than the record header (${this.recordHeaderBytes}) plus its captured length`,
      );
    }
  }

  private readGlobalHeader(view: DataView): void {
    const magicLe = view.getUint32(0, true);
    const magicBe = view.getUint32(0, false);
    let magic: number;
    if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS || magicLe === PCAP_MAGIC_MODIFIED) {
      this.littleEndian = true;
      magic = magicLe;
    } else if (magicBe === PCAP_MAGIC_US || magicBe === PCAP_MAGIC_NS || magicBe === PCAP_MAGIC_MODIFIED) {
      this.littleEndian = false;
      magic = magicBe;
    } else {
      throw captureFileError(0, `magic 0x${magicBe.toString(16).padStart(8, '0')} is not a pcap magic number`);
    }
    this.nanoseconds = magic === PCAP_MAGIC_NS;
    this.recordHeaderBytes = magic === PCAP_MAGIC_MODIFIED ? 24 : 16;
    const cursor = new BoundedCursor(view, 4, GLOBAL_HEADER_BYTES, 0, this.littleEndian);
    const major = cursor.u16('version major');
    cursor.u16('version minor');
    if (major !== 2) throw captureFileError(4, `pcap version major ${major}, expected 2`);
    cursor.take(8, 'thiszone and sigfigs');
    cursor.u32('snaplen');
    // the upper 16 bits carry FCS flags in newer files; the link type is the low 16
    this.linkType = cursor.u32('link type') & 0xffff;
    this.headerRead = true;
  }
}
