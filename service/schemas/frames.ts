import { Type, type Static } from 'typebox';
import { NsString } from './common.js';
import type { FlowRow, FrameRow } from '../../db/frames.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const FlowSide = Type.Object({
  addr: Type.String(),
  port: Type.Integer(),
  isn: Nullable(Type.Integer({ description: 'raw sequence number that offset 0 follows (offset 0 is isn + 1)' })),
  synSeen: Type.Boolean({ description: 'false: offsets count from the first sequence number seen' }),
  mss: Nullable(Type.Integer()),
  wscale: Nullable(Type.Integer()),
  bytes: Type.Integer({ description: 'highest first-transmission end offset sent by this side' }),
});

export const Flow = Type.Object(
  {
    id: Type.Integer(),
    ipVersion: Type.Integer(),
    a: FlowSide,
    b: FlowSide,
    sackPermitted: Type.Boolean(),
    firstNs: NsString,
    lastNs: NsString,
    frames: Type.Integer(),
    retransmits: Type.Integer(),
    closed: Type.Boolean(),
  },
  { $id: 'Flow', description: 'a TCP connection: side a sent the SYN (or was seen first)' },
);
export type FlowT = Static<typeof Flow>;

export const Frame = Type.Object(
  {
    frameNo: Type.Integer({ description: 'the packet number in the capture (as Wireshark numbers it)' }),
    flowId: Type.Integer(),
    dir: Type.Integer({ description: '0: a → b, 1: b → a' }),
    tsNs: NsString,
    caplen: Type.Integer(),
    wirelen: Type.Integer(),
    flags: Type.String({ description: 'TCP flags, e.g. "SA", "PA", "FA", "R"' }),
    seqRaw: Type.Integer(),
    ackRaw: Type.Integer(),
    seqOff: Type.Integer({ description: 'stream offset of the first payload byte' }),
    payloadLen: Type.Integer({ description: 'from the IP header, not the captured length' }),
    ackOff: Nullable(Type.Integer()),
    window: Type.Integer({ description: 'scaled when the scale is known' }),
    retransmit: Type.Boolean(),
    sentMax: Type.Integer(),
    ackedMax: Nullable(Type.Integer()),
    sentAdvanced: Type.Boolean(),
    ackAdvanced: Type.Boolean(),
    sackCount: Type.Integer(),
  },
  { $id: 'Frame' },
);
export type FrameT = Static<typeof Frame>;

export function flowToApi(r: FlowRow): FlowT {
  return {
    id: r.id,
    ipVersion: r.ip_version,
    a: {
      addr: r.a_addr,
      port: r.a_port,
      isn: r.a_isn,
      synSeen: r.a_syn_seen === 1,
      mss: r.a_mss,
      wscale: r.a_wscale,
      bytes: r.a_bytes,
    },
    b: {
      addr: r.b_addr,
      port: r.b_port,
      isn: r.b_isn,
      synSeen: r.b_syn_seen === 1,
      mss: r.b_mss,
      wscale: r.b_wscale,
      bytes: r.b_bytes,
    },
    sackPermitted: r.sack_permitted === 1,
    firstNs: r.first_ns.toString(),
    lastNs: r.last_ns.toString(),
    frames: r.frames,
    retransmits: r.retransmits,
    closed: r.closed === 1,
  };
}

const FLAG_LETTERS: [number, string][] = [
  [0x02, 'S'],
  [0x01, 'F'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, 'A'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'C'],
];

export function flagText(flags: number): string {
  return FLAG_LETTERS.filter(([bit]) => (flags & bit) !== 0)
    .map(([, letter]) => letter)
    .join('');
}

export function frameToApi(r: FrameRow): FrameT {
  return {
    frameNo: r.frame_no,
    flowId: r.flow_id,
    dir: r.dir,
    tsNs: r.ts_ns.toString(),
    caplen: r.caplen,
    wirelen: r.wirelen,
    flags: flagText(r.tcp_flags),
    seqRaw: r.seq_raw,
    ackRaw: r.ack_raw,
    seqOff: r.seq_off,
    payloadLen: r.payload_len,
    ackOff: r.ack_off,
    window: r.window,
    retransmit: r.retransmit === 1,
    sentMax: r.sent_max,
    ackedMax: r.acked_max,
    sentAdvanced: r.sent_advanced === 1,
    ackAdvanced: r.ack_advanced === 1,
    sackCount: r.sack_count,
  };
}
