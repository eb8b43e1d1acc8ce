-- Each host's claimed clock error, per session (issue 17: many hosts, one view).
--
-- A stage is decided by comparing a completion's time (the sender's host clock) with
-- frame times (the capture host's clock). When the two are different hosts their clocks
-- disagree by up to the sum of what each claims (NTP's or PTP's own estimate, stated by
-- the user): correlate/host-clocks.ts adds them to the session's clock_uncertainty_ns for
-- such a stage. A host that stated nothing has no row here and counts 0 (docs/scale-out.md).
--
-- On SQLite every row of a session comes from one host (the service's
-- ACKSCOPE_STORE_HOST), so nothing is ever decided across hosts here; the table keeps the
-- same API as the ClickHouse store's session_hosts (migrations/clickhouse/002).
CREATE TABLE session_hosts (
  session_id     INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  host           TEXT NOT NULL,
  clock_error_ns INTEGER NOT NULL CHECK (clock_error_ns >= 0),
  updated_ns     INTEGER NOT NULL,
  PRIMARY KEY (session_id, host)
) WITHOUT ROWID;
