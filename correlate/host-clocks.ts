/**
 * How far apart two clocks may be when a stage is decided across hosts (issue 17: many
 * hosts, one view; docs/scale-out.md, "Each host's clock"). Pure.
 *
 * A stage is decided by comparing a completion's time, read on the sender's host clock,
 * with frame times, stamped on the capturing host's clock. On one host both are the
 * same CLOCK_REALTIME and only the session's own `clockUncertaintyNs` applies (as
 * before hosts were kept). When the completion came from one host and the deciding
 * frame was captured by another, each clock may be off true time by what its host
 * claims (e.g. NTP's root dispersion plus half the root delay), in either direction, so
 * the two may disagree by up to the sum of both claims: that sum is added.
 *
 * The deciding frame's host is its flow's: one host's capture of a connection is one
 * flow (two hosts capturing the same connection give two flows), and a completion's
 * frames and ACKs are all read from the flow it was matched to.
 *
 * A host that stated nothing counts 0: the session's `clockUncertaintyNs` stays the
 * catch-all for what nobody measured, so a session that states no host gives the same
 * stages as before, and a cross-host record still says `crossHost` so nobody mistakes it
 * for a same-host one.
 */

/** The clock error a record's stage was judged with. */
export interface ClockErrorApplied {
  /** The session's clockUncertaintyNs, plus both hosts' claimed errors when they differ. */
  clockErrorNs: number;
  /** The completion's host and the deciding frames' host differ. */
  crossHost: boolean;
}

/**
 * The clock error between a completion and the frames that decide its stage. `null`
 * hosts (a store that keeps none: on SQLite every row is the service's host) are the
 * same host. `claimed`: each host's stated error, ns; a host missing from it stated none.
 */
export function clockErrorBetween(
  sessionUncertaintyNs: number,
  completionHost: string | null,
  captureHost: string | null,
  claimed: ReadonlyMap<string, number>,
): ClockErrorApplied {
  if (completionHost === null || captureHost === null || completionHost === captureHost) {
    return { clockErrorNs: sessionUncertaintyNs, crossHost: false };
  }
  return {
    clockErrorNs: sessionUncertaintyNs + (claimed.get(completionHost) ?? 0) + (claimed.get(captureHost) ?? 0),
    crossHost: true,
  };
}

/** A record's clock fields on one host with no session uncertainty (tests build records from it, as from NO_KERNEL_WITNESS). */
export const ONE_HOST_CLOCK = { clockErrorNs: 0, crossHost: false, completionHost: null, captureHost: null } as const;
