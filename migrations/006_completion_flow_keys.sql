-- Completions' idempotency key as integers (issue 4, ingest speed). 001 made the key
-- UNIQUE (session_id, src_addr TEXT, src_port, dst_addr TEXT, dst_port, write_id): every
-- insert compares and stores two address strings in that index. Here each session's
-- flows get a small integer (completion_flows) and the key becomes
-- (session_id, flow_key, write_id): CPU per stored row 3.35 → ~2.9 µs (figures in
-- db/completions.ts). src_addr/src_port/dst_addr/dst_port stay filled in completions
-- (the API, filters and the correlation read them).
-- SQLite cannot drop a table's UNIQUE constraint, so completions is rebuilt (row ids
-- kept); nothing references completions, so dropping the old table cascades nothing.

CREATE TABLE completion_flows (
  id         INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  src_addr   TEXT    NOT NULL,
  src_port   INTEGER NOT NULL,
  dst_addr   TEXT    NOT NULL,
  dst_port   INTEGER NOT NULL,
  UNIQUE (session_id, src_addr, src_port, dst_addr, dst_port)
);

INSERT INTO completion_flows (session_id, src_addr, src_port, dst_addr, dst_port)
  SELECT DISTINCT session_id, src_addr, src_port, dst_addr, dst_port FROM completions
   ORDER BY session_id, src_addr, src_port, dst_addr, dst_port;

-- 001's columns in 001's order, then flow_key and tcp_info_from. flow_key has no
-- REFERENCES clause: the foreign-key check would cost a look-up per inserted row;
-- db/completions.ts takes the key from completion_flows. A writer that names only 001's
-- columns leaves it NULL; see the last index.
CREATE TABLE completions_rebuilt (
  id               INTEGER PRIMARY KEY,
  session_id       INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  src_addr         TEXT    NOT NULL,
  src_port         INTEGER NOT NULL,
  dst_addr         TEXT    NOT NULL,
  dst_port         INTEGER NOT NULL,
  write_id         INTEGER NOT NULL,
  offset_start     INTEGER NOT NULL,
  offset_end       INTEGER NOT NULL,
  submitted_ns     INTEGER NOT NULL,
  completed_ns     INTEGER NOT NULL,
  bytes_reported   INTEGER NOT NULL,
  api              TEXT    NOT NULL,
  buffers          INTEGER NOT NULL DEFAULT 1,
  status           TEXT    NOT NULL,
  write_returned   INTEGER,
  immediate        TEXT,
  writable_length  INTEGER,
  tcp_bytes_sent   INTEGER,
  tcp_bytes_acked  INTEGER,
  tcp_notsent_bytes INTEGER,
  tcp_unacked      INTEGER,
  tcp_bytes_retrans INTEGER,
  tcp_rtt_us       INTEGER,
  extra            TEXT,
  flow_key         INTEGER,            -- completion_flows.id of (session_id, src/dst address and port); NULL: see below
  tcp_info_from    INTEGER,            -- tcp_* is the reading taken at this write_id's completion (shared, same burst)
  UNIQUE (session_id, flow_key, write_id)
);

INSERT INTO completions_rebuilt
  SELECT c.id, c.session_id, c.src_addr, c.src_port, c.dst_addr, c.dst_port, c.write_id, c.offset_start,
         c.offset_end, c.submitted_ns, c.completed_ns, c.bytes_reported, c.api, c.buffers, c.status,
         c.write_returned, c.immediate, c.writable_length, c.tcp_bytes_sent, c.tcp_bytes_acked,
         c.tcp_notsent_bytes, c.tcp_unacked, c.tcp_bytes_retrans, c.tcp_rtt_us, c.extra, f.id, NULL
    FROM completions c
    JOIN completion_flows f
      ON f.session_id = c.session_id AND f.src_addr = c.src_addr AND f.src_port = c.src_port
     AND f.dst_addr = c.dst_addr AND f.dst_port = c.dst_port
   ORDER BY c.id;

DROP TABLE completions;
ALTER TABLE completions_rebuilt RENAME TO completions;

-- 003's index, dropped with the old table.
CREATE INDEX completions_by_session_row ON completions (session_id, id);

-- A writer that names only 001's columns (raw SQL in test helpers and bench/correlate.ts)
-- leaves flow_key NULL: its rows keep 001's uniqueness through this partial index, which
-- rows with a key skip. (A trigger filling flow_key instead cost ~0.3 µs on every insert,
-- ~10% of the store: /tmp measurements in db/completions.ts's header.) Such rows are not
-- deduplicated against records posted through the API (db/completions.ts), which always
-- sets flow_key.
CREATE UNIQUE INDEX completions_unkeyed ON completions (session_id, src_addr, src_port, dst_addr, dst_port, write_id)
  WHERE flow_key IS NULL;
