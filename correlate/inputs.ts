/** What the correlation reads from a store, whichever store (times relative to the base). */
import type { KernelMoments } from './ladder.js';
import type { SessionRow } from '../core/session-row.js';

export interface FlowInfo {
  id: number;
  ipVersion: number;
  aAddr: string;
  aPort: number;
  bAddr: string;
  bPort: number;
  aSynSeen: boolean;
  bSynSeen: boolean;
  firstNs: number;
  lastNs: number;
  frames: number;
  retransmits: number;
  closed: boolean;
}

/** A completion as the correlation reads it (times relative to the base). */
export interface CompletionForCorrelation {
  id: number;
  srcAddr: string;
  srcPort: number;
  dstAddr: string;
  dstPort: number;
  writeId: number;
  offsetStart: number;
  offsetEnd: number;
  submittedNs: number;
  completedNs: number;
  bytesReported: number;
  api: string;
  status: string;
  buffers: number;
  tcpBytesSent: number | null;
  tcpBytesAcked: number | null;
  /** The kernel tracer's moments of the last byte, or null without a witness. */
  kernel: KernelMoments | null;
  /** The host whose sender posted it (ClickHouse keeps it per row); absent: the store keeps one host (SQLite). */
  host?: string;
}

/**
 * The hosts of a session, for the clock error of a stage decided across two
 * (correlate/host-clocks.ts): absent on a store that keeps one host (SQLite).
 */
export interface SessionHostClocks {
  /** Each flow's capturing host, by flow id. */
  flowHosts: ReadonlyMap<number, string>;
  /** What each host stated of its clock error, ns; a host missing stated none. */
  claimed: ReadonlyMap<string, number>;
}

/**
 * What a session's correlation depends on, as one string: the session row's settings and
 * drop counters, the highest frame number, the completions' count and highest id. Every
 * store computes its cached result's key with this one rule.
 */
export function correlationFingerprint(session: SessionRow, maxFrame: unknown, completionCount: unknown, maxCompletionId: unknown): string {
  return [
    session.updated_ns,
    session.state,
    session.clock_uncertainty_ns,
    session.near_margin_ns,
    session.stopped_ns,
    session.pcap_dropped,
    session.pcap_if_dropped,
    maxFrame,
    completionCount,
    maxCompletionId,
  ].join('/');
}
