import { Type, type Static } from 'typebox';
import { NsString } from './common.js';
import type { SessionHost } from '../../core/session-row.js';
import { HOST_NAME_MAX } from '../../core/host-name.js';

export const HostParams = Type.Object({
  id: Type.Integer({ minimum: 1, description: 'session id' }),
  // the rule itself is core/host-name.ts (checked in the handler, with its message)
  host: Type.String({ minLength: 1, maxLength: HOST_NAME_MAX, description: 'the host, as its service names itself (ACKSCOPE_STORE_HOST)' }),
});

export const HostClockErrorBody = Type.Object(
  {
    clockErrorNs: Type.Union([Type.String({ pattern: '^[0-9]+$' }), Type.Integer({ minimum: 0 })], {
      description:
        "the error this host's clock may have against true time, ns (e.g. chrony's root dispersion + delay/2): a stage decided across two hosts by less than both errors summed (plus the session's clockUncertaintyNs) is uncertain",
    }),
  },
  { additionalProperties: false },
);

export const SessionHostApi = Type.Object({
  host: Type.String(),
  clockErrorNs: Type.Union([NsString, Type.Null()], { description: 'what the host claims; null: it stated nothing, counted as 0' }),
  frames: Type.Integer({ description: 'frames it captured into the session' }),
  completions: Type.Integer({ description: 'completions its senders posted to the session' }),
  capture: Type.Optional(
    Type.Object(
      {
        state: Type.String(),
        failureReason: Type.Union([Type.String(), Type.Null()]),
        interface: Type.String(),
        filter: Type.Union([Type.String(), Type.Null()]),
      },
      { description: "ClickHouse store, live sessions: this host's own capture of the session (several hosts may capture one session)" },
    ),
  ),
});
export type SessionHostApiT = Static<typeof SessionHostApi>;

export function sessionHostToApi(h: SessionHost): SessionHostApiT {
  return {
    host: h.host,
    clockErrorNs: h.clockErrorNs === null ? null : h.clockErrorNs.toString(),
    frames: h.frames,
    completions: h.completions,
    ...(h.capture ? { capture: h.capture } : {}),
  };
}
