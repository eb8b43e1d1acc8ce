/**
 * Decoder fixtures built by hand. Each is a byte literal with its tcpdump -XX style
 * dump; the table runs twice: each frame alone in its own buffer, and at an odd offset
 * inside a buffer shared with other bytes (a decoder must honour at and caplen).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodedFrame, decodeFrame } from '../capture/decode/frame.js';
import { DECODED_TCP, reasonName } from '../capture/decode/reasons.js';
import { concat, hex } from './helpers/packets.js';

// IPv4 192.168.0.1.54321 > 192.168.0.199.80: Flags [S], seq 4294967280, win 64240,
//   options [mss 1460,sackOK,TS val 123456 ecr 0,nop,wscale 7], length 0
// 0x0000:  4500 003c 1c46 4000 4006 0000 c0a8 0001  E..<.F@.@.......
// 0x0010:  c0a8 00c7 d431 0050 ffff fff0 0000 0000  .....1.P........
// 0x0020:  a002 faf0 0000 0000 0204 05b4 0402 080a  ................
// 0x0030:  0001 e240 0000 0000 0103 0307            ...@........
const IPV4_SYN = hex(`
  4500 003c 1c46 4000 4006 0000 c0a8 0001
  c0a8 00c7 d431 0050 ffff fff0 0000 0000
  a002 faf0 0000 0000 0204 05b4 0402 080a
  0001 e240 0000 0000 0103 0307`);

// IPv6 ::1.7000 > ::1.40000: hop-by-hop (PadN) + destination options (PadN) headers,
//   Flags [P.], seq 1000:1004, ack 2000, win 512, options [nop,nop,sack 1 {3000:3500}], length 4
// 0x0000:  6000 0000 0034 0040 0000 0000 0000 0000  `....4.@........
// 0x0010:  0000 0000 0000 0001 0000 0000 0000 0000  ................
// 0x0020:  0000 0000 0000 0001 3c00 0104 0000 0000  ........<.......
// 0x0030:  0600 0104 0000 0000 1b58 9c40 0000 03e8  .........X.@....
// 0x0040:  0000 07d0 8018 0200 0000 0000 0101 050a  ................
// 0x0050:  0000 0bb8 0000 0dac 6162 6364            ........abcd
const IPV6_EXT_SACK = hex(`
  6000 0000 0034 0040 0000 0000 0000 0000
  0000 0000 0000 0001 0000 0000 0000 0000
  0000 0000 0000 0001 3c00 0104 0000 0000
  0600 0104 0000 0000 1b58 9c40 0000 03e8
  0000 07d0 8018 0200 0000 0000 0101 050a
  0000 0bb8 0000 0dac 6162 6364`);

// IPv4 with 4 bytes of options (IHL 6, NOP NOP NOP EOL) 10.0.0.1.40000 > 10.0.0.2.7000:
//   Flags [.], seq 1:1449, ack 1, win 100, length 1448 — captured: 128 bytes only (pktmon)
// 0x0000:  4600 05d4 0000 4000 4006 0000 0a00 0001  F.....@.@.......
// 0x0010:  0a00 0002 0101 0100 9c40 1b58 0000 0001  .........@.X....
// 0x0020:  0000 0001 5010 0064 0000 0000 7878 7878  ....P..d....xxxx
//          ... (128 bytes captured of 1492)
const IPV4_OPTIONS_TRUNCATED = concat(
  hex(`
  4600 05d4 0000 4000 4006 0000 0a00 0001
  0a00 0002 0101 0100 9c40 1b58 0000 0001
  0000 0001 5010 0064 0000 0000`),
  new Uint8Array(128 - 44).fill(0x78),
);

// Ethernet 00:00:00:00:00:02 > 00:00:00:00:00:01, 802.1Q vlan 100, 802.1ad (QinQ) vlan 200 outer
// 0x0000:  0000 0000 0001 0000 0000 0002 88a8 00c8  ................
// 0x0010:  8100 0064 0800 + IPV4_SYN
const ETH_QINQ_HEADER = hex('0000 0000 0001 0000 0000 0002 88a8 00c8 8100 0064 0800');
const ETH_HEADER = hex('0000 0000 0001 0000 0000 0002 0800');
const ETH_HEADER_V6 = hex('0000 0000 0001 0000 0000 0002 86dd');
// Linux cooked v1: packet type 0 (host), ARPHRD 772, addr len 6, addr, protocol 0x0800
const SLL_HEADER = hex('0000 0304 0006 0000 0000 0000 0000 0800');
// Linux cooked v2: protocol 0x86dd, reserved, ifindex 1, ARPHRD 772, type 4, addr len 6, addr
const SLL2_HEADER_V6 = hex('86dd 0000 0000 0001 0304 0406 0000 0000 0000 0000');

interface Fixture {
  name: string;
  linkType: number;
  bytes: Uint8Array;
  wirelen?: number;
  check: (f: DecodedFrame, bytes: Uint8Array, at: number) => void;
}

function checkIpv4Syn(f: DecodedFrame, bytes: Uint8Array, at: number): void {
  assert.equal(f.ipVersion, 4);
  assert.deepEqual([...bytes.subarray(f.srcAddrAt, f.srcAddrAt + 4)], [192, 168, 0, 1]);
  assert.deepEqual([...bytes.subarray(f.dstAddrAt, f.dstAddrAt + 4)], [192, 168, 0, 199]);
  assert.equal(f.srcPort, 54321);
  assert.equal(f.dstPort, 80);
  assert.equal(f.seq, 4294967280);
  assert.equal(f.ack, 0);
  assert.equal(f.flags, 0x02);
  assert.equal(f.window, 64240);
  assert.equal(f.tcpHeaderLen, 40);
  assert.equal(f.payloadLen, 0);
  assert.equal(f.mss, 1460);
  assert.equal(f.sackPermitted, true);
  assert.equal(f.hasTimestamps, true);
  assert.equal(f.tsVal, 123456);
  assert.equal(f.tsEcr, 0);
  assert.equal(f.wscale, 7);
  assert.equal(f.sackCount, 0);
  assert.ok(f.ipAt >= at);
}

function checkIpv6Sack(f: DecodedFrame, bytes: Uint8Array): void {
  assert.equal(f.ipVersion, 6);
  assert.equal(f.addrLen, 16);
  assert.equal(bytes[f.srcAddrAt + 15], 1);
  assert.equal(f.srcPort, 7000);
  assert.equal(f.dstPort, 40000);
  assert.equal(f.seq, 1000);
  assert.equal(f.ack, 2000);
  assert.equal(f.flags, 0x18);
  assert.equal(f.ipPayloadLen, 36, 'payload length minus two 8-byte extension headers');
  assert.equal(f.payloadLen, 4);
  assert.equal(f.payloadCaptured, 4);
  assert.equal(String.fromCharCode(...bytes.subarray(f.payloadAt, f.payloadAt + 4)), 'abcd');
  assert.equal(f.sackCount, 1);
  assert.equal(f.sackLeft[0], 3000);
  assert.equal(f.sackRight[0], 3500);
  assert.equal(f.mss, -1);
}

/** BSD loopback header: family in either byte order. */
function nullHeader(family: number, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, family, littleEndian);
  return out;
}

const fixtures: Fixture[] = [
  { name: 'Ethernet IPv4 SYN with every option', linkType: 1, bytes: concat(ETH_HEADER, IPV4_SYN), check: checkIpv4Syn },
  { name: 'Ethernet QinQ (802.1ad + 802.1Q)', linkType: 1, bytes: concat(ETH_QINQ_HEADER, IPV4_SYN), check: checkIpv4Syn },
  { name: 'Ethernet IPv6 extension headers + SACK', linkType: 1, bytes: concat(ETH_HEADER_V6, IPV6_EXT_SACK), check: checkIpv6Sack },
  { name: 'Linux SLL', linkType: 113, bytes: concat(SLL_HEADER, IPV4_SYN), check: checkIpv4Syn },
  { name: 'Linux SLL2 IPv6', linkType: 276, bytes: concat(SLL2_HEADER_V6, IPV6_EXT_SACK), check: checkIpv6Sack },
  { name: 'NULL, family 2 little-endian', linkType: 0, bytes: concat(nullHeader(2, true), IPV4_SYN), check: checkIpv4Syn },
  { name: 'NULL, family 2 big-endian', linkType: 0, bytes: concat(nullHeader(2, false), IPV4_SYN), check: checkIpv4Syn },
  ...[24, 28, 30].flatMap((family) =>
    [true, false].map((le) => ({
      name: `NULL, IPv6 family ${family} ${le ? 'little' : 'big'}-endian`,
      linkType: 0,
      bytes: concat(nullHeader(family, le), IPV6_EXT_SACK),
      check: checkIpv6Sack,
    })),
  ),
  { name: 'LOOP (network order)', linkType: 108, bytes: concat(nullHeader(2, false), IPV4_SYN), check: checkIpv4Syn },
  { name: 'RAW 101 IPv4', linkType: 101, bytes: IPV4_SYN, check: checkIpv4Syn },
  { name: 'RAW 101 IPv6', linkType: 101, bytes: IPV6_EXT_SACK, check: checkIpv6Sack },
  { name: 'DLT_RAW 12', linkType: 12, bytes: IPV4_SYN, check: checkIpv4Syn },
  { name: 'DLT_RAW 14', linkType: 14, bytes: IPV6_EXT_SACK, check: checkIpv6Sack },
  { name: 'LINKTYPE_IPV4 228', linkType: 228, bytes: IPV4_SYN, check: checkIpv4Syn },
  { name: 'LINKTYPE_IPV6 229', linkType: 229, bytes: IPV6_EXT_SACK, check: checkIpv6Sack },
  {
    name: 'IPv4 options, cut to 128 bytes: payload length from the IP header',
    linkType: 101,
    bytes: IPV4_OPTIONS_TRUNCATED,
    wirelen: 1492,
    check: (f) => {
      assert.equal(f.tcpAt - f.ipAt, 24);
      assert.equal(f.payloadLen, 1448);
      assert.equal(f.payloadCaptured, 128 - 44);
      assert.equal(f.window, 100);
    },
  },
];

for (const shared of [false, true]) {
  for (const fx of fixtures) {
    test(`decode ${fx.name}${shared ? ' (inside a shared buffer)' : ''}`, () => {
      const at = shared ? 37 : 0;
      const buffer = shared ? concat(new Uint8Array(37).fill(0xee), fx.bytes, new Uint8Array(50).fill(0xee)) : fx.bytes.slice();
      const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      const out = new DecodedFrame();
      const r = decodeFrame(fx.linkType, view, at, fx.bytes.length, fx.wirelen ?? fx.bytes.length, out);
      assert.equal(reasonName(r), 'tcp');
      fx.check(out, buffer, at);
    });
  }
}

test('every field is overwritten: options of one frame never leak into the next', () => {
  const out = new DecodedFrame();
  const syn = concat(ETH_HEADER, IPV4_SYN);
  decodeFrame(1, new DataView(syn.buffer), 0, syn.length, syn.length, out);
  assert.equal(out.mss, 1460);
  decodeFrame(1, new DataView(concat(ETH_HEADER_V6, IPV6_EXT_SACK).buffer), 0, 14 + IPV6_EXT_SACK.length, 100, out);
  assert.equal(out.mss, -1);
  assert.equal(out.wscale, -1);
  assert.equal(out.hasTimestamps, false);
  assert.equal(out.sackPermitted, false);
  decodeFrame(1, new DataView(syn.buffer), 0, syn.length, syn.length, out);
  assert.equal(out.sackCount, 0);
});

/** A copy of `base` with bytes changed at (offset → value). */
function patched(base: Uint8Array, changes: Record<number, number>): Uint8Array {
  const out = base.slice();
  for (const [k, v] of Object.entries(changes)) out[Number(k)] = v;
  return out;
}

const skips: { name: string; linkType: number; bytes: Uint8Array; reason: string }[] = [
  { name: 'Ethernet header cut at 10 bytes', linkType: 1, bytes: ETH_HEADER.subarray(0, 10), reason: 'truncated-link-header' },
  { name: 'VLAN tag cut', linkType: 1, bytes: ETH_QINQ_HEADER.subarray(0, 16), reason: 'truncated-link-header' },
  { name: 'SLL cut', linkType: 113, bytes: SLL_HEADER.subarray(0, 12), reason: 'truncated-link-header' },
  { name: 'SLL2 cut', linkType: 276, bytes: SLL2_HEADER_V6.subarray(0, 12), reason: 'truncated-link-header' },
  { name: 'NULL cut', linkType: 0, bytes: hex('02'), reason: 'truncated-link-header' },
  { name: 'IPv4 header cut', linkType: 101, bytes: IPV4_SYN.subarray(0, 16), reason: 'truncated-ip-header' },
  { name: 'IPv6 header cut', linkType: 229, bytes: IPV6_EXT_SACK.subarray(0, 30), reason: 'truncated-ip-header' },
  { name: 'IPv6 extension header cut', linkType: 229, bytes: IPV6_EXT_SACK.subarray(0, 44), reason: 'truncated-ipv6-extension-header' },
  { name: 'TCP header cut in its options', linkType: 101, bytes: IPV4_SYN.subarray(0, 50), reason: 'truncated-tcp-header' },
  { name: 'IP version 5', linkType: 228, bytes: patched(IPV4_SYN, { 0: 0x55 }), reason: 'malformed-ip-version' },
  { name: 'RAW with version 7', linkType: 101, bytes: patched(IPV4_SYN, { 0: 0x75 }), reason: 'malformed-ip-version' },
  { name: 'IPv4 IHL 4', linkType: 101, bytes: patched(IPV4_SYN, { 0: 0x44 }), reason: 'malformed-ipv4-header-length' },
  { name: 'IPv4 total length below its header', linkType: 101, bytes: patched(IPV4_SYN, { 2: 0, 3: 16 }), reason: 'malformed-ip-total-length' },
  { name: 'TCP data offset 4', linkType: 101, bytes: patched(IPV4_SYN, { 32: 0x42 }), reason: 'malformed-tcp-data-offset' },
  { name: 'TCP data offset past the IP payload', linkType: 101, bytes: patched(IPV4_SYN, { 32: 0xf2 }), reason: 'malformed-tcp-data-offset' },
  { name: 'IPv6 extension longer than the payload', linkType: 229, bytes: patched(IPV6_EXT_SACK, { 41: 0x20 }), reason: 'malformed-ipv6-extension-header' },
  { name: 'ARP over Ethernet', linkType: 1, bytes: concat(hex('ffff ffff ffff 0000 0000 0002 0806'), new Uint8Array(28)), reason: 'not-ip' },
  { name: 'NULL family 7', linkType: 0, bytes: concat(nullHeader(7, true), IPV4_SYN), reason: 'not-ip' },
  { name: 'UDP', linkType: 101, bytes: patched(IPV4_SYN, { 9: 17 }), reason: 'not-tcp' },
  { name: 'IPv6 no next header', linkType: 229, bytes: patched(IPV6_EXT_SACK, { 48: 59 }), reason: 'not-tcp' },
  { name: 'IPv4 more-fragments', linkType: 101, bytes: patched(IPV4_SYN, { 6: 0x20 }), reason: 'ip-fragment' },
  { name: 'IPv4 fragment offset', linkType: 101, bytes: patched(IPV4_SYN, { 7: 0x10 }), reason: 'ip-fragment' },
  {
    name: 'IPv6 fragment header with an offset',
    linkType: 229,
    bytes: concat(patched(IPV6_EXT_SACK.subarray(0, 40), { 5: 0x10, 6: 44 }), hex('0600 0100 0000 0001'), new Uint8Array(8)),
    reason: 'ip-fragment',
  },
  { name: 'token ring', linkType: 6, bytes: IPV4_SYN, reason: 'unsupported-link-type' },
];

for (const s of skips) {
  test(`skip with a reason: ${s.name} → ${s.reason}`, () => {
    const out = new DecodedFrame();
    const r = decodeFrame(s.linkType, new DataView(s.bytes.buffer, s.bytes.byteOffset, s.bytes.byteLength), 0, s.bytes.length, s.bytes.length, out);
    assert.notEqual(r, DECODED_TCP);
    assert.equal(reasonName(r), s.reason);
  });
}

test('an atomic IPv6 fragment (offset 0, no more fragments) is decoded as a whole packet', () => {
  // IPv6 header (payload 8 + 20), fragment header nh=6 offset 0 M=0, TCP header
  const tcp = IPV4_SYN.subarray(20, 40).slice();
  tcp[12] = 0x50; // data offset 5: no options
  const bytes = concat(patched(IPV6_EXT_SACK.subarray(0, 40), { 5: 28, 6: 44 }), hex('0600 0000 0000 0001'), tcp);
  const out = new DecodedFrame();
  const r = decodeFrame(229, new DataView(bytes.buffer), 0, bytes.length, bytes.length, out);
  assert.equal(reasonName(r), 'tcp');
  assert.equal(out.seq, 4294967280);
});

test('an IPv4 super-frame with total length 0 takes its length from the wire length', () => {
  const bytes = patched(IPV4_SYN.subarray(0, 40), { 2: 0, 3: 0, 32: 0x50 });
  const out = new DecodedFrame();
  const r = decodeFrame(101, new DataView(bytes.buffer), 0, 40, 40 + 100000, out);
  assert.equal(reasonName(r), 'tcp');
  assert.equal(out.lengthFromWire, true);
  assert.equal(out.payloadLen, 100000);
});

test('an IPv6 BIG TCP super-frame (payload length 0) takes its length from the wire length', () => {
  const tcp = IPV4_SYN.subarray(20, 40).slice();
  tcp[12] = 0x50;
  const bytes = concat(patched(IPV6_EXT_SACK.subarray(0, 40), { 4: 0, 5: 0, 6: 6 }), tcp);
  const out = new DecodedFrame();
  const r = decodeFrame(229, new DataView(bytes.buffer), 0, bytes.length, 40 + 20 + 80000, out);
  assert.equal(reasonName(r), 'tcp');
  assert.equal(out.lengthFromWire, true);
  assert.equal(out.payloadLen, 80000);
});
