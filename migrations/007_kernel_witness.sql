-- The kernel tracer's witness of a completion (tracer/): when the write's last byte
-- entered and left the qdisc, reached the driver, and when the ACK covering it arrived
-- and was processed; NULL where the tracer did not see the moment (never invented).
-- One row per completion, replaced when a later run of the join saw more moments.
CREATE TABLE kernel_witness (
  completion_id    INTEGER PRIMARY KEY REFERENCES completions (id) ON DELETE CASCADE,
  byte_off         INTEGER,
  qdisc_in_ns      INTEGER,
  qdisc_out_ns     INTEGER,
  driver_ns        INTEGER,
  ack_arrived_ns   INTEGER,
  ack_processed_ns INTEGER,
  retransmitted    INTEGER NOT NULL DEFAULT 0
);

-- What the tracer said about itself for a session: events it lost, calls it saw, sends it
-- could not cover (sendfile, splice, io_uring), moments it could not place.
CREATE TABLE session_traces (
  session_id           INTEGER PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
  target               TEXT    NOT NULL,
  lost_events          INTEGER NOT NULL DEFAULT 0,
  calls                INTEGER NOT NULL DEFAULT 0,
  uncovered            INTEGER NOT NULL DEFAULT 0,
  moments_without_call INTEGER NOT NULL DEFAULT 0,
  missing_json         TEXT,
  exit_code            INTEGER
);
