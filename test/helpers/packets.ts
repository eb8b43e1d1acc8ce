/**
 * Hand-built packets and capture files for decoder, tracker and reader tests. Every
 * byte is written here explicitly; nothing comes from the code under test.
 */

/** Bytes from a hex dump ("4500 003c ..."; spaces and newlines ignored). */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/[^0-9a-fA-F]/g, '');
  if (clean.length % 2 !== 0) throw new Error(`odd hex length ${clean.length}`);
  return Uint8Array.from(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface TcpSpec {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  seq: number;
  ack?: number;
  /** letters S F R P A */
  flags: string;
  window?: number;
  /** raw option bytes (padded to 4 here with NOPs) */
  options?: Uint8Array;
  /** payload bytes present in the packet */
  payload?: Uint8Array;
  /** payload length claimed by the IP header when larger than the bytes present (truncated capture) */
  claimedPayload?: number;
}

const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10 };

/** A raw IPv4 + TCP packet (LINKTYPE_RAW), big-endian as on the wire. */
export function ipv4Tcp(spec: TcpSpec): Uint8Array {
  let options = spec.options ?? new Uint8Array(0);
  if (options.length % 4 !== 0) options = concat(options, new Uint8Array(4 - (options.length % 4)).fill(1));
  const payload = spec.payload ?? new Uint8Array(0);
  const tcpLen = 20 + options.length;
  const claimed = spec.claimedPayload ?? payload.length;
  const out = new Uint8Array(20 + tcpLen + payload.length);
  const v = new DataView(out.buffer);
  v.setUint8(0, 0x45);
  v.setUint16(2, 20 + tcpLen + claimed);
  v.setUint8(8, 64);
  v.setUint8(9, 6);
  const src = (spec.src ?? '10.0.0.1').split('.').map(Number);
  const dst = (spec.dst ?? '10.0.0.2').split('.').map(Number);
  out.set(src, 12);
  out.set(dst, 16);
  v.setUint16(20, spec.sport ?? 40000);
  v.setUint16(22, spec.dport ?? 7000);
  v.setUint32(24, spec.seq >>> 0);
  v.setUint32(28, (spec.ack ?? 0) >>> 0);
  v.setUint8(32, (tcpLen / 4) << 4);
  v.setUint8(33, [...spec.flags].reduce((f, c) => f | FLAG_BITS[c], 0));
  v.setUint16(34, spec.window ?? 65535);
  out.set(options, 40);
  out.set(payload, 20 + tcpLen);
  return out;
}

/** A TCP SACK option with the given raw [left, right) pairs. */
export function sackOption(blocks: [number, number][]): Uint8Array {
  const out = new Uint8Array(2 + blocks.length * 8);
  const v = new DataView(out.buffer);
  out[0] = 5;
  out[1] = out.length;
  blocks.forEach(([l, r], i) => {
    v.setUint32(2 + i * 8, l >>> 0);
    v.setUint32(6 + i * 8, r >>> 0);
  });
  return out;
}

// ---- capture files, in either byte order ----

class Bytes {
  private parts: number[] = [];
  constructor(private readonly le: boolean) {}
  u8(n: number): this {
    this.parts.push(n & 0xff);
    return this;
  }
  u16(n: number): this {
    const b = [n & 0xff, (n >>> 8) & 0xff];
    this.parts.push(...(this.le ? b : b.reverse()));
    return this;
  }
  u32(n: number): this {
    const b = [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
    this.parts.push(...(this.le ? b : b.reverse()));
    return this;
  }
  u64(n: bigint): this {
    const lo = Number(n & 0xffffffffn);
    const hi = Number((n >> 32n) & 0xffffffffn);
    return this.le ? this.u32(lo).u32(hi) : this.u32(hi).u32(lo);
  }
  raw(b: Uint8Array): this {
    this.parts.push(...b);
    return this;
  }
  pad4(): this {
    while (this.parts.length % 4 !== 0) this.parts.push(0);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface PcapRecord {
  sec: number;
  frac: number;
  data: Uint8Array;
  wirelen?: number;
}

export function pcapFile(opts: { le: boolean; ns: boolean; linkType: number; records: PcapRecord[] }): Uint8Array {
  const b = new Bytes(opts.le)
    .u32(opts.ns ? 0xa1b23c4d : 0xa1b2c3d4)
    .u16(2)
    .u16(4)
    .u32(0)
    .u32(0)
    .u32(262144)
    .u32(opts.linkType);
  for (const r of opts.records) {
    b.u32(r.sec).u32(r.frac).u32(r.data.length).u32(r.wirelen ?? r.data.length).raw(r.data);
  }
  return b.bytes();
}

export interface NgOption {
  code: number;
  value: Uint8Array;
}

/** pcapng blocks in one byte order; concatenate sections of different orders freely. */
export class PcapngBuilder {
  private blocks: Uint8Array[] = [];
  constructor(readonly le: boolean) {}

  private options(b: Bytes, options: NgOption[]): void {
    if (options.length === 0) return;
    for (const o of options) b.u16(o.code).u16(o.value.length).raw(o.value).pad4();
    b.u16(0).u16(0);
  }

  block(type: number, body: (b: Bytes) => void): this {
    const inner = new Bytes(this.le);
    body(inner);
    inner.pad4();
    const total = inner.length + 12;
    this.blocks.push(new Bytes(this.le).u32(type).u32(total).raw(inner.bytes()).u32(total).bytes());
    return this;
  }

  section(): this {
    return this.block(0x0a0d0d0a, (b) => b.u32(0x1a2b3c4d).u16(1).u16(0).u64(0xffffffffffffffffn));
  }

  iface(linkType: number, options: NgOption[] = [], snaplen = 0): this {
    return this.block(1, (b) => {
      b.u16(linkType).u16(0).u32(snaplen);
      this.options(b, options);
    });
  }

  epb(ifId: number, ts: bigint, data: Uint8Array, options: NgOption[] = [], wirelen?: number): this {
    return this.block(6, (b) => {
      b.u32(ifId).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(data.length).u32(wirelen ?? data.length);
      b.raw(data).pad4();
      this.options(b, options);
    });
  }

  spb(data: Uint8Array, wirelen?: number): this {
    return this.block(3, (b) => b.u32(wirelen ?? data.length).raw(data).pad4());
  }

  /** Obsolete packet block (type 2); `drops`: packets lost since the previous one (0xffff: unknown). */
  obsoletePacket(ifId: number, ts: bigint, data: Uint8Array, drops = 0): this {
    return this.block(2, (b) => {
      b.u16(ifId).u16(drops).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn)).u32(data.length).u32(data.length);
      b.raw(data).pad4();
    });
  }

  /** Interface statistics block (type 5): interface id, timestamp, options (isb_ifdrop 5, isb_osdrop 7, ...). */
  isb(ifId: number, ts: bigint, options: NgOption[]): this {
    return this.block(5, (b) => {
      b.u32(ifId).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn));
      this.options(b, options);
    });
  }

  /** Option values in this builder's byte order. */
  u32Value(n: number): Uint8Array {
    return new Bytes(this.le).u32(n).bytes();
  }
  u64Value(n: bigint): Uint8Array {
    return new Bytes(this.le).u64(n).bytes();
  }

  bytes(): Uint8Array {
    return concat(...this.blocks);
  }
}
