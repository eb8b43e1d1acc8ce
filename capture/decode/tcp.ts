/**
 * TCP header and options into the caller's record (see frame.ts for the habits).
 * The payload length comes from the IP header (out.ipPayloadLen), never from caplen:
 * Windows pktmon cuts packets to 128 bytes and a snaplen does the same.
 */
import { DECODED_TCP, R_MALFORMED_TCP_OFFSET, R_TRUNCATED_TCP } from './reasons.js';

export const MAX_SACK_BLOCKS = 4;

/** The fields decodeTcp fills; DecodedFrame implements it. */
export interface TcpRecord {
  ipPayloadLen: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  tcpHeaderLen: number;
  payloadAt: number;
  payloadLen: number;
  payloadCaptured: number;
  mss: number;
  wscale: number;
  sackPermitted: boolean;
  hasTimestamps: boolean;
  tsVal: number;
  tsEcr: number;
  sackCount: number;
  readonly sackLeft: Uint32Array;
  readonly sackRight: Uint32Array;
  optionsMalformed: boolean;
}

/**
 * Decodes the TCP header at view[at..end). Option fields must be reset by the caller
 * (DecodedFrame.reset does). Returns DECODED_TCP or a reason code.
 */
export function decodeTcp(view: DataView, at: number, end: number, out: TcpRecord): number {
  if (end - at < 20) return R_TRUNCATED_TCP;
  const dataOffsetByte = view.getUint8(at + 12);
  const headerLen = (dataOffsetByte >> 4) * 4;
  if (headerLen < 20 || headerLen > out.ipPayloadLen) return R_MALFORMED_TCP_OFFSET;
  if (end - at < headerLen) return R_TRUNCATED_TCP;
  out.srcPort = view.getUint16(at);
  out.dstPort = view.getUint16(at + 2);
  out.seq = view.getUint32(at + 4);
  out.ack = view.getUint32(at + 8);
  out.flags = ((dataOffsetByte & 0x01) << 8) | view.getUint8(at + 13);
  out.window = view.getUint16(at + 14);
  out.tcpHeaderLen = headerLen;
  out.payloadAt = at + headerLen;
  out.payloadLen = out.ipPayloadLen - headerLen;
  out.payloadCaptured = Math.max(0, Math.min(out.payloadLen, end - out.payloadAt));
  decodeOptions(view, at + 20, at + headerLen, out);
  return DECODED_TCP;
}

function decodeOptions(view: DataView, pos: number, end: number, out: TcpRecord): void {
  while (pos < end) {
    const kind = view.getUint8(pos);
    if (kind === 0) return; // end of option list
    if (kind === 1) {
      pos++; // no-operation
      continue;
    }
    if (pos + 2 > end) {
      out.optionsMalformed = true;
      return;
    }
    const len = view.getUint8(pos + 1);
    if (len < 2 || pos + len > end) {
      out.optionsMalformed = true;
      return;
    }
    switch (kind) {
      case 2:
        if (len === 4) out.mss = view.getUint16(pos + 2);
        break;
      case 3:
        // RFC 7323: a shift above 14 is used as 14
        if (len === 3) out.wscale = Math.min(view.getUint8(pos + 2), 14);
        break;
      case 4:
        if (len === 2) out.sackPermitted = true;
        break;
      case 5: {
        const blocks = Math.min((len - 2) >> 3, MAX_SACK_BLOCKS);
        for (let i = 0; i < blocks; i++) {
          out.sackLeft[i] = view.getUint32(pos + 2 + i * 8);
          out.sackRight[i] = view.getUint32(pos + 6 + i * 8);
        }
        out.sackCount = blocks;
        break;
      }
      case 8:
        if (len === 10) {
          out.hasTimestamps = true;
          out.tsVal = view.getUint32(pos + 2);
          out.tsEcr = view.getUint32(pos + 6);
        }
        break;
    }
    pos += len;
  }
}
