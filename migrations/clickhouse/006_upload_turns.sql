-- ackscope's ClickHouse store, version 6. Never edit once applied: add a new numbered file.
--
-- One upload of a session's completions at a time, across services (clickhouse/upload-turns.ts):
-- the idempotency check reads the stored records before the upload's insert, so two
-- services storing the same records at the same instant would both find none and both
-- insert them. An upload takes the session's turn by writing a row here, and keeps it
-- only if no other unreleased, unexpired turn is there; it releases it with a second row
-- of the same tag.
CREATE TABLE IF NOT EXISTS upload_turns (
  session_id UInt64,
  tag        UInt64,
  host       String,
  released   UInt8,
  at_ns      Int64
) ENGINE = MergeTree ORDER BY (session_id, tag);
