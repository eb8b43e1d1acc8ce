/**
 * Streaming pcapng reader (after libpcap's sf-pcapng.c): section header, interface
 * description, enhanced, simple and obsolete packet blocks; several sections, each with
 * its own byte order and interfaces; if_tsresol (base 10 and base 2) and if_tsoffset per
 * interface; epb_flags direction and epb_packetid; drop counts (interface statistics
 * blocks' isb_ifdrop and isb_osdrop, epb_dropcount, the obsolete packet block's drops
 * count). Every other block type (name resolution, decryption secrets, custom, Windows'
 * type 9, unknown) is skipped, not refused.
 */
import { BoundedCursor, ChunkJoiner } from './cursor.js';
import { CaptureRecord, captureFileError, type CaptureReader, type FileDrops, type RecordSink } from './frame.js';
import { WholeSecondsNs } from './seconds.js';

export const BT_SECTION_HEADER = 0x0a0d0d0a;
export const BT_INTERFACE_DESCRIPTION = 1;
export const BT_PACKET_OBSOLETE = 2;
export const BT_SIMPLE_PACKET = 3;
export const BT_INTERFACE_STATISTICS = 5;
export const BT_ENHANCED_PACKET = 6;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** Larger blocks mean a corrupt length (libpcap's limit is the same order). */
export const MAX_BLOCK_BYTES = 16 * 1024 * 1024;

const OPT_END = 0;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;
const EPB_FLAGS = 2;
const EPB_DROPCOUNT = 4;
const EPB_PACKETID = 5;
const ISB_IFDROP = 5;
const ISB_OSDROP = 7;
/** The obsolete packet block's drops count when the system could not tell. */
const DROPS_UNKNOWN = 0xffff;

/**
 * One interface's losses. Statistics blocks hold counters since the capture began (the
 * last block is the total); epb_dropcount and the obsolete block count losses between
 * two packets (summed). Both may describe the same losses, so the larger is kept.
 */
class InterfaceDrops {
  statIf: number | null = null;
  statOs: number | null = null;
  between = 0;
  get recorded(): boolean {
    return this.statIf !== null || this.statOs !== null || this.between > 0;
  }
  get ifDropped(): number {
    return this.statIf ?? 0;
  }
  get osDropped(): number {
    return Math.max(this.statOs ?? 0, this.between - this.ifDropped);
  }
}

/** Per-interface time conversion, set up once from the IDB (STYLE.md: convert once). */
class InterfaceClock {
  readonly linkType: number;
  readonly snaplen: number;
  /** Units per second as a number when it is 10^k with k ≤ 9 (fast path), else 0. */
  private readonly perSecondDecimal: number;
  private readonly perSecond: bigint;
  private readonly offsetNs: bigint;
  private readonly seconds: WholeSecondsNs;

  constructor(linkType: number, snaplen: number, tsresol: number, offsetSec: number) {
    this.linkType = linkType;
    this.snaplen = snaplen;
    const base2 = (tsresol & 0x80) !== 0;
    const exponent = tsresol & 0x7f;
    this.perSecond = base2 ? 1n << BigInt(exponent) : 10n ** BigInt(exponent);
    this.perSecondDecimal = !base2 && exponent <= 9 ? 10 ** exponent : 0;
    this.offsetNs = BigInt(offsetSec) * 1_000_000_000n;
    this.seconds = new WholeSecondsNs(this.offsetNs);
  }

  toNs(high: number, low: number): bigint {
    const perSecond = this.perSecondDecimal;
    if (perSecond !== 0 && high < 0x200000) {
      // units below 2^53: exact in a number; one BigInt per new second, one per packet
      const units = high * 0x1_0000_0000 + low;
      const sec = Math.floor(units / perSecond);
      return this.seconds.of(sec) + BigInt((units - sec * perSecond) * (1_000_000_000 / perSecond));
    }
    if (perSecond === 1_000_000_000) {
      // nanosecond units pass 2^53: the remainder by modular arithmetic on pieces below
      // 2^53, the seconds by rounding (their float error is ~1e-6 s, far from 0.5)
      const a = Math.floor(high / 100_000);
      const b = high - a * 100_000;
      // 2^32 mod 1e9 = 294967296; 1e5 * 294967296 mod 1e9 = 729600000
      const frac = (((a * 729_600_000) % 1e9) + ((b * 294_967_296) % 1e9) + (low % 1e9)) % 1e9;
      const sec = Math.round((high * 0x1_0000_0000 + low - frac) / 1e9);
      return this.seconds.of(sec) + BigInt(frac);
    }
    const units = (BigInt(high) << 32n) | BigInt(low);
    return (units * 1_000_000_000n) / this.perSecond + this.offsetNs;
  }
}

export class PcapngReader implements CaptureReader {
  readonly format = 'pcapng' as const;
  private readonly joiner = new ChunkJoiner();
  private readonly record = new CaptureRecord();
  private littleEndian = true;
  private sawSection = false;
  private interfaces: InterfaceClock[] = [];
  private consumed = 0;
  private lastTsNs = 0n;
  /** Losses of every interface of every section read so far. */
  private readonly interfaceDrops: InterfaceDrops[] = [];
  /** This section's interfaces' entries in interfaceDrops. */
  private sectionDrops: InterfaceDrops[] = [];

  get drops(): FileDrops | null {
    const recorded = this.interfaceDrops.filter((d) => d.recorded);
    if (recorded.length === 0) return null;
    return {
      osDropped: recorded.reduce((n, d) => n + d.osDropped, 0),
      ifDropped: recorded.reduce((n, d) => n + d.ifDropped, 0),
    };
  }

  get bytesRead(): number {
    return this.consumed;
  }

  push(chunk: Uint8Array, sink: RecordSink): void {
    const joined = this.joiner.join(chunk);
    if (!joined) return;
    const { bytes, fileBase } = joined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const rec = this.record;
    rec.bytes = bytes;
    rec.view = view;
    let pos = 0;
    let needed = 0;
    for (;;) {
      const available = bytes.length - pos;
      if (available < 12) break;
      const blockOffset = fileBase + pos;
      const type = view.getUint32(pos, this.littleEndian);
      if (type === BT_SECTION_HEADER) {
        // a new section chooses its own byte order
        const magicLe = view.getUint32(pos + 8, true);
        if (magicLe === BYTE_ORDER_MAGIC) this.littleEndian = true;
        else if (view.getUint32(pos + 8, false) === BYTE_ORDER_MAGIC) this.littleEndian = false;
        else {
          throw captureFileError(
            blockOffset + 8,
            `section header byte-order magic 0x${view.getUint32(pos + 8, false).toString(16)} is neither 0x1a2b3c4d nor its byte swap`,
          );
        }
      } else if (!this.sawSection) {
        throw captureFileError(blockOffset, `first block has type 0x${type.toString(16)}, not a section header (0x0a0d0d0a)`);
      }
      const le = this.littleEndian;
      const totalLen = view.getUint32(pos + 4, le);
      // the checks of a block, as questions
      if (totalLen < 12) throw captureFileError(blockOffset + 4, `block length ${totalLen} is shorter than the 12-byte minimum`);
      if (totalLen % 4 !== 0) throw captureFileError(blockOffset + 4, `block length ${totalLen} is not a multiple of 4`);
      if (totalLen > MAX_BLOCK_BYTES) {
        throw captureFileError(blockOffset + 4, `block length ${totalLen} is over the largest accepted ${MAX_BLOCK_BYTES}`);
      }
      if (available < totalLen) {
        needed = totalLen; // the block continues in the next chunks
        break;
      }
      const trailer = view.getUint32(pos + totalLen - 4, le);
      if (trailer !== totalLen) {
        throw captureFileError(blockOffset + totalLen - 4, `block trailer length ${trailer} differs from its header length ${totalLen}`);
      }
      const cursor = new BoundedCursor(view, pos + 8, pos + totalLen - 4, fileBase, le);
      switch (type) {
        case BT_SECTION_HEADER:
          this.readSectionHeader(cursor);
          break;
        case BT_INTERFACE_DESCRIPTION:
          this.readInterface(cursor);
          break;
        case BT_ENHANCED_PACKET:
          this.readEnhancedPacket(cursor, blockOffset, sink);
          break;
        case BT_SIMPLE_PACKET:
          this.readSimplePacket(cursor, blockOffset, sink);
          break;
        case BT_PACKET_OBSOLETE:
          this.readObsoletePacket(cursor, blockOffset, sink);
          break;
        case BT_INTERFACE_STATISTICS:
          this.readStatistics(cursor);
          break;
        default:
          break; // name resolution, custom, type 9, unknown: not packets
      }
      pos += totalLen;
    }
    this.consumed = fileBase + pos;
    this.joiner.keep(bytes, fileBase, pos, needed);
  }

  end(_sink: RecordSink): void {
    const pending = this.joiner.pendingBytes;
    if (!this.sawSection) throw captureFileError(0, `file is ${pending} bytes long and holds no complete section header block`);
    if (pending > 0) {
      throw captureFileError(this.joiner.pendingFileOffset, `the file ends inside a block: ${pending} bytes left over`);
    }
  }

  private readSectionHeader(c: BoundedCursor): void {
    c.u32('byte-order magic');
    const majorAt = c.fileOffset;
    const major = c.u16('version major');
    c.u16('version minor');
    if (major !== 1) throw captureFileError(majorAt, `pcapng version major ${major}, expected 1`);
    c.take(8, 'section length');
    this.sawSection = true;
    this.interfaces = [];
    this.sectionDrops = [];
  }

  private readInterface(c: BoundedCursor): void {
    const linkType = c.u16('link type');
    c.u16('reserved');
    const snaplen = c.u32('snaplen');
    let tsresol = 6; // microseconds when absent (etl2pcapng writes none)
    let offsetSec = 0;
    while (c.remaining >= 4) {
      const code = c.u16('option code');
      const len = c.u16('option length');
      if (code === OPT_END) break;
      const valueAt = c.pos;
      if (code === IF_TSRESOL && len >= 1) tsresol = c.view.getUint8(valueAt);
      if (code === IF_TSOFFSET && len >= 8) {
        const sub = new BoundedCursor(c.view, valueAt, valueAt + 8, c.fileBase, c.littleEndian);
        offsetSec = sub.i64('if_tsoffset');
      }
      c.take(padTo4(len), `interface option ${code} value`);
    }
    this.interfaces.push(new InterfaceClock(linkType, snaplen, tsresol, offsetSec));
    const drops = new InterfaceDrops();
    this.sectionDrops.push(drops);
    this.interfaceDrops.push(drops);
  }

  /** An interface statistics block: its drop counters (cumulative; the last one wins). */
  private readStatistics(c: BoundedCursor): void {
    const idAt = c.fileOffset;
    const id = c.u32('interface id');
    this.interfaceOf(id, idAt);
    c.u32('timestamp (high)');
    c.u32('timestamp (low)');
    const drops = this.sectionDrops[id];
    while (c.remaining >= 4) {
      const code = c.u16('option code');
      const len = c.u16('option length');
      if (code === OPT_END) break;
      const valueAt = c.pos;
      c.take(padTo4(len), `statistics option ${code} value`);
      if (len < 8) continue;
      if (code === ISB_IFDROP) drops.statIf = Number(c.view.getBigUint64(valueAt, c.littleEndian));
      if (code === ISB_OSDROP) drops.statOs = Number(c.view.getBigUint64(valueAt, c.littleEndian));
    }
  }

  private interfaceOf(id: number, at: number): InterfaceClock {
    const iface = this.interfaces[id];
    if (!iface) {
      throw captureFileError(at, `packet names interface ${id} but the section has ${this.interfaces.length} interface(s)`);
    }
    return iface;
  }

  private readEnhancedPacket(c: BoundedCursor, blockOffset: number, sink: RecordSink): void {
    const idAt = c.fileOffset;
    const id = c.u32('interface id');
    const iface = this.interfaceOf(id, idAt);
    const high = c.u32('timestamp (high)');
    const low = c.u32('timestamp (low)');
    const caplen = c.u32('captured length');
    const wirelen = c.u32('original length');
    const at = c.take(padTo4(caplen), 'packet data');
    const rec = this.packetRecord(iface, id, blockOffset, at, caplen, wirelen, iface.toNs(high, low));
    while (c.remaining >= 4) {
      const code = c.u16('option code');
      const len = c.u16('option length');
      if (code === OPT_END) break;
      const valueAt = c.pos;
      c.take(padTo4(len), `packet option ${code} value`);
      if (code === EPB_FLAGS && len >= 4) rec.direction = c.view.getUint32(valueAt, c.littleEndian) & 0x3;
      if (code === EPB_PACKETID && len >= 8) rec.packetId = c.view.getBigUint64(valueAt, c.littleEndian);
      if (code === EPB_DROPCOUNT && len >= 8) this.sectionDrops[id].between += Number(c.view.getBigUint64(valueAt, c.littleEndian));
    }
    this.lastTsNs = rec.tsNs;
    sink(rec);
  }

  private readSimplePacket(c: BoundedCursor, blockOffset: number, sink: RecordSink): void {
    const iface = this.interfaceOf(0, blockOffset);
    const wirelen = c.u32('original length');
    // the captured length is implied: the original length cut by the snaplen and the block
    let caplen = Math.min(wirelen, c.remaining);
    if (iface.snaplen > 0) caplen = Math.min(caplen, iface.snaplen);
    const at = c.take(caplen, 'packet data');
    // a simple packet block has no timestamp: keep time monotonic with the previous packet
    sink(this.packetRecord(iface, 0, blockOffset, at, caplen, wirelen, this.lastTsNs));
  }

  private readObsoletePacket(c: BoundedCursor, blockOffset: number, sink: RecordSink): void {
    const idAt = c.fileOffset;
    const id = c.u16('interface id');
    const iface = this.interfaceOf(id, idAt);
    const drops = c.u16('drops count');
    if (drops !== DROPS_UNKNOWN) this.sectionDrops[id].between += drops;
    const high = c.u32('timestamp (high)');
    const low = c.u32('timestamp (low)');
    const caplen = c.u32('captured length');
    const wirelen = c.u32('original length');
    const at = c.take(padTo4(caplen), 'packet data');
    const rec = this.packetRecord(iface, id, blockOffset, at, caplen, wirelen, iface.toNs(high, low));
    this.lastTsNs = rec.tsNs;
    sink(rec);
  }

  /**
   * Points the shared record at one packet block's packet, every field set (none carried
   * over from the previous packet); direction and packet id start unknown, for an
   * enhanced packet block's options to fill in.
   */
  private packetRecord(
    iface: InterfaceClock,
    interfaceId: number,
    blockOffset: number,
    at: number,
    caplen: number,
    wirelen: number,
    tsNs: bigint,
  ): CaptureRecord {
    const rec = this.record;
    rec.at = at;
    rec.caplen = caplen;
    rec.wirelen = wirelen;
    rec.linkType = iface.linkType;
    rec.tsNs = tsNs;
    rec.interfaceId = interfaceId;
    rec.fileOffset = blockOffset;
    rec.direction = 0;
    rec.packetId = -1n;
    return rec;
  }
}

function padTo4(n: number): number {
  return n + ((4 - (n % 4)) % 4); // not (n + 3) & ~3: lengths can pass 2^31
}
