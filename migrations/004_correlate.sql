-- Correlation (issue 5). Results are computed on demand and cached in the service
-- process (db/correlations.ts says why), so no result table: only the two reads the
-- correlation needs that 001/002's indexes do not serve. Both are partial or on a small
-- table, so they cost the frame import next to nothing.

-- Retransmitted ranges of one flow direction, read once per correlation: without this
-- partial index that read would scan every frame of the flow. Retransmissions are
-- rare, so the index stays small and cheap to keep.
CREATE INDEX frames_retransmits ON frames (flow_id, dir, seq_off) WHERE retransmit = 1;

-- SACK blocks of one flow direction in time order ("first block covering byte X before
-- the cumulative ACK" walks them from the last byte's wire time and stops at the ACK).
CREATE INDEX sacks_by_time ON sacks (flow_id, dir, ts_ns);
