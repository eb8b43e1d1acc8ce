import type { Db } from '../../db/connection.js';
import { createSession, updateSession } from '../../db/sessions.js';

/**
 * Builds a synthetic session straight into the tables the capture fills (001/002 column
 * meanings), keeping the running maxima and retransmit marks the way a capture must, so
 * correlation tests can state every frame and know the answer. Times are microseconds
 * after T0 (an epoch-ns BigInt) unless given in ns.
 */
export const T0 = 1_764_061_234_000_000_000n;
export const at = (us: number) => T0 + BigInt(Math.round(us * 1000));

interface DirState {
  sentMax: number;
  ackedMax: number | null;
}

export interface FrameOptions {
  /** dir 0: a→b (default for data), 1: b→a */
  dir?: 0 | 1;
  ack?: number;
  sacks?: [number, number][];
  flags?: number;
}

export class SyntheticFlow {
  readonly dirs: [DirState, DirState] = [
    { sentMax: 0, ackedMax: null },
    { sentMax: 0, ackedMax: null },
  ];
  lastNs: bigint;
  frames = 0;
  retransmits = 0;

  constructor(
    private readonly s: SyntheticSession,
    readonly id: number,
    firstNs: bigint,
    /** sequence base for seq_raw (wraps at 2^32) */
    readonly isn: number,
  ) {
    this.lastNs = firstNs;
  }

  /** A segment carrying [seqOff, seqOff + len) and optionally an ACK/SACK of the other direction. */
  segment(us: number, seqOff: number, len: number, o: FrameOptions = {}): this {
    const dir = o.dir ?? 0;
    const st = this.dirs[dir];
    const end = seqOff + len;
    const advanced = len > 0 && end > st.sentMax;
    const retransmit = len > 0 && seqOff < st.sentMax ? 1 : 0;
    if (advanced) st.sentMax = end;
    let ackAdvanced = 0;
    if (o.ack !== undefined && (st.ackedMax === null || o.ack > st.ackedMax)) {
      st.ackedMax = o.ack;
      ackAdvanced = 1;
    }
    this.retransmits += retransmit;
    this.frames++;
    const ts = at(us);
    if (ts > this.lastNs) this.lastNs = ts;
    const frameId = this.s.insertFrame({
      flow_id: this.id,
      dir,
      ts_ns: ts,
      tcp_flags: o.flags ?? (o.ack !== undefined ? 0x10 : 0) | (len > 0 ? 0x08 : 0),
      seq_raw: (this.isn + 1 + seqOff) % 2 ** 32,
      ack_raw: o.ack === undefined ? 0 : (this.isn + 1 + o.ack) % 2 ** 32,
      seq_off: seqOff,
      payload_len: len,
      ack_off: o.ack ?? null,
      retransmit,
      sent_max: st.sentMax,
      acked_max: st.ackedMax,
      sent_advanced: advanced ? 1 : 0,
      ack_advanced: ackAdvanced,
      sack_count: o.sacks?.length ?? 0,
    });
    for (const [left, right] of o.sacks ?? []) this.s.insertSack(frameId, this.id, dir, ts, left, right);
    return this;
  }

  /** A pure ACK from b (dir 1) acknowledging a's stream up to `ackOff`. */
  ack(us: number, ackOff: number, sacks?: [number, number][], dir: 0 | 1 = 1): this {
    return this.segment(us, this.dirs[dir].sentMax, 0, { dir, ack: ackOff, sacks });
  }

  /** A write header found on the wire (table tags). */
  tag(us: number, streamOff: number, writeId: number | null, claimedOff: number | null, claimedLen: number | null, dir: 0 | 1 = 0): this {
    this.s.db
      .prepare(
        `INSERT INTO tags (flow_id, dir, stream_off, write_id, claimed_off, claimed_len, frame_id, ts_ns)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(this.id, dir, streamOff, writeId, claimedOff, claimedLen, this.s.lastFrameId, at(us));
    return this;
  }
}

export interface FlowSpec {
  a: [string, number];
  b: [string, number];
  /** microseconds after T0 of the flow's first frame */
  firstUs?: number;
  synSeen?: boolean;
  isn?: number;
}

export interface CompletionSpec {
  src: [string, number];
  dst: [string, number];
  writeId: number;
  start: number;
  end: number;
  submittedUs: number;
  completedUs: number;
  bytesReported?: number;
  api?: string;
  status?: string;
  tcpInfo?: { bytesSent: number; bytesAcked: number };
}

export class SyntheticSession {
  readonly id: number;
  private frameNo = 0;
  lastFrameId = 0;
  private readonly flows: SyntheticFlow[] = [];
  private readonly frameStmt;

  constructor(
    readonly db: Db,
    name = 'synthetic',
    settings: { clockUncertaintyNs?: bigint; nearMarginNs?: bigint } = {},
  ) {
    this.id = createSession(db, { name, kind: 'import', ...settings }).id;
    this.frameStmt = db.prepare(
      `INSERT INTO frames (id, session_id, frame_no, flow_id, dir, ts_ns, caplen, wirelen, tcp_flags, seq_raw, ack_raw,
         seq_off, payload_len, ack_off, window, retransmit, sent_max, acked_max, sent_advanced, ack_advanced, sack_count)
       VALUES (@id, @session_id, @frame_no, @flow_id, @dir, @ts_ns, 66, 66, @tcp_flags, @seq_raw, @ack_raw,
         @seq_off, @payload_len, @ack_off, 65535, @retransmit, @sent_max, @acked_max, @sent_advanced, @ack_advanced, @sack_count)`,
    );
  }

  flow(spec: FlowSpec): SyntheticFlow {
    const first = at(spec.firstUs ?? 0);
    const info = this.db
      .prepare(
        `INSERT INTO flows (session_id, ip_version, a_addr, a_port, b_addr, b_port, a_isn, b_isn, a_syn_seen, b_syn_seen,
           first_ns, last_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        this.id,
        spec.a[0].includes(':') ? 6 : 4,
        spec.a[0],
        spec.a[1],
        spec.b[0],
        spec.b[1],
        spec.isn ?? 1000,
        5000,
        spec.synSeen === false ? 0 : 1,
        spec.synSeen === false ? 0 : 1,
        first,
        first,
      );
    const f = new SyntheticFlow(this, Number(info.lastInsertRowid), first, spec.isn ?? 1000);
    this.flows.push(f);
    return f;
  }

  insertFrame(row: Record<string, unknown>): number {
    this.frameNo++;
    const id = this.id * 2 ** 32 + this.frameNo;
    this.frameStmt.run({ id, session_id: this.id, frame_no: this.frameNo, ...row });
    // the correlation's look-ups read these (migrations/005_frame_advances.sql), as the capture writes them
    if (row.sent_advanced === 1) {
      this.db
        .prepare('INSERT INTO sent_advances (flow_id, dir, sent_max, ts_ns, seq_off) VALUES (?, ?, ?, ?, ?)')
        .run(row.flow_id, row.dir, row.sent_max, row.ts_ns, row.seq_off);
    }
    if (row.ack_advanced === 1) {
      this.db
        .prepare('INSERT INTO ack_advances (flow_id, dir, acked_max, ts_ns) VALUES (?, ?, ?, ?)')
        .run(row.flow_id, row.dir, row.acked_max, row.ts_ns);
    }
    this.lastFrameId = id;
    return id;
  }

  insertSack(frameId: number, flowId: number, dir: number, ts: bigint, left: number, right: number): void {
    this.db
      .prepare('INSERT INTO sacks (frame_id, flow_id, dir, ts_ns, left_off, right_off) VALUES (?, ?, ?, ?, ?, ?)')
      .run(frameId, flowId, dir, ts, left, right);
  }

  completion(c: CompletionSpec): this {
    this.db
      .prepare(
        `INSERT INTO completions (session_id, src_addr, src_port, dst_addr, dst_port, write_id, offset_start, offset_end,
           submitted_ns, completed_ns, bytes_reported, api, buffers, status, tcp_bytes_sent, tcp_bytes_acked)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
      )
      .run(
        this.id,
        c.src[0],
        c.src[1],
        c.dst[0],
        c.dst[1],
        c.writeId,
        c.start,
        c.end,
        at(c.submittedUs),
        at(c.completedUs),
        c.bytesReported ?? c.end - c.start,
        c.api ?? 'node:socket.write',
        c.status ?? 'ok',
        c.tcpInfo?.bytesSent ?? null,
        c.tcpInfo?.bytesAcked ?? null,
      );
    return this;
  }

  /** Writes flow and session counters the way the capture's finish() does. */
  finish(o: { startedUs?: number; stoppedUs?: number; dropped?: number } = {}): this {
    for (const f of this.flows) {
      this.db
        .prepare('UPDATE flows SET last_ns = ?, frames = ?, retransmits = ?, a_bytes = ?, b_bytes = ? WHERE id = ?')
        .run(f.lastNs, f.frames, f.retransmits, f.dirs[0].sentMax, f.dirs[1].sentMax, f.id);
    }
    updateSession(this.db, this.id, {
      state: 'stopped',
      frames_total: this.frameNo,
      frames_tcp: this.frameNo,
      pcap_dropped: o.dropped ?? null,
      started_ns: o.startedUs === undefined ? null : at(o.startedUs),
      stopped_ns: o.stoppedUs === undefined ? null : at(o.stoppedUs),
    });
    return this;
  }
}
