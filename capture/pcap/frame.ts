import { AckscopeError } from '../../core/errors.js';

/** Direction from pcapng epb_flags bits 0-1. */
export const DIRECTION_UNKNOWN = 0;
export const DIRECTION_INBOUND = 1;
export const DIRECTION_OUTBOUND = 2;

/**
 * One packet read from a capture file. ZERO-COPY: the reader hands the same record, and
 * views into its own buffer, to every callback; both are valid only until the callback
 * returns. Copy what you keep.
 */
export class CaptureRecord {
  linkType = 0;
  /** epoch nanoseconds */
  tsNs = 0n;
  caplen = 0;
  wirelen = 0;
  /** The packet is bytes[at, at + caplen); view spans the same buffer as bytes. */
  bytes: Uint8Array = new Uint8Array(0);
  view: DataView = new DataView(new ArrayBuffer(0));
  at = 0;
  /** Byte offset of the packet's record (block) in the file. */
  fileOffset = 0;
  interfaceId = 0;
  /** pcapng epb_flags direction: 0 unknown, 1 inbound, 2 outbound. */
  direction = DIRECTION_UNKNOWN;
  /** pcapng epb_packetid (copies of one packet share it), or -1n when absent. */
  packetId = -1n;
}

export type RecordSink = (record: CaptureRecord) => void;

/** Every refusal of a capture file: the code, the byte offset, and what disagreed. */
export function captureFileError(byteOffset: number, message: string): AckscopeError {
  return new AckscopeError('ACKSCOPE_ERR_CAPTURE_FILE', `capture file, byte ${byteOffset}: ${message}`, { byteOffset });
}

/**
 * A streaming capture-file reader: push chunks as they arrive, frames come out through
 * the sink; end() checks that the file did not stop in the middle of a record.
 */
export interface CaptureReader {
  readonly format: 'pcap' | 'pcapng';
  push(chunk: Uint8Array, sink: RecordSink): void;
  end(sink: RecordSink): void;
  /** Bytes consumed so far (whole records). */
  readonly bytesRead: number;
  /** Packets the capturing system said it lost, as far as read; null: the file records none. */
  readonly drops: FileDrops | null;
}

/**
 * Packets a capture file says were lost before they reached it, in libpcap's two
 * counters (so a session shows imported drops as it shows a live capture's).
 */
export interface FileDrops {
  /** Lost by the operating system (libpcap ps_drop): isb_osdrop, and losses counted between packets. */
  osDropped: number;
  /** Lost by the interface or driver (libpcap ps_ifdrop): isb_ifdrop. */
  ifDropped: number;
}
