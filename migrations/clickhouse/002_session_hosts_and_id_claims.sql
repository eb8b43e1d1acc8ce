-- ackscope's ClickHouse store, version 2. Never edit once applied: add a new numbered file.
-- Two tables of issue 17's "many hosts, one view" (docs/scale-out.md).

-- Each host's claimed clock error in a session (SQLite's is migrations/009). A statement
-- is a new row; readers take each host's newest (argMax by updated_ns), merged or not.
CREATE TABLE IF NOT EXISTS session_hosts (
  session_id     UInt64,
  host           String,
  clock_error_ns Int64,
  updated_ns     Int64
) ENGINE = ReplacingMergeTree(updated_ns) ORDER BY (session_id, host);

-- Ids taken without collision across services (clickhouse/id-claims.ts): a service
-- writes a claim on the ids [first_id, last_id] it means to use, then reads the claims
-- overlapping them; it keeps the ids only when its claim is the only one there.
-- session_id 0 holds the claims on session ids; a session's own, on its completion ids.
-- Sharded by session_id, so every claim one counter's readers compare lies on one shard.
CREATE TABLE IF NOT EXISTS id_claims (
  session_id UInt64,
  first_id   UInt64,
  last_id    UInt64,
  host       String,
  claim      UInt64,
  claimed_ns Int64
) ENGINE = MergeTree ORDER BY (session_id, first_id);
