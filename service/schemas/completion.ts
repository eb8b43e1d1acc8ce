import { Type, type Static } from 'typebox';
import { NsString } from './common.js';

/** The completion record's API shapes; the record itself (type, validation) is core/completion.ts. */

const Flow = Type.Object({
  srcAddr: Type.String({ description: "sender's address as seen on the capture host" }),
  srcPort: Type.Integer({ minimum: 0, maximum: 65535 }),
  dstAddr: Type.String(),
  dstPort: Type.Integer({ minimum: 0, maximum: 65535 }),
});

const TcpInfo = Type.Object({
  bytesSent: Type.Optional(Type.Integer()),
  bytesAcked: Type.Optional(Type.Integer()),
  notsentBytes: Type.Optional(Type.Integer()),
  unacked: Type.Optional(Type.Integer()),
  bytesRetrans: Type.Optional(Type.Integer()),
  rttUs: Type.Optional(Type.Integer()),
});

/** A stored completion as the API returns it (ns as decimal strings). */
export const Completion = Type.Object(
  {
    id: Type.Integer({ description: 'row id; the list is ordered by it' }),
    flow: Flow,
    writeId: Type.Integer(),
    offsetStart: Type.Integer(),
    offsetEnd: Type.Integer({ description: 'exclusive; the end of the submitted range (see bytesReported)' }),
    submittedNs: NsString,
    completedNs: NsString,
    bytesReported: Type.Integer({
      description:
        'what the call reported it transferred; fewer than offsetEnd − offsetStart is a partial completion: its stage is decided on [offsetStart, offsetStart + bytesReported), the bytes it accepted, while offsetStart/offsetEnd keep the submitted range',
    }),
    api: Type.String(),
    buffers: Type.Integer(),
    status: Type.String(),
    writeReturned: Type.Optional(Type.Integer()),
    immediate: Type.Optional(Type.String()),
    writableLength: Type.Optional(Type.Integer()),
    tcpInfo: Type.Optional(TcpInfo),
    tcpInfoFrom: Type.Optional(
      Type.Integer({ description: 'tcpInfo is the reading taken at the completion of this writeId (same burst, shared)' }),
    ),
    extra: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'Completion', description: 'one send call (docs/completions.md)' },
);
export type CompletionT = Static<typeof Completion>;

export const CompletionIngestReply = Type.Object({
  received: Type.Integer({ description: 'records in the request' }),
  stored: Type.Integer({ description: 'records newly stored' }),
  duplicates: Type.Integer({ description: 'records identical to one already stored (flow and writeId), not stored again' }),
});

export const CompletionListQuery = Type.Object({
  srcAddr: Type.Optional(Type.String()),
  srcPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  dstAddr: Type.Optional(Type.String()),
  dstPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  api: Type.Optional(Type.String()),
  status: Type.Optional(Type.String()),
  fromNs: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'only completions with completedNs ≥ this' })),
  toNs: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'only completions with completedNs < this' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 1000 })),
  cursor: Type.Optional(Type.String({ description: 'nextCursor of the previous page' })),
});
export type CompletionListQueryT = Static<typeof CompletionListQuery>;
