-- ackscope: foreign keys off
-- Two changes of issue 12 (items 8/9 and 5) in one migration: 007 was taken by the kernel
-- witness while this work ran. Part 1: retransmitted bytes as ranges. Part 2: ids never reused.

-- Retransmitted bytes as ranges (issue 12, items 8 and 9). A frame's retransmit flag says
-- that some of its payload was seen before; the bytes that were are not always all of
-- them: a segment overlapping the highest byte sent repeats only the part below it, and
-- a segment arriving after a later one (reordered) may fill a hole next to bytes seen
-- before (capture/flow/holes.ts). The correlation asked "was any byte of this write
-- retransmitted?" of [seq_off, seq_off + payload_len) and flagged writes none of whose
-- bytes went out twice. Here each retransmitting frame gets the span of its bytes seen
-- before. Rare rows (loss recovery only), so a table of their own costs the import
-- nothing per ordinary frame.

CREATE TABLE retransmissions (
  flow_id    INTEGER NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
  dir        INTEGER NOT NULL,
  start_off  INTEGER NOT NULL,   -- first byte of the frame seen before
  end_off    INTEGER NOT NULL,   -- one past the last byte of the frame seen before
  ts_ns      INTEGER NOT NULL,
  frame_id   INTEGER NOT NULL
);
CREATE INDEX retransmissions_by_flow ON retransmissions (flow_id, dir, start_off);

-- Frames stored before: their whole payload, as the flag meant then.
INSERT INTO retransmissions (flow_id, dir, start_off, end_off, ts_ns, frame_id)
  SELECT flow_id, dir, seq_off, seq_off + payload_len, ts_ns, id FROM frames
  WHERE retransmit = 1 AND payload_len > 0
  ORDER BY flow_id, dir, seq_off;

-- Read from retransmissions now; the partial index on frames has no reader left.
DROP INDEX frames_retransmits;

-- sent_advances (005) now also holds a row per hole filled: bytes below the running
-- maximum never seen before (a reordered segment), keyed by the end of the filled part,
-- with seq_off its start. First-transmission ranges of a direction never overlap, so the
-- key stays unique, and "the first row with sent_max > X" still answers "when did byte X
-- first leave" (or, with seq_off > X, "its bytes were never seen").

-- Part 2
-- Session and flow ids are never reused (issue 12, item 5). Without AUTOINCREMENT SQLite
-- hands out max(id) + 1, so deleting the newest session (or flow) gave its id to the
-- next one, and rows keyed by the id without a foreign key — frames (id = session_id ×
-- 2^32 + frame_no, 002), sent_advances / ack_advances (flow_id, 005) — written for the
-- old one after its delete (an import still running) turned up in the new one.
-- SQLite cannot add AUTOINCREMENT to a table: both are rebuilt the documented way
-- (https://sqlite.org/lang_altertable.html, "other kinds of table schema changes"):
-- with foreign keys off (the line above tells db/migrate.ts; it runs
-- PRAGMA foreign_key_check before committing), a new table, every row copied with its
-- id, the old one dropped, the new one renamed; then their indexes and triggers again.
-- Rows of other tables keep pointing at the same ids. db/frame-writer.ts also checks,
-- in each write transaction, that its session still exists, so no row is written for a
-- deleted session in the first place.
-- Frames and advance rows keep having no foreign key: its check would cost a look-up
-- per inserted row, and deleting a flow or session would search frames without an
-- index (002 and 005 say why); the triggers below delete them.

-- rows orphaned before: frames of sessions that no longer exist, advance rows of flows
-- that no longer exist (nothing else can be orphaned: sacks, tags, retransmissions,
-- completions have foreign keys)
DELETE FROM frames WHERE session_id NOT IN (SELECT id FROM sessions);
DELETE FROM sent_advances WHERE flow_id NOT IN (SELECT id FROM flows);
DELETE FROM ack_advances WHERE flow_id NOT IN (SELECT id FROM flows);

CREATE TABLE sessions_rebuilt (
  id                   INTEGER PRIMARY KEY AUTOINCREMENT,
  name                 TEXT    NOT NULL,
  kind                 TEXT    NOT NULL CHECK (kind IN ('live', 'import')),
  interface            TEXT,
  filter               TEXT,
  snaplen              INTEGER,
  buffer_size          INTEGER,
  immediate            INTEGER NOT NULL DEFAULT 0,
  state                TEXT    NOT NULL DEFAULT 'created'
                       CHECK (state IN ('created', 'capturing', 'stopped', 'failed')),
  failure_reason       TEXT,
  -- clock error a remote sender claims (ns); stages decided by less are 'uncertain'
  clock_uncertainty_ns INTEGER NOT NULL DEFAULT 0,
  -- deciding gaps below this margin are flagged as near a stage boundary
  near_margin_ns       INTEGER NOT NULL DEFAULT 5000,
  created_ns           INTEGER NOT NULL,
  updated_ns           INTEGER NOT NULL,
  started_ns           INTEGER,
  stopped_ns           INTEGER,
  -- what the capture saw, as a Wireshark user would count it
  link_type            INTEGER,
  frames_total         INTEGER NOT NULL DEFAULT 0,
  frames_tcp           INTEGER NOT NULL DEFAULT 0,
  skipped_truncated    INTEGER NOT NULL DEFAULT 0,
  skipped_malformed    INTEGER NOT NULL DEFAULT 0,
  skipped_not_ip       INTEGER NOT NULL DEFAULT 0,
  skipped_not_tcp      INTEGER NOT NULL DEFAULT 0,
  skipped_other        INTEGER NOT NULL DEFAULT 0,
  skip_reasons         TEXT,            -- JSON {reason: count} for detail
  pcap_received        INTEGER,         -- libpcap ps_recv
  pcap_dropped         INTEGER,         -- libpcap ps_drop (kernel buffer full)
  pcap_if_dropped      INTEGER,         -- libpcap ps_ifdrop
  capture_file         TEXT,            -- raw capture kept as pcapng, relative to the data folder
  source_file          TEXT             -- imported file's name
);
INSERT INTO sessions_rebuilt SELECT * FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_rebuilt RENAME TO sessions;
CREATE INDEX sessions_by_created ON sessions (created_ns DESC, id DESC);
CREATE TRIGGER sessions_delete_frames BEFORE DELETE ON sessions
BEGIN
  DELETE FROM frames WHERE id BETWEEN old.id * 4294967296 AND old.id * 4294967296 + 4294967295;
END;

CREATE TABLE flows_rebuilt (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  session_id    INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  ip_version    INTEGER NOT NULL,
  a_addr        TEXT    NOT NULL,
  a_port        INTEGER NOT NULL,
  b_addr        TEXT    NOT NULL,
  b_port        INTEGER NOT NULL,
  a_isn         INTEGER,               -- raw 32-bit sequence number offset 0 is relative to (minus 1)
  b_isn         INTEGER,
  a_syn_seen    INTEGER NOT NULL DEFAULT 0, -- 0: offsets relative to the first sequence number seen
  b_syn_seen    INTEGER NOT NULL DEFAULT 0,
  a_mss         INTEGER,
  b_mss         INTEGER,
  a_wscale      INTEGER,
  b_wscale      INTEGER,
  sack_permitted INTEGER NOT NULL DEFAULT 0,
  first_ns      INTEGER NOT NULL,
  last_ns       INTEGER NOT NULL,
  frames        INTEGER NOT NULL DEFAULT 0,
  a_bytes       INTEGER NOT NULL DEFAULT 0, -- highest first-transmission end offset, a -> b
  b_bytes       INTEGER NOT NULL DEFAULT 0,
  retransmits   INTEGER NOT NULL DEFAULT 0,
  closed        INTEGER NOT NULL DEFAULT 0  -- FIN or RST seen
);
INSERT INTO flows_rebuilt SELECT * FROM flows;
DROP TABLE flows;
ALTER TABLE flows_rebuilt RENAME TO flows;
CREATE INDEX flows_by_session ON flows (session_id, a_addr, a_port, b_addr, b_port);
CREATE TRIGGER flows_delete_advances AFTER DELETE ON flows
BEGIN
  DELETE FROM sent_advances WHERE flow_id = old.id;
  DELETE FROM ack_advances WHERE flow_id = old.id;
END;
