/**
 * One frame as the web page's time-sequence graph reads it (service/web/sequence.ts), from
 * either store (db/web.ts, clickhouse/web.ts): time already relative to the flow's base.
 */
export interface SequenceFrame {
  /** ts_ns − baseNs */
  rel_ns: number;
  dir: number;
  seq_off: number;
  payload_len: number;
  ack_off: number | null;
  retransmit: number;
  ack_advanced: number;
}
