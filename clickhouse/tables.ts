/**
 * The ClickHouse store's tables and their columns, in the order of
 * migrations/clickhouse/*.sql (a test compares this list with system.columns of a
 * migrated server). The RowBinary writer encodes rows by these types, and sql.ts takes
 * table and column names from here only: the fixed allow-list of identifiers.
 *
 * Every table carries session_id (ClickHouse has no foreign keys or cascades: a
 * session's rows are found, counted and dropped by it), and frames, flows, completions
 * and sessions carry the host the row came from (issue 17: many hosts, one view), as
 * kernel witnesses and trace statements do since migration 003.
 */

export type IntegerType = 'UInt8' | 'UInt16' | 'UInt32' | 'UInt64' | 'Int8' | 'Int16' | 'Int32' | 'Int64';
export type ScalarType = IntegerType | 'String';
export type ColumnType = ScalarType | `Nullable(${ScalarType})`;

export interface Column {
  name: string;
  type: ColumnType;
}

export interface TableSpec {
  name: string;
  columns: readonly Column[];
  /** Distributed's sharding key on a cluster: rows one correlation joins stay on one shard. */
  shardKey: string;
}

const c = (name: string, type: ColumnType): Column => ({ name, type });
const BY_SESSION = 'intHash64(session_id)';
/** Flow-scoped rows of a session spread over the shards, each flow's rows together (the joins are per flow). */
const BY_FLOW = 'cityHash64(session_id, flow_id)';

export const TABLES = {
  sessions: {
    name: 'sessions',
    shardKey: BY_SESSION,
    columns: [
      c('session_id', 'UInt64'), c('host', 'String'), c('name', 'String'), c('kind', 'String'),
      c('interface', 'Nullable(String)'), c('filter', 'Nullable(String)'), c('snaplen', 'Nullable(Int64)'),
      c('buffer_size', 'Nullable(Int64)'), c('immediate', 'UInt8'), c('state', 'String'),
      c('failure_reason', 'Nullable(String)'), c('clock_uncertainty_ns', 'Int64'), c('near_margin_ns', 'Int64'),
      c('created_ns', 'Int64'), c('updated_ns', 'Int64'), c('started_ns', 'Nullable(Int64)'),
      c('stopped_ns', 'Nullable(Int64)'), c('link_type', 'Nullable(Int64)'), c('frames_total', 'Int64'),
      c('frames_tcp', 'Int64'), c('skipped_truncated', 'Int64'), c('skipped_malformed', 'Int64'),
      c('skipped_not_ip', 'Int64'), c('skipped_not_tcp', 'Int64'), c('skipped_other', 'Int64'),
      c('skip_reasons', 'Nullable(String)'), c('pcap_received', 'Nullable(Int64)'), c('pcap_dropped', 'Nullable(Int64)'),
      c('pcap_if_dropped', 'Nullable(Int64)'), c('capture_file', 'Nullable(String)'), c('source_file', 'Nullable(String)'),
    ],
  },
  flows: {
    name: 'flows',
    shardKey: BY_FLOW,
    columns: [
      c('session_id', 'UInt64'), c('flow_id', 'UInt64'), c('host', 'String'), c('ip_version', 'UInt8'),
      c('a_addr', 'String'), c('a_port', 'UInt16'), c('b_addr', 'String'), c('b_port', 'UInt16'),
      c('a_isn', 'Nullable(Int64)'), c('b_isn', 'Nullable(Int64)'), c('a_syn_seen', 'UInt8'), c('b_syn_seen', 'UInt8'),
      c('a_mss', 'Nullable(Int64)'), c('b_mss', 'Nullable(Int64)'), c('a_wscale', 'Nullable(Int64)'),
      c('b_wscale', 'Nullable(Int64)'), c('sack_permitted', 'UInt8'), c('first_ns', 'Int64'), c('last_ns', 'Int64'),
      c('frames', 'Int64'), c('a_bytes', 'Int64'), c('b_bytes', 'Int64'), c('retransmits', 'Int64'), c('closed', 'UInt8'),
      // 004: one row per change of the flow, readers take the highest version (frames read when written)
      c('version', 'UInt64'),
    ],
  },
  frames: {
    name: 'frames',
    shardKey: BY_FLOW,
    columns: [
      c('session_id', 'UInt64'), c('frame_no', 'UInt64'), c('flow_id', 'UInt64'), c('host', 'String'),
      c('dir', 'UInt8'), c('ts_ns', 'Int64'), c('caplen', 'UInt32'), c('wirelen', 'UInt32'), c('tcp_flags', 'UInt16'),
      c('seq_raw', 'UInt32'), c('ack_raw', 'UInt32'), c('seq_off', 'Int64'), c('payload_len', 'UInt32'),
      c('ack_off', 'Nullable(Int64)'), c('window', 'Int64'), c('retransmit', 'UInt8'), c('sent_max', 'Int64'),
      c('acked_max', 'Nullable(Int64)'), c('sent_advanced', 'UInt8'), c('ack_advanced', 'UInt8'),
      c('sack_count', 'UInt16'), c('file_offset', 'Nullable(Int64)'),
    ],
  },
  sent_advances: {
    name: 'sent_advances',
    shardKey: BY_FLOW,
    columns: [
      c('session_id', 'UInt64'), c('flow_id', 'UInt64'), c('dir', 'UInt8'), c('sent_max', 'Int64'),
      c('ts_ns', 'Int64'), c('seq_off', 'Int64'),
    ],
  },
  ack_advances: {
    name: 'ack_advances',
    shardKey: BY_FLOW,
    columns: [c('session_id', 'UInt64'), c('flow_id', 'UInt64'), c('dir', 'UInt8'), c('acked_max', 'Int64'), c('ts_ns', 'Int64')],
  },
  sacks: {
    name: 'sacks',
    shardKey: BY_FLOW,
    columns: [
      c('session_id', 'UInt64'), c('flow_id', 'UInt64'), c('dir', 'UInt8'), c('ts_ns', 'Int64'),
      c('left_off', 'Int64'), c('right_off', 'Int64'), c('frame_no', 'UInt64'),
    ],
  },
  tags: {
    name: 'tags',
    shardKey: BY_FLOW,
    columns: [
      c('session_id', 'UInt64'), c('flow_id', 'UInt64'), c('dir', 'UInt8'), c('stream_off', 'Int64'),
      c('write_id', 'Nullable(Int64)'), c('claimed_off', 'Nullable(Int64)'), c('claimed_len', 'Nullable(Int64)'),
      c('frame_no', 'UInt64'), c('ts_ns', 'Int64'),
    ],
  },
  retransmissions: {
    name: 'retransmissions',
    shardKey: BY_FLOW,
    columns: [
      c('session_id', 'UInt64'), c('flow_id', 'UInt64'), c('dir', 'UInt8'), c('start_off', 'Int64'),
      c('end_off', 'Int64'), c('ts_ns', 'Int64'), c('frame_no', 'UInt64'),
    ],
  },
  completions: {
    name: 'completions',
    shardKey: BY_SESSION,
    columns: [
      c('session_id', 'UInt64'), c('completion_id', 'UInt64'), c('host', 'String'), c('src_addr', 'String'),
      c('src_port', 'UInt16'), c('dst_addr', 'String'), c('dst_port', 'UInt16'), c('write_id', 'Int64'),
      c('offset_start', 'Int64'), c('offset_end', 'Int64'), c('submitted_ns', 'Int64'), c('completed_ns', 'Int64'),
      c('bytes_reported', 'Int64'), c('api', 'String'), c('buffers', 'Int64'), c('status', 'String'),
      c('write_returned', 'Nullable(Int64)'), c('immediate', 'Nullable(String)'), c('writable_length', 'Nullable(Int64)'),
      c('tcp_bytes_sent', 'Nullable(Int64)'), c('tcp_bytes_acked', 'Nullable(Int64)'),
      c('tcp_notsent_bytes', 'Nullable(Int64)'), c('tcp_unacked', 'Nullable(Int64)'),
      c('tcp_bytes_retrans', 'Nullable(Int64)'), c('tcp_rtt_us', 'Nullable(Int64)'), c('extra', 'Nullable(String)'),
      c('tcp_info_from', 'Nullable(Int64)'),
    ],
  },
  kernel_witness: {
    name: 'kernel_witness',
    shardKey: BY_SESSION,
    columns: [
      c('session_id', 'UInt64'), c('completion_id', 'UInt64'), c('byte_off', 'Nullable(Int64)'),
      c('qdisc_in_ns', 'Nullable(Int64)'), c('qdisc_out_ns', 'Nullable(Int64)'), c('driver_ns', 'Nullable(Int64)'),
      c('ack_arrived_ns', 'Nullable(Int64)'), c('ack_processed_ns', 'Nullable(Int64)'), c('retransmitted', 'UInt8'),
      // migrations/clickhouse/003: the host that wrote the row; the newest stored_ns of a completion is its witness
      c('host', 'String'), c('stored_ns', 'Int64'),
    ],
  },
  session_traces: {
    name: 'session_traces',
    shardKey: BY_SESSION,
    columns: [
      c('session_id', 'UInt64'), c('target', 'String'), c('lost_events', 'Int64'), c('calls', 'Int64'),
      c('uncovered', 'Int64'), c('moments_without_call', 'Int64'), c('missing_json', 'Nullable(String)'),
      c('exit_code', 'Nullable(Int64)'),
      // migrations/clickhouse/003: as kernel_witness (the newest statement of a session is read)
      c('host', 'String'), c('stored_ns', 'Int64'),
    ],
  },
  /** Each host's claimed clock error in a session (migrations/clickhouse/002; newest updated_ns wins). */
  session_hosts: {
    name: 'session_hosts',
    shardKey: BY_SESSION,
    columns: [c('session_id', 'UInt64'), c('host', 'String'), c('clock_error_ns', 'Int64'), c('updated_ns', 'Int64')],
  },
  /** Claims on ids (clickhouse/id-claims.ts): session_id 0 for session ids, a session's own for its completion ids (counter ''), its live captures' frame numbers and flow ids (counter 'frames', 'flows'). */
  id_claims: {
    name: 'id_claims',
    shardKey: BY_SESSION,
    columns: [
      c('session_id', 'UInt64'), c('first_id', 'UInt64'), c('last_id', 'UInt64'), c('host', 'String'),
      c('claim', 'UInt64'), c('claimed_ns', 'Int64'), c('counter', 'String'),
    ],
  },
  /** Each host's live capture of a session (migrations/clickhouse/005; clickhouse/live-captures.ts): newest stored_ns per host. */
  live_captures: {
    name: 'live_captures',
    shardKey: BY_SESSION,
    columns: [
      c('session_id', 'UInt64'), c('host', 'String'), c('state', 'String'), c('failure_reason', 'Nullable(String)'),
      c('interface', 'String'), c('filter', 'Nullable(String)'), c('started_ns', 'Nullable(Int64)'), c('stopped_ns', 'Nullable(Int64)'),
      c('link_type', 'Nullable(Int64)'), c('frames_total', 'Int64'), c('frames_tcp', 'Int64'), c('skipped_truncated', 'Int64'),
      c('skipped_malformed', 'Int64'), c('skipped_not_ip', 'Int64'), c('skipped_not_tcp', 'Int64'), c('skipped_other', 'Int64'),
      c('skip_reasons', 'Nullable(String)'), c('pcap_received', 'Nullable(Int64)'), c('pcap_dropped', 'Nullable(Int64)'),
      c('pcap_if_dropped', 'Nullable(Int64)'), c('stored_ns', 'Int64'),
    ],
  },
  /** Turns at a session's completion uploads across services (migrations/clickhouse/006; clickhouse/upload-turns.ts). */
  upload_turns: {
    name: 'upload_turns',
    shardKey: BY_SESSION,
    columns: [c('session_id', 'UInt64'), c('tag', 'UInt64'), c('host', 'String'), c('released', 'UInt8'), c('at_ns', 'Int64')],
  },
} as const satisfies Record<string, TableSpec>;

export type TableName = keyof typeof TABLES;
export const TABLE_NAMES = Object.keys(TABLES) as TableName[];

/** The table recording applied migrations: one per server, never distributed. */
export const MIGRATIONS_TABLE = 'schema_migrations';
/** On a cluster each table above is `<name>_local` on every shard behind a Distributed `<name>`. */
export const LOCAL_SUFFIX = '_local';
