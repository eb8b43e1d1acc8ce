-- ackscope's ClickHouse store, version 1. Never edit once applied: add a new numbered file.
-- Applied by clickhouse/migrate.ts, recorded in schema_migrations on every server.
--
-- The tables and columns of the SQLite store (migrations/001-008), as column types that
-- keep every value SQLite holds (64-bit integers), with these differences:
--   * every table has session_id, and ids are named by what they identify (session_id,
--     flow_id, completion_id): ClickHouse has no foreign keys or cascades, so a session's
--     rows are found, counted and deleted by session_id, and each flow's by (session_id, flow_id);
--   * frames are keyed by frame_no; SQLite's frame id (session_id * 2^32 + frame_no, 002) is
--     derived, so sacks, tags and retransmissions keep frame_no, not the id;
--   * sessions, flows, frames and completions carry the host the row came from (issue 17);
--   * no completion_flows table: it is SQLite's idempotency key for posted completions.
-- ORDER BY is the correlation's look-up order: (session, flow, dir, end offset) for the
-- advance rows, time for SACK blocks. Types follow tables.ts (a test compares them).
-- On a cluster, clickhouse/migrate.ts creates each table as <name>_local on every shard
-- and a Distributed <name> over them (sharding key in tables.ts).

-- Sessions change state (created -> capturing -> stopped): the newest updated_ns wins.
CREATE TABLE IF NOT EXISTS sessions (
  session_id           UInt64,
  host                 String,
  name                 String,
  kind                 String,
  interface            Nullable(String),
  filter               Nullable(String),
  snaplen              Nullable(Int64),
  buffer_size          Nullable(Int64),
  immediate            UInt8,
  state                String,
  failure_reason       Nullable(String),
  clock_uncertainty_ns Int64,
  near_margin_ns       Int64,
  created_ns           Int64,
  updated_ns           Int64,
  started_ns           Nullable(Int64),
  stopped_ns           Nullable(Int64),
  link_type            Nullable(Int64),
  frames_total         Int64,
  frames_tcp           Int64,
  skipped_truncated    Int64,
  skipped_malformed    Int64,
  skipped_not_ip       Int64,
  skipped_not_tcp      Int64,
  skipped_other        Int64,
  skip_reasons         Nullable(String),
  pcap_received        Nullable(Int64),
  pcap_dropped         Nullable(Int64),
  pcap_if_dropped      Nullable(Int64),
  capture_file         Nullable(String),
  source_file          Nullable(String)
) ENGINE = ReplacingMergeTree(updated_ns) ORDER BY session_id;

CREATE TABLE IF NOT EXISTS flows (
  session_id     UInt64,
  flow_id        UInt64,
  host           String,
  ip_version     UInt8,
  a_addr         String,
  a_port         UInt16,
  b_addr         String,
  b_port         UInt16,
  a_isn          Nullable(Int64),
  b_isn          Nullable(Int64),
  a_syn_seen     UInt8,
  b_syn_seen     UInt8,
  a_mss          Nullable(Int64),
  b_mss          Nullable(Int64),
  a_wscale       Nullable(Int64),
  b_wscale       Nullable(Int64),
  sack_permitted UInt8,
  first_ns       Int64,
  last_ns        Int64,
  frames         Int64,
  a_bytes        Int64,
  b_bytes        Int64,
  retransmits    Int64,
  closed         UInt8
) ENGINE = MergeTree ORDER BY (session_id, flow_id);

CREATE TABLE IF NOT EXISTS frames (
  session_id    UInt64,
  frame_no      UInt64,
  flow_id       UInt64,
  host          String,
  dir           UInt8,
  ts_ns         Int64,
  caplen        UInt32,
  wirelen       UInt32,
  tcp_flags     UInt16,
  seq_raw       UInt32,
  ack_raw       UInt32,
  seq_off       Int64,
  payload_len   UInt32,
  ack_off       Nullable(Int64),
  window        Int64,
  retransmit    UInt8,
  sent_max      Int64,
  acked_max     Nullable(Int64),
  sent_advanced UInt8,
  ack_advanced  UInt8,
  sack_count    UInt16,
  file_offset   Nullable(Int64)
) ENGINE = MergeTree ORDER BY (session_id, frame_no);

-- "first frame of (flow, dir) whose sent_max > X": the bucketed join reads this order.
CREATE TABLE IF NOT EXISTS sent_advances (
  session_id UInt64,
  flow_id    UInt64,
  dir        UInt8,
  sent_max   Int64,
  ts_ns      Int64,
  seq_off    Int64
) ENGINE = MergeTree ORDER BY (session_id, flow_id, dir, sent_max);

CREATE TABLE IF NOT EXISTS ack_advances (
  session_id UInt64,
  flow_id    UInt64,
  dir        UInt8,
  acked_max  Int64,
  ts_ns      Int64
) ENGINE = MergeTree ORDER BY (session_id, flow_id, dir, acked_max);

CREATE TABLE IF NOT EXISTS sacks (
  session_id UInt64,
  flow_id    UInt64,
  dir        UInt8,
  ts_ns      Int64,
  left_off   Int64,
  right_off  Int64,
  frame_no   UInt64
) ENGINE = MergeTree ORDER BY (session_id, flow_id, dir, ts_ns);

CREATE TABLE IF NOT EXISTS tags (
  session_id  UInt64,
  flow_id     UInt64,
  dir         UInt8,
  stream_off  Int64,
  write_id    Nullable(Int64),
  claimed_off Nullable(Int64),
  claimed_len Nullable(Int64),
  frame_no    UInt64,
  ts_ns       Int64
) ENGINE = MergeTree ORDER BY (session_id, flow_id, dir, stream_off);

CREATE TABLE IF NOT EXISTS retransmissions (
  session_id UInt64,
  flow_id    UInt64,
  dir        UInt8,
  start_off  Int64,
  end_off    Int64,
  ts_ns      Int64,
  frame_no   UInt64
) ENGINE = MergeTree ORDER BY (session_id, flow_id, dir, start_off);

CREATE TABLE IF NOT EXISTS completions (
  session_id        UInt64,
  completion_id     UInt64,
  host              String,
  src_addr          String,
  src_port          UInt16,
  dst_addr          String,
  dst_port          UInt16,
  write_id          Int64,
  offset_start      Int64,
  offset_end        Int64,
  submitted_ns      Int64,
  completed_ns      Int64,
  bytes_reported    Int64,
  api               String,
  buffers           Int64,
  status            String,
  write_returned    Nullable(Int64),
  immediate         Nullable(String),
  writable_length   Nullable(Int64),
  tcp_bytes_sent    Nullable(Int64),
  tcp_bytes_acked   Nullable(Int64),
  tcp_notsent_bytes Nullable(Int64),
  tcp_unacked       Nullable(Int64),
  tcp_bytes_retrans Nullable(Int64),
  tcp_rtt_us        Nullable(Int64),
  extra             Nullable(String),
  tcp_info_from     Nullable(Int64)
) ENGINE = MergeTree ORDER BY (session_id, completion_id);

CREATE TABLE IF NOT EXISTS kernel_witness (
  session_id       UInt64,
  completion_id    UInt64,
  byte_off         Nullable(Int64),
  qdisc_in_ns      Nullable(Int64),
  qdisc_out_ns     Nullable(Int64),
  driver_ns        Nullable(Int64),
  ack_arrived_ns   Nullable(Int64),
  ack_processed_ns Nullable(Int64),
  retransmitted    UInt8
) ENGINE = MergeTree ORDER BY (session_id, completion_id);

CREATE TABLE IF NOT EXISTS session_traces (
  session_id           UInt64,
  target               String,
  lost_events          Int64,
  calls                Int64,
  uncovered            Int64,
  moments_without_call Int64,
  missing_json         Nullable(String),
  exit_code            Nullable(Int64)
) ENGINE = MergeTree ORDER BY session_id;
