-- Import speed (issue 3): the correlation's two look-ups move out of `frames` into two
-- narrow tables holding only the frames that advanced a running maximum.
--
-- Why: the partial indexes frames_first_sent / frames_first_ack are keyed by
-- (flow_id, dir, ...), so every batch of frames inserted into them lands at one position
-- per flow direction: ~900 places per batch for a capture of 449 interleaved connections.
-- Each commit rewrote those index pages (measured: 1M frames, 449 flows, 3.8-4.1 CPU-s of
-- which 1.5 s system time on WAL writes, against 1.8 CPU-s without the two indexes).
-- A table of its own can be filled on the writer's schedule instead: the file import
-- holds the rows back and writes each (flow, dir) as one sorted run (capture/advances.ts),
-- the live capture writes them with every flush as before.
--
-- Within one (flow, dir) sent_max grows strictly over the rows with sent_advanced = 1,
-- and acked_max over the rows with ack_advanced = 1 (capture/flow/tracker.ts), so the
-- maximum is a key. WITHOUT ROWID: the key is the table, and each look-up reads the
-- frame's time and offset from the same b-tree entry (no second look-up in frames).
-- No frame id: no look-up needs one, and every byte less is less to write per import.
-- frames keeps its columns sent_max, acked_max, sent_advanced, ack_advanced (API rows).

CREATE TABLE sent_advances (
  flow_id    INTEGER NOT NULL,
  dir        INTEGER NOT NULL,
  sent_max   INTEGER NOT NULL,   -- frames.sent_max of a frame with sent_advanced = 1
  ts_ns      INTEGER NOT NULL,
  seq_off    INTEGER NOT NULL,
  PRIMARY KEY (flow_id, dir, sent_max)
) WITHOUT ROWID;

CREATE TABLE ack_advances (
  flow_id    INTEGER NOT NULL,
  dir        INTEGER NOT NULL,
  acked_max  INTEGER NOT NULL,   -- frames.acked_max (= ack_off) of a frame with ack_advanced = 1
  ts_ns      INTEGER NOT NULL,
  PRIMARY KEY (flow_id, dir, acked_max)
) WITHOUT ROWID;

-- OR IGNORE: rows written by other tools with a repeated maximum keep the earliest frame,
-- the one the old `ORDER BY sent_max LIMIT 1` look-up would most likely have returned.
INSERT OR IGNORE INTO sent_advances
  SELECT flow_id, dir, sent_max, ts_ns, seq_off FROM frames WHERE sent_advanced = 1
  ORDER BY flow_id, dir, sent_max, id;
INSERT OR IGNORE INTO ack_advances
  SELECT flow_id, dir, acked_max, ts_ns FROM frames WHERE ack_advanced = 1 AND acked_max IS NOT NULL
  ORDER BY flow_id, dir, acked_max, id;

DROP INDEX frames_first_sent;
DROP INDEX frames_first_ack;

-- No foreign key (its check would cost a flows look-up per inserted row): the rows go with
-- their flow, whether it is deleted directly (a failed import) or by the cascade from sessions.
CREATE TRIGGER flows_delete_advances AFTER DELETE ON flows
BEGIN
  DELETE FROM sent_advances WHERE flow_id = old.id;
  DELETE FROM ack_advances WHERE flow_id = old.id;
END;
