-- ackscope's ClickHouse store, version 5. Never edit once applied: add a new numbered file.
--
-- Live captures of several hosts into one session (docs/scale-out.md, "Many hosts, one
-- session"). Each host's capture of a session is its own row here, written by that host
-- alone (a new version per change: state, counters, libpcap's counters), so two hosts
-- capturing at once never overwrite each other's figures. Readers of a live session take
-- each host's newest row (argMax by stored_ns) and give the session the sum: capturing
-- while any host captures, its counters added up (clickhouse/live-captures.ts).
CREATE TABLE IF NOT EXISTS live_captures (
  session_id        UInt64,
  host              String,
  state             String,
  failure_reason    Nullable(String),
  interface         String,
  filter            Nullable(String),
  started_ns        Nullable(Int64),
  stopped_ns        Nullable(Int64),
  link_type         Nullable(Int64),
  frames_total      Int64,
  frames_tcp        Int64,
  skipped_truncated Int64,
  skipped_malformed Int64,
  skipped_not_ip    Int64,
  skipped_not_tcp   Int64,
  skipped_other     Int64,
  skip_reasons      Nullable(String),
  pcap_received     Nullable(Int64),
  pcap_dropped      Nullable(Int64),
  pcap_if_dropped   Nullable(Int64),
  stored_ns         Int64
) ENGINE = ReplacingMergeTree(stored_ns) ORDER BY (session_id, host);

-- A capture's frame numbers and flow ids are claimed in blocks (clickhouse/id-claims.ts)
-- under the session's own id, as its completion ids are: `counter` tells them apart
-- ('' for session and completion ids, as every claim written before this migration).
ALTER TABLE id_claims ADD COLUMN counter String;
