/**
 * A session as every store keeps it: SQLite's row (db/sessions.ts) and the ClickHouse
 * store's (clickhouse/correlation-reads.ts) have this one shape, so the rules read either.
 */
export type SessionKind = 'live' | 'import';
export type SessionState = 'created' | 'capturing' | 'stopped' | 'failed';

/** A session row as stored (integers that may exceed 2^53 come back as BigInt). */
export interface SessionRow {
  id: number;
  name: string;
  kind: SessionKind;
  interface: string | null;
  filter: string | null;
  snaplen: number | null;
  buffer_size: number | null;
  immediate: number;
  state: SessionState;
  failure_reason: string | null;
  clock_uncertainty_ns: bigint;
  near_margin_ns: bigint;
  created_ns: bigint;
  updated_ns: bigint;
  started_ns: bigint | null;
  stopped_ns: bigint | null;
  link_type: number | null;
  frames_total: number;
  frames_tcp: number;
  skipped_truncated: number;
  skipped_malformed: number;
  skipped_not_ip: number;
  skipped_not_tcp: number;
  skipped_other: number;
  skip_reasons: string | null;
  pcap_received: number | null;
  pcap_dropped: number | null;
  pcap_if_dropped: number | null;
  capture_file: string | null;
  source_file: string | null;
}

/**
 * A host of a session, as every store lists it (`GET /sessions/:id` → `hosts`): the
 * clock error it claims (null: it stated none, and counts as 0: docs/scale-out.md), and
 * the rows it wrote into the session (frames it captured, completions its senders posted).
 */
export interface SessionHost {
  host: string;
  clockErrorNs: bigint | null;
  frames: number;
  completions: number;
  /** A store shared by hosts, a live session: this host's own capture of it (several hosts may capture one session). */
  capture?: { state: string; failureReason: string | null; interface: string; filter: string | null };
}

/** What a new session is made of (the API's POST /sessions), on either store. */
export interface NewSession {
  name: string;
  kind: SessionKind;
  interface?: string | null;
  filter?: string | null;
  snaplen?: number | null;
  bufferSize?: number | null;
  immediate?: boolean;
  clockUncertaintyNs?: bigint;
  nearMarginNs?: bigint;
}

/** The counter columns of a session nothing was read into yet (a new session, a failed import undone). */
export const ZERO_COUNTER_COLUMNS = {
  link_type: null,
  frames_total: 0,
  frames_tcp: 0,
  skipped_truncated: 0,
  skipped_malformed: 0,
  skipped_not_ip: 0,
  skipped_not_tcp: 0,
  skipped_other: 0,
  skip_reasons: null,
} as const satisfies Partial<SessionRow>;

/** The capture columns of a capture not started yet (a new session; on ClickHouse, a host's new capture row). */
export const UNSTARTED_CAPTURE_COLUMNS = {
  state: 'created',
  failure_reason: null,
  started_ns: null,
  stopped_ns: null,
  ...ZERO_COUNTER_COLUMNS,
  pcap_received: null,
  pcap_dropped: null,
  pcap_if_dropped: null,
} as const satisfies Partial<SessionRow>;
