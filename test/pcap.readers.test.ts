/**
 * pcap and pcapng readers on files built byte by byte in the tests (both byte orders,
 * pushed whole and in tiny chunks), Windows capture quirks, refusals with byte offsets,
 * and the pcapng writer read back. The Windows fixtures also go through the HTTP import.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AutoCaptureReader } from '../capture/pcap/reader.js';
import { PacketCopyFilter } from '../capture/pcap/copies.js';
import { PcapngWriter } from '../capture/pcap/pcapng-writer.js';
import type { CaptureRecord } from '../capture/pcap/frame.js';
import { concat, hex, ipv4Tcp, pcapFile, PcapngBuilder } from './helpers/packets.js';
import { testApp } from './helpers/app.js';

interface Seen {
  linkType: number;
  tsNs: bigint;
  caplen: number;
  wirelen: number;
  data: number[];
  interfaceId: number;
  direction: number;
  packetId: bigint;
}

function readAll(file: Uint8Array, chunkSize = file.length): Seen[] {
  const reader = new AutoCaptureReader();
  const seen: Seen[] = [];
  const sink = (r: CaptureRecord) =>
    seen.push({
      linkType: r.linkType,
      tsNs: r.tsNs,
      caplen: r.caplen,
      wirelen: r.wirelen,
      data: [...r.bytes.subarray(r.at, r.at + r.caplen)],
      interfaceId: r.interfaceId,
      direction: r.direction,
      packetId: r.packetId,
    });
  for (let at = 0; at < file.length; at += chunkSize) reader.push(file.slice(at, at + chunkSize), sink);
  reader.end(sink);
  return seen;
}

const P1 = ipv4Tcp({ seq: 1, flags: 'S' });
const P2 = ipv4Tcp({ seq: 2, ack: 9, flags: 'PA', payload: new Uint8Array(7).fill(0x33) });

for (const le of [true, false]) {
  for (const ns of [false, true]) {
    test(`pcap ${ns ? 'ns' : 'µs'} ${le ? 'little' : 'big'}-endian: records, time, whole and in 3-byte chunks`, () => {
      const file = pcapFile({
        le,
        ns,
        linkType: 101,
        records: [
          { sec: 1_700_000_000, frac: ns ? 123_456_789 : 123_456, data: P1 },
          { sec: 1_700_000_001, frac: 5, data: P2, wirelen: 2000 },
        ],
      });
      for (const chunk of [file.length, 3]) {
        const seen = readAll(file, chunk);
        assert.equal(seen.length, 2);
        assert.equal(seen[0].tsNs, 1_700_000_000_000_000_000n + (ns ? 123_456_789n : 123_456_000n));
        assert.equal(seen[1].tsNs, 1_700_000_001_000_000_000n + (ns ? 5n : 5000n));
        assert.equal(seen[0].linkType, 101);
        assert.deepEqual(seen[1].data, [...P2]);
        assert.equal(seen[1].wirelen, 2000);
      }
    });
  }
}

/** Two sections of opposite byte order, as Windows tools write them. */
function windowsLikeFile(firstLe: boolean): Uint8Array {
  const a = new PcapngBuilder(firstLe);
  a.section()
    .iface(101) // no if_tsresol: microseconds (etl2pcapng)
    .iface(1, [{ code: 9, value: Uint8Array.of(9) }, { code: 14, value: a.u64Value(10n) }]) // ns, +10 s offset
    .epb(0, 1_700_000_000_000_001n, P1, [
      { code: 1, value: new TextEncoder().encode('PID=4242 pktmon comment') },
      { code: 2, value: a.u32Value(2) },
    ])
    .block(9, (b) => b.u32(1).u32(2)) // Windows' non-packet block
    .block(5, (b) => b.u32(0).u32(0).u32(0)) // interface statistics
    .block(0x40000bad, (b) => b.u32(32473).u32(7)) // custom, not to be copied
    .block(0x1234, (b) => b.u32(0)) // unknown
    .epb(1, 1_700_000_000_123_456_789n, concat(new Uint8Array(14).fill(0), P2).map((x, i) => (i === 12 ? 8 : x)));
  const b = new PcapngBuilder(!firstLe);
  b.section()
    .iface(101, [{ code: 9, value: Uint8Array.of(0x80 | 20) }], 64) // 2^-20 s units, snaplen 64
    .spb(P2)
    .obsoletePacket(0, 3n * 2n ** 20n + 2n ** 19n, P1) // 3.5 s
    .epb(0, 2n ** 20n, P1, [{ code: 2, value: b.u32Value(1) }]);
  return concat(a.bytes(), b.bytes());
}

for (const firstLe of [true, false]) {
  test(`pcapng, sections of both byte orders (first ${firstLe ? 'little' : 'big'}-endian), whole and in 5-byte chunks`, () => {
    const file = windowsLikeFile(firstLe);
    for (const chunk of [file.length, 5]) {
      const seen = readAll(file, chunk);
      assert.equal(seen.length, 5, 'statistics, type 9, custom and unknown blocks are not packets');
      assert.equal(seen[0].tsNs, 1_700_000_000_000_001_000n, 'no if_tsresol: microseconds');
      assert.equal(seen[0].direction, 2);
      assert.equal(seen[1].tsNs, 1_700_000_000_123_456_789n + 10_000_000_000n, 'if_tsresol 9 plus if_tsoffset');
      assert.equal(seen[1].linkType, 1);
      assert.equal(seen[1].interfaceId, 1);
      // second section: its own interfaces, base-2 resolution, snaplen-cut simple packet
      assert.equal(seen[2].caplen, Math.min(P2.length, 64));
      assert.equal(seen[2].wirelen, P2.length);
      assert.equal(seen[2].tsNs, seen[1].tsNs, 'a simple packet has no time: the previous one is kept');
      assert.equal(seen[3].tsNs, 3_500_000_000n);
      assert.equal(seen[4].tsNs, 1_000_000_000n);
      assert.equal(seen[4].direction, 1);
    }
  });
}

function refusal(file: Uint8Array): { message: string; byteOffset: number } {
  try {
    readAll(file);
  } catch (err) {
    const e = err as { code: string; message: string; details: { byteOffset: number } };
    assert.equal(e.code, 'ACKSCOPE_ERR_CAPTURE_FILE');
    return { message: e.message, byteOffset: e.details.byteOffset };
  }
  assert.fail('expected a refusal');
}

test('refusals name the byte offset and both numbers that disagree', () => {
  const good = new PcapngBuilder(true).section().iface(101).epb(0, 1n, P1).bytes();
  const shb = 28;
  const idb = 20;
  // block length not a multiple of 4
  const odd = good.slice();
  new DataView(odd.buffer).setUint32(shb + 4, 21, true);
  assert.deepEqual(refusal(odd), { message: `capture file, byte ${shb + 4}: block length 21 is not a multiple of 4`, byteOffset: shb + 4 });
  // trailer differs from the header
  const trailer = good.slice();
  new DataView(trailer.buffer).setUint32(shb + idb - 4, 24, true);
  assert.match(refusal(trailer).message, new RegExp(`byte ${shb + idb - 4}: block trailer length 24 differs from its header length 20`));
  // a packet naming an interface the section does not have
  const noIface = new PcapngBuilder(true).section().epb(3, 1n, P1).bytes();
  assert.match(refusal(noIface).message, /byte 36: packet names interface 3 but the section has 0 interface\(s\)/);
  // captured length past the block
  const long = good.slice();
  new DataView(long.buffer).setUint32(shb + idb + 20, 4000, true);
  assert.match(refusal(long).message, /packet data needs 4000 bytes but only \d+ remain in the block/);
  // pcap record larger than any snaplen
  const pcap = pcapFile({ le: true, ns: false, linkType: 1, records: [{ sec: 1, frac: 0, data: P1 }] });
  new DataView(pcap.buffer).setUint32(24 + 8, 300000, true);
  assert.match(refusal(pcap).message, /byte 24: record captured length 300000 is larger than the largest accepted 262144/);
  // a pcapng file that does not start with a section header
  assert.match(refusal(new PcapngBuilder(true).section().bytes().subarray(0, 11)).message, /too short|no complete section header/);
  // µs fraction out of range
  const frac = pcapFile({ le: false, ns: false, linkType: 1, records: [{ sec: 1, frac: 1_000_000, data: P1 }] });
  assert.match(refusal(frac).message, /byte 28: record timestamp fraction 1000000 is not below 1000000/);
});

test('pktmon copies of one packet: one kept (first inbound, last outbound), the others counted', () => {
  const kept: { id: bigint; ts: bigint }[] = [];
  let dropped = 0;
  const filter = new PacketCopyFilter((r) => kept.push({ id: r.packetId, ts: r.tsNs }), () => dropped++);
  const b = new PcapngBuilder(true).section().iface(101);
  const opts = (id: bigint, dir: number) => [
    { code: 5, value: b.u64Value(id) },
    { code: 2, value: b.u32Value(dir) },
  ];
  b.epb(0, 1n, P1, opts(7n, 2)).epb(0, 2n, P1, opts(7n, 2)).epb(0, 3n, P1, opts(7n, 2)); // outbound, 3 components
  b.epb(0, 4n, P2, opts(8n, 1)).epb(0, 5n, P2, opts(8n, 1)); // inbound, 2 components
  b.epb(0, 6n, P2); // no packet id
  const reader = new AutoCaptureReader();
  reader.push(b.bytes(), (r) => filter.push(r));
  reader.end(() => {});
  filter.end();
  assert.deepEqual(kept, [
    { id: 7n, ts: 3_000n },
    { id: 8n, ts: 4_000n },
    { id: -1n, ts: 6_000n },
  ]);
  assert.equal(dropped, 3);
});

test('Windows pcapng through the API: copies dropped and counted, 128-byte packets keep their IP payload length', async () => {
  const t = await testApp();
  try {
    const b = new PcapngBuilder(false).section().iface(101);
    const big = ipv4Tcp({ seq: 1001, ack: 1, flags: 'PA', payload: new Uint8Array(88), claimedPayload: 1400 });
    const syn = ipv4Tcp({ seq: 1000, flags: 'S' });
    const id = (n: bigint) => ({ code: 5, value: b.u64Value(n) });
    const out = { code: 2, value: b.u32Value(2) };
    b.epb(0, 10n, syn, [id(1n), out]).epb(0, 11n, syn, [id(1n), out]);
    b.epb(0, 20n, big, [id(2n), out, { code: 1, value: new TextEncoder().encode('PktGroupId 2, Component 11') }], 1440);
    b.epb(0, 21n, big, [id(2n), out], 1440);
    b.block(9, (x) => x.u32(0));
    const session = (await t.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'win', kind: 'import' } })).json();
    const res = await t.app.inject({ method: 'POST', url: `/sessions/${session.id}/import`, payload: Buffer.from(b.bytes()) });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.import.format, 'pcapng');
    assert.equal(body.import.duplicateCopies, 2);
    assert.equal(body.session.counts.frames, 4, 'every packet block read counts, as Wireshark shows them');
    assert.equal(body.session.counts.tcp, 2);
    assert.equal(body.session.counts.skipReasons['duplicate-packet-copy'], 2);
    const frames = (await t.app.inject({ url: `/sessions/${session.id}/frames` })).json().items;
    assert.equal(frames.length, 2);
    assert.equal(frames[0].tsNs, '11000', 'outbound: the last copy, nearest the wire');
    assert.equal(frames[1].payloadLen, 1400);
    assert.equal(frames[1].caplen, big.length);
    assert.equal(frames[1].sentMax, 1400);
  } finally {
    await t.close();
  }
});

test('the pcapng writer’s file reads back: interfaces, ns times, direction, odd lengths', () => {
  const parts: Uint8Array[] = [];
  const w = new PcapngWriter((b) => parts.push(b.slice()));
  const lo = w.addInterface({ linkType: 1, name: 'lo', snaplen: 65535 });
  const raw = w.addInterface({ linkType: 101 });
  const frame = concat(new Uint8Array(14), P2);
  w.writePacket(lo, 1_764_061_234_123_456_789n, frame, 0, frame.length, frame.length + 5);
  w.writePacket(raw, 1_764_061_234_123_456_790n, concat(Uint8Array.of(9, 9, 9), P1), 3, P1.length, P1.length, {
    direction: 2,
    comment: 'hello',
  });
  w.close();
  const seen = readAll(concat(...parts), 7);
  assert.equal(seen.length, 2);
  assert.deepEqual(seen[0], {
    linkType: 1,
    tsNs: 1_764_061_234_123_456_789n,
    caplen: frame.length,
    wirelen: frame.length + 5,
    data: [...frame],
    interfaceId: 0,
    direction: 0,
    packetId: -1n,
  });
  assert.equal(seen[1].linkType, 101);
  assert.equal(seen[1].direction, 2);
  assert.deepEqual(seen[1].data, [...P1]);
});

test('pcapng nanosecond times are exact across the 64-bit range (no float rounding)', () => {
  const values = [0n, 1n, 999_999_999n, 1_000_000_000n, 1_764_061_234_123_456_789n, 2n ** 53n + 1n, 2n ** 63n + 12345n, 2n ** 64n - 1n];
  for (let i = 0; i < 200; i++) values.push(BigInt(i) * 92_233_720_368_547_758n + BigInt(i * 7919));
  const b = new PcapngBuilder(true).section().iface(101, [{ code: 9, value: Uint8Array.of(9) }]);
  for (const ts of values) b.epb(0, ts, P1);
  assert.deepEqual(
    readAll(b.bytes()).map((s) => s.tsNs),
    values,
  );
});

test('damaged files (seeded random byte flips, random chunking) are read or refused, never thrown otherwise', async () => {
  const { DecodedFrame, decodeFrame } = await import('../capture/decode/frame.js');
  let seed = 12345;
  const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const decoded = new DecodedFrame();
  const originals = [windowsLikeFile(true), windowsLikeFile(false), pcapFile({ le: true, ns: true, linkType: 1, records: [{ sec: 1, frac: 2, data: concat(new Uint8Array(14), P2) }, { sec: 1, frac: 3, data: P1 }] })];
  let read = 0;
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    const file = originals[i % originals.length].slice();
    for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) file[Math.floor(random() * file.length)] = Math.floor(random() * 256);
    const reader = new AutoCaptureReader();
    const sink = (r: CaptureRecord) => {
      decodeFrame(r.linkType, r.view, r.at, r.caplen, r.wirelen, decoded); // must not throw
    };
    try {
      for (let at = 0; at < file.length; ) {
        const n = 1 + Math.floor(random() * 64);
        reader.push(file.slice(at, at + n), sink);
        at += n;
      }
      reader.end(sink);
      read++;
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'ACKSCOPE_ERR_CAPTURE_FILE', String(err));
      refused++;
    }
  }
  assert.ok(read > 0 && refused > 0, `read ${read}, refused ${refused}`);
});

test('pcapng drop counts are read: statistics blocks (last per interface), epb_dropcount, the obsolete block\'s drops', () => {
  for (const le of [true, false]) {
    const b = new PcapngBuilder(le).section().iface(101).iface(101).iface(101);
    const u64 = (code: number, n: bigint) => ({ code, value: b.u64Value(n) });
    b.epb(0, 1n, P1).isb(0, 2n, [u64(5, 10n), u64(7, 4n)]).isb(0, 3n, [u64(4, 99n), u64(5, 30n), u64(7, 6n)]); // cumulative: the last one counts
    b.epb(1, 4n, P1, [u64(4, 3n)]).epb(1, 5n, P1, [u64(4, 2n)]); // lost between packets, no statistics block
    b.obsoletePacket(2, 6n, P1, 5).obsoletePacket(2, 7n, P1, 0xffff); // 0xffff: not known
    const reader = new AutoCaptureReader();
    reader.push(b.bytes(), () => {});
    reader.end(() => {});
    // interface 0: 30 by the interface, 6 by the OS; 1: 5 between packets; 2: 5
    assert.deepEqual(reader.drops, { osDropped: 6 + 5 + 5, ifDropped: 30 }, le ? 'little-endian' : 'big-endian');
  }
  const none = new AutoCaptureReader();
  none.push(pcapFile({ le: true, ns: false, linkType: 101, records: [{ sec: 1, frac: 0, data: P1 }] }), () => {});
  assert.equal(none.drops, null, 'a pcap file records no drops');
});

test('an Npcap-like pcapng whose statistics block says 500 drops: the session shows them and the correlation reasons with them', async () => {
  const t = await testApp();
  try {
    const eth = (ip: Uint8Array) => concat(hex('020000000002 020000000001 0800'), ip);
    const b = new PcapngBuilder(true).section().iface(1, [{ code: 9, value: Uint8Array.of(6) }]); // Ethernet, µs
    const us = (n: number) => 1_764_061_234_000_000n + BigInt(n);
    const c = { src: '192.168.1.10', dst: '192.168.1.20', sport: 50000, dport: 443 };
    const s = { src: c.dst, dst: c.src, sport: c.dport, dport: c.sport };
    b.epb(0, us(0), eth(ipv4Tcp({ ...c, seq: 999, flags: 'S' })));
    b.epb(0, us(10), eth(ipv4Tcp({ ...s, seq: 4999, ack: 1000, flags: 'SA' })));
    b.epb(0, us(20), eth(ipv4Tcp({ ...c, seq: 1000, ack: 5000, flags: 'A' })));
    b.epb(0, us(100), eth(ipv4Tcp({ ...c, seq: 1000, ack: 5000, flags: 'PA', payload: new Uint8Array(1000) })));
    b.epb(0, us(200), eth(ipv4Tcp({ ...s, seq: 5000, ack: 2000, flags: 'A' })));
    b.epb(0, us(300), eth(ipv4Tcp({ ...c, seq: 2000, ack: 5000, flags: 'PA', payload: new Uint8Array(1000) })));
    b.epb(0, us(400), eth(ipv4Tcp({ ...s, seq: 5000, ack: 3000, flags: 'A' })));
    b.isb(0, us(500), [
      { code: 2, value: b.u64Value(us(0)) }, // isb_starttime
      { code: 3, value: b.u64Value(us(500)) }, // isb_endtime
      { code: 4, value: b.u64Value(507n) }, // isb_ifrecv
      { code: 5, value: b.u64Value(500n) }, // isb_ifdrop
    ]);
    const session = (await t.app.inject({ method: 'POST', url: '/sessions', payload: { name: 'npcap', kind: 'import' } })).json();
    const res = await t.app.inject({ method: 'POST', url: `/sessions/${session.id}/import`, payload: Buffer.from(b.bytes()) });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().session.drops, { received: null, dropped: 0, ifDropped: 500 });

    const flow = { srcAddr: c.src, srcPort: c.sport, dstAddr: c.dst, dstPort: c.dport };
    const ns = (u: number) => (us(u) * 1000n).toString();
    const rec = (writeId: number, start: number, submittedUs: number, completedUs: number) => ({
      flow, writeId, offsetStart: start, offsetEnd: start + 1000, submittedNs: ns(submittedUs), completedNs: ns(completedUs),
      bytesReported: 1000, api: 'winsock:WSASend', buffers: 1, status: 'ok',
    });
    // write 0: its ACK was seen before it completed (acked whatever was lost, but only a window);
    // write 1: completed between its bytes leaving and the ACK seen at 400: with 500 packets
    // lost, an earlier ACK may have been among them
    const posted = await t.app.inject({ method: 'POST', url: `/sessions/${session.id}/completions`, payload: [rec(0, 0, 90, 250), rec(1, 1000, 290, 350)] });
    assert.equal(posted.statusCode, 200, posted.body);
    const items = (await t.app.inject({ url: `/sessions/${session.id}/correlations?sort=writeId` })).json().items;
    assert.deepEqual(items.map((r: { stage: string; reason: string | null }) => [r.stage, r.reason]), [['acked', null], ['unknown', 'kernel-drops']]);
    assert.equal(items[0].decidingWindow.doubt, 'kernel-drops');
    const summary = (await t.app.inject({ url: `/sessions/${session.id}/summary` })).json();
    assert.deepEqual(summary.capture.drops, { received: null, dropped: 0, ifDropped: 500 });
    assert.equal(summary.overall.decidedFromWindow, 1, 'the acked write counts as decided from a window');
  } finally {
    await t.close();
  }
});
