-- ackscope's ClickHouse store, version 3. Never edit once applied: add a new numbered file.
--
-- Kernel witnesses and trace statements written by the service (POST
-- /sessions/:id/kernel-witness, the kernel tracer; clickhouse/kernel-witness.ts):
--   * host: the host that wrote the row, as frames, flows and completions carry it;
--   * stored_ns: the row's version. SQLite replaces a completion's witness (and a
--     session's trace statement) in place; ClickHouse appends, and readers take the
--     newest stored_ns of each completion (of each session). Rows written before this
--     migration read as version 0.
-- On a cluster clickhouse/migrate.ts runs each ALTER on <name>_local and on the
-- Distributed <name>. 18.16 has no ADD COLUMN IF NOT EXISTS (19.1 has): the runner takes
-- "column already exists" of an ADD COLUMN as done, so a migration cut short runs again.
ALTER TABLE kernel_witness ADD COLUMN host String;
ALTER TABLE kernel_witness ADD COLUMN stored_ns Int64;
ALTER TABLE session_traces ADD COLUMN host String;
ALTER TABLE session_traces ADD COLUMN stored_ns Int64;
