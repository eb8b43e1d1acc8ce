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
