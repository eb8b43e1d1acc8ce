/**
 * A capture-file reader that chooses pcap or pcapng from the file's first four bytes.
 */
import { captureFileError, type CaptureReader, type FileDrops, type RecordSink } from './frame.js';
import { PcapReader, PCAP_MAGIC_MODIFIED, PCAP_MAGIC_NS, PCAP_MAGIC_US } from './pcap-reader.js';
import { BT_SECTION_HEADER, PcapngReader } from './pcapng-reader.js';

export type CaptureFormat = 'pcap' | 'pcapng';

/** Which format the first four bytes announce, or null for neither. */
export function detectFormat(first4: Uint8Array): CaptureFormat | null {
  if (first4.length < 4) return null;
  const view = new DataView(first4.buffer, first4.byteOffset, 4);
  const le = view.getUint32(0, true);
  const be = view.getUint32(0, false);
  if (be === BT_SECTION_HEADER) return 'pcapng';
  for (const magic of [PCAP_MAGIC_US, PCAP_MAGIC_NS, PCAP_MAGIC_MODIFIED]) {
    if (le === magic || be === magic) return 'pcap';
  }
  return null;
}

export class AutoCaptureReader implements CaptureReader {
  private inner: CaptureReader | null = null;
  private head = new Uint8Array(0);

  get format(): CaptureFormat {
    return this.inner?.format ?? 'pcap';
  }

  get bytesRead(): number {
    return this.inner?.bytesRead ?? 0;
  }

  get drops(): FileDrops | null {
    return this.inner?.drops ?? null;
  }

  push(chunk: Uint8Array, sink: RecordSink): void {
    if (this.inner) {
      this.inner.push(chunk, sink);
      return;
    }
    const joined = new Uint8Array(this.head.length + chunk.length);
    joined.set(this.head, 0);
    joined.set(chunk, this.head.length);
    if (joined.length < 4) {
      this.head = joined;
      return;
    }
    const format = detectFormat(joined);
    if (!format) {
      const magic = Buffer.from(joined.subarray(0, 4)).toString('hex');
      throw captureFileError(0, `first four bytes 0x${magic} are neither a pcap magic number nor a pcapng section header`);
    }
    this.inner = format === 'pcap' ? new PcapReader() : new PcapngReader();
    this.head = new Uint8Array(0);
    this.inner.push(joined, sink);
  }

  end(sink: RecordSink): void {
    if (!this.inner) throw captureFileError(0, `file is ${this.head.length} bytes long: too short to be a capture file`);
    this.inner.end(sink);
  }
}
