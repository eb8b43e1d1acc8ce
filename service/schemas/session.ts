import { Type, type Static } from 'typebox';
import { NsString } from './common.js';
import { SessionHostApi } from './hosts.js';
import type { SessionRow } from '../../db/sessions.js';

export const SessionCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    kind: Type.Union([Type.Literal('live'), Type.Literal('import')]),
    interface: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'live only: interface to capture on' })),
    filter: Type.Optional(Type.String({ maxLength: 4096, description: 'live only: BPF capture filter' })),
    snaplen: Type.Optional(Type.Integer({ minimum: 64, maximum: 262144 })),
    bufferSize: Type.Optional(Type.Integer({ minimum: 65536, maximum: 1 << 30, description: 'kernel capture buffer, bytes' })),
    immediate: Type.Optional(
      Type.Boolean({ description: 'wake per packet; slows the sender up to ~50 µs on veth (docs/design-notes.md), so off by default' }),
    ),
    clockUncertaintyNs: Type.Optional(
      Type.Union([Type.String({ pattern: '^[0-9]+$' }), Type.Integer({ minimum: 0 })], {
        description: 'clock error a sender on another host claims; stages decided by less are uncertain',
      }),
    ),
    nearMarginNs: Type.Optional(
      Type.Union([Type.String({ pattern: '^[0-9]+$' }), Type.Integer({ minimum: 0 })], {
        description: 'deciding gaps below this are flagged as near a stage boundary (default 5000)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SessionCreateT = Static<typeof SessionCreate>;

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const Session = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    kind: Type.String(),
    state: Type.Union([Type.Literal('created'), Type.Literal('capturing'), Type.Literal('stopped'), Type.Literal('failed')]),
    failureReason: Nullable(Type.String()),
    interface: Nullable(Type.String()),
    filter: Nullable(Type.String()),
    snaplen: Nullable(Type.Integer()),
    bufferSize: Nullable(Type.Integer()),
    immediate: Type.Boolean(),
    clockUncertaintyNs: NsString,
    nearMarginNs: NsString,
    createdNs: NsString,
    updatedNs: NsString,
    startedNs: Nullable(NsString),
    stoppedNs: Nullable(NsString),
    createdAt: Type.String({ description: 'ISO time of creation, for people' }),
    linkType: Nullable(Type.Integer()),
    counts: Type.Object({
      frames: Type.Integer({ description: 'every packet read from the interface or file' }),
      tcp: Type.Integer(),
      skipped: Type.Object({
        truncated: Type.Integer(),
        malformed: Type.Integer(),
        notIp: Type.Integer(),
        notTcp: Type.Integer(),
        other: Type.Integer(),
      }),
      skipReasons: Type.Record(Type.String(), Type.Integer()),
    }),
    drops: Type.Object({
      received: Nullable(Type.Integer()),
      dropped: Nullable(Type.Integer({ description: 'libpcap ps_drop: kernel buffer full' })),
      ifDropped: Nullable(Type.Integer({ description: 'libpcap ps_ifdrop: dropped by the interface' })),
    }),
    captureFile: Nullable(Type.String()),
    sourceFile: Nullable(Type.String()),
    hosts: Type.Optional(
      Type.Array(SessionHostApi, {
        description: 'GET /sessions/:id only: the hosts that stated a clock error, captured frames or posted completions (GET /sessions/:id/hosts)',
      }),
    ),
  },
  { $id: 'Session' },
);
export type SessionT = Static<typeof Session>;

const str = (v: bigint | null) => (v === null ? null : v.toString());

export function sessionToApi(row: SessionRow): SessionT {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    state: row.state,
    failureReason: row.failure_reason,
    interface: row.interface,
    filter: row.filter,
    snaplen: row.snaplen,
    bufferSize: row.buffer_size,
    immediate: row.immediate === 1,
    clockUncertaintyNs: row.clock_uncertainty_ns.toString(),
    nearMarginNs: row.near_margin_ns.toString(),
    createdNs: row.created_ns.toString(),
    updatedNs: row.updated_ns.toString(),
    startedNs: str(row.started_ns),
    stoppedNs: str(row.stopped_ns),
    createdAt: new Date(Number(row.created_ns / 1_000_000n)).toISOString(),
    linkType: row.link_type,
    counts: {
      frames: row.frames_total,
      tcp: row.frames_tcp,
      skipped: {
        truncated: row.skipped_truncated,
        malformed: row.skipped_malformed,
        notIp: row.skipped_not_ip,
        notTcp: row.skipped_not_tcp,
        other: row.skipped_other,
      },
      skipReasons: row.skip_reasons ? (JSON.parse(row.skip_reasons) as Record<string, number>) : {},
    },
    drops: { received: row.pcap_received, dropped: row.pcap_dropped, ifDropped: row.pcap_if_dropped },
    captureFile: row.capture_file,
    sourceFile: row.source_file,
  };
}
