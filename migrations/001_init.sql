-- ackscope schema, version 1. Never edit once applied: add a new numbered file.
-- Time: INTEGER epoch nanoseconds (CLOCK_REALTIME of the capture host).
-- Offsets: INTEGER stream offsets, byte 0 = first payload byte (ISN + 1).

CREATE TABLE sessions (
  id                   INTEGER PRIMARY KEY,
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
CREATE INDEX sessions_by_created ON sessions (created_ns DESC, id DESC);

-- A TCP connection: 4-tuple plus initial sequence numbers (ports are reused).
-- Side a is the side that sent the SYN, or the first sender seen when no SYN was captured.
CREATE TABLE flows (
  id            INTEGER PRIMARY KEY,
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
CREATE INDEX flows_by_session ON flows (session_id, a_addr, a_port, b_addr, b_port);

-- One row per captured TCP segment. dir 0: a -> b, 1: b -> a.
-- Running maxima per (flow, dir) make "first frame that carried offset X" and
-- "first ACK that covered X" index look-ups; only frames that advanced a maximum are
-- indexed (partial indexes), since the first frame reaching X always advanced it.
CREATE TABLE frames (
  id            INTEGER PRIMARY KEY,   -- global; frame_no is the session's 1-based number
  session_id    INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  frame_no      INTEGER NOT NULL,
  flow_id       INTEGER NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
  dir           INTEGER NOT NULL,
  ts_ns         INTEGER NOT NULL,
  caplen        INTEGER NOT NULL,
  wirelen       INTEGER NOT NULL,
  tcp_flags     INTEGER NOT NULL,
  seq_raw       INTEGER NOT NULL,      -- 32-bit sequence number as on the wire
  ack_raw       INTEGER NOT NULL,
  seq_off       INTEGER NOT NULL,      -- stream offset of the first payload byte
  payload_len   INTEGER NOT NULL,      -- from the IP header, not the captured length
  ack_off       INTEGER,               -- cumulative ACK as a stream offset of the other direction
  window        INTEGER NOT NULL,      -- scaled when the scale is known
  retransmit    INTEGER NOT NULL DEFAULT 0,
  sent_max      INTEGER NOT NULL,      -- running max of first-transmission end offset in dir
  acked_max     INTEGER,               -- running max of cumulative ACK sent in dir
  sent_advanced INTEGER NOT NULL DEFAULT 0,
  ack_advanced  INTEGER NOT NULL DEFAULT 0,
  sack_count    INTEGER NOT NULL DEFAULT 0,
  file_offset   INTEGER                -- byte offset of the record in the raw capture, if kept
);
CREATE INDEX frames_by_session ON frames (session_id, frame_no);
CREATE INDEX frames_first_sent ON frames (flow_id, dir, sent_max) WHERE sent_advanced = 1;
CREATE INDEX frames_first_ack ON frames (flow_id, dir, acked_max) WHERE ack_advanced = 1;

-- SACK blocks as stream offsets of the direction being acknowledged.
CREATE TABLE sacks (
  frame_id   INTEGER NOT NULL REFERENCES frames (id) ON DELETE CASCADE,
  flow_id    INTEGER NOT NULL,
  dir        INTEGER NOT NULL,         -- direction of the frame carrying the block
  ts_ns      INTEGER NOT NULL,
  left_off   INTEGER NOT NULL,
  right_off  INTEGER NOT NULL
);
CREATE INDEX sacks_by_flow ON sacks (flow_id, dir, right_off);

-- Write headers (sender --tag) found on the wire, in stream order, first transmission only.
CREATE TABLE tags (
  flow_id        INTEGER NOT NULL REFERENCES flows (id) ON DELETE CASCADE,
  dir            INTEGER NOT NULL,
  stream_off     INTEGER NOT NULL,     -- where the header was found
  write_id       INTEGER,              -- what the header says (NULL: no header where one was due)
  claimed_off    INTEGER,
  claimed_len    INTEGER,
  frame_id       INTEGER NOT NULL,
  ts_ns          INTEGER NOT NULL,
  PRIMARY KEY (flow_id, dir, stream_off)
) WITHOUT ROWID;

-- One row per send call, as any sender reports it (docs/completions.md).
CREATE TABLE completions (
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
  write_returned   INTEGER,            -- Node: write() return value; Winsock: 1 when WSASend returned 0
  immediate        TEXT,               -- Winsock: '0' or 'WSA_IO_PENDING'
  writable_length  INTEGER,            -- Node: socket.writableLength at submission
  tcp_bytes_sent   INTEGER,            -- TCP_INFO at completion, corrected to stream offsets
  tcp_bytes_acked  INTEGER,
  tcp_notsent_bytes INTEGER,
  tcp_unacked      INTEGER,
  tcp_bytes_retrans INTEGER,
  tcp_rtt_us       INTEGER,
  extra            TEXT,               -- JSON of fields this schema does not know
  UNIQUE (session_id, src_addr, src_port, dst_addr, dst_port, write_id)
);
