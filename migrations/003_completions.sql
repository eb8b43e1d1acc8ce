-- Completions (issue 4): listing a session's completions page by page in row order
-- (GET /sessions/:id/completions, cursor = last row id) is an index range, not a sort
-- of the whole session. Row ids of one session grow monotonically, so this index is
-- appended to, which is cheap beside the UNIQUE (flow, writeId) index of 001.
CREATE INDEX completions_by_session_row ON completions (session_id, id);
