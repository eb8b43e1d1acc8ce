-- Capture schema for import speed (DESIGN.md: index upkeep is the bottleneck).
--
-- frames.id is session_id * 2^32 + frame_no, so a session's frames are one rowid range:
-- frames_by_session goes, and rows are appended in rowid order. frames keeps only the two
-- partial indexes the correlation looks up. frames and sacks lose their foreign keys to
-- flows/frames: a foreign key's child look-up cannot use a partial index, so deleting a
-- session would scan the frame table once per flow and the sack table once per frame.
-- Deleting a session instead removes its frames by rowid range (trigger below) and its
-- sacks through flows (sacks_by_flow). Column names are 001's.

CREATE TABLE frames_v2 (
  id            INTEGER PRIMARY KEY,   -- session_id * 2^32 + frame_no
  session_id    INTEGER NOT NULL,
  frame_no      INTEGER NOT NULL,      -- 1-based number of the packet in the capture
  flow_id       INTEGER NOT NULL,
  dir           INTEGER NOT NULL,
  ts_ns         INTEGER NOT NULL,
  caplen        INTEGER NOT NULL,
  wirelen       INTEGER NOT NULL,
  tcp_flags     INTEGER NOT NULL,
  seq_raw       INTEGER NOT NULL,
  ack_raw       INTEGER NOT NULL,
  seq_off       INTEGER NOT NULL,
  payload_len   INTEGER NOT NULL,
  ack_off       INTEGER,
  window        INTEGER NOT NULL,
  retransmit    INTEGER NOT NULL DEFAULT 0,
  sent_max      INTEGER NOT NULL,
  acked_max     INTEGER,
  sent_advanced INTEGER NOT NULL DEFAULT 0,
  ack_advanced  INTEGER NOT NULL DEFAULT 0,
  sack_count    INTEGER NOT NULL DEFAULT 0,
  file_offset   INTEGER
);
INSERT INTO frames_v2
  SELECT session_id * 4294967296 + frame_no, session_id, frame_no, flow_id, dir, ts_ns, caplen, wirelen,
         tcp_flags, seq_raw, ack_raw, seq_off, payload_len, ack_off, window, retransmit, sent_max,
         acked_max, sent_advanced, ack_advanced, sack_count, file_offset
  FROM frames;

CREATE TABLE sacks_v2 (
  frame_id   INTEGER NOT NULL,         -- frames.id
  flow_id    INTEGER NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
  dir        INTEGER NOT NULL,
  ts_ns      INTEGER NOT NULL,
  left_off   INTEGER NOT NULL,
  right_off  INTEGER NOT NULL
);
INSERT INTO sacks_v2
  SELECT f.session_id * 4294967296 + f.frame_no, s.flow_id, s.dir, s.ts_ns, s.left_off, s.right_off
  FROM sacks s JOIN frames f ON f.id = s.frame_id;
UPDATE tags SET frame_id = (SELECT f.session_id * 4294967296 + f.frame_no FROM frames f WHERE f.id = tags.frame_id)
  WHERE EXISTS (SELECT 1 FROM frames f WHERE f.id = tags.frame_id);

DROP TABLE sacks;
DROP TABLE frames;
ALTER TABLE frames_v2 RENAME TO frames;
ALTER TABLE sacks_v2 RENAME TO sacks;

CREATE INDEX frames_first_sent ON frames (flow_id, dir, sent_max) WHERE sent_advanced = 1;
CREATE INDEX frames_first_ack ON frames (flow_id, dir, acked_max) WHERE ack_advanced = 1;
CREATE INDEX sacks_by_flow ON sacks (flow_id, dir, right_off);

CREATE TRIGGER sessions_delete_frames BEFORE DELETE ON sessions
BEGIN
  DELETE FROM frames WHERE id BETWEEN old.id * 4294967296 AND old.id * 4294967296 + 4294967295;
END;
