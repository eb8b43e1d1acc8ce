/**
 * The correlation's reads from the ClickHouse store: a whole session in a few queries,
 * never one round trip per completion (one query per look-up cost 1.4-3.7 ms here:
 * 138-373 s per 100 k; /work/shared/CLICKHOUSE.md).
 *
 * Per session: the session row, the frame time bounds, flows, completions, kernel
 * witnesses, tags, SACK blocks, retransmitted ranges and each flow direction's first and
 * last advance row: one query each, sorted as db/correlation-reads.ts sorts them.
 *
 * The per-completion questions "first frame of (flow, dir) whose running maximum
 * reached x" (sent and acked) are answered for every x at once (firstReachingMany):
 * the look-ups travel as an external table, joined on (flow, dir, bucket of the
 * offset) with the advance rows of the look-up's bucket and the next: an equality join,
 * since 18.16 has no ASOF JOIN (and silently misreads one) and refuses inequalities in
 * JOIN ON. The answer so found is exact (the true first row, if it lies in those buckets,
 * is among the candidates and is their minimum). A look-up with no candidate either has
 * no answer (x past the direction's highest row: known from one GROUP BY) or its answer
 * lies beyond a gap of a bucket or more: a second, exact pass joins only those on
 * (flow, dir) and filters.
 */
import { withLiveCaptures } from './live-captures.js';
import type { ClickHouseClient } from './http-client.js';
import { identifier, joinSql, literal, sql, type Sql } from './sql.js';
import { TABLES } from './tables.js';
import type { FrameHit, DirectionCoverage } from '../correlate/types.js';
import type { CompletionForCorrelation, FlowInfo } from '../correlate/inputs.js';
import type { SessionRow } from '../core/session-row.js';
import type { TagRow } from '../correlate/ordering.js';
import type { KernelMoments } from '../correlate/ladder.js';
import type { Retransmits, SackBlocks } from '../correlate/evidence.js';

/** The smallest bucket of the equality join, in bytes of offset (see firstReachingMany). */
export const MIN_BUCKET = 64;


const BIGINT_SESSION_FIELDS = new Set(['clock_uncertainty_ns', 'near_margin_ns', 'created_ns', 'updated_ns', 'started_ns', 'stopped_ns']);
const SESSION_FIELDS = [
  'name', 'kind', 'interface', 'filter', 'snaplen', 'buffer_size', 'immediate', 'state', 'failure_reason',
  'clock_uncertainty_ns', 'near_margin_ns', 'created_ns', 'updated_ns', 'started_ns', 'stopped_ns', 'link_type',
  'frames_total', 'frames_tcp', 'skipped_truncated', 'skipped_malformed', 'skipped_not_ip', 'skipped_not_tcp',
  'skipped_other', 'skip_reasons', 'pcap_received', 'pcap_dropped', 'pcap_if_dropped', 'capture_file', 'source_file',
] as const;



const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null ? null : Number(v));
const bigOrNull = (v: unknown): bigint | null => (v === null ? null : BigInt(v as string));
/** Epoch ns (a quoted Int64) relative to the base, as the SQLite reads compute `x - @base`. */
const rel = (v: unknown, base: bigint): number => Number(BigInt(v as string) - base);

function sessionLiteral(sessionId: number): Sql {
  return literal(sessionId, 'UInt64');
}

const SESSION_TYPES = new Map<string, string>(TABLES.sessions.columns.map((c) => [c.name, c.type]));

export async function readSession(client: ClickHouseClient, sessionId: number): Promise<SessionRow | undefined> {
  const columns = joinSql(SESSION_FIELDS.map((f) => identifier(f)), ', ');
  // a session row replaced by a newer one (ReplacingMergeTree, merged later): the newest wins
  const rows = await client.rows(
    sql`SELECT ${identifier('session_id')}, ${columns} FROM ${identifier('sessions')} WHERE session_id = ${sessionLiteral(sessionId)} ORDER BY updated_ns DESC LIMIT 1`,
  );
  if (rows.length === 0) return undefined;
  const r = rows[0];
  const out: Record<string, unknown> = { id: num(r[0]) };
  SESSION_FIELDS.forEach((f, i) => {
    const v = r[i + 1];
    // 64-bit integers arrive quoted: epoch ns as BigInt (SessionRow's type), counters as numbers
    if (BIGINT_SESSION_FIELDS.has(f)) out[f] = bigOrNull(v);
    else if (typeof v === 'string' && /Int/.test(SESSION_TYPES.get(f) ?? '')) out[f] = Number(v);
    else out[f] = v;
  });
  // a live session's state, counters and version are its hosts' captures' (live-captures.ts)
  const [session] = await withLiveCaptures(client, [out as unknown as SessionRow]);
  return session;
}

/**
 * The session's capture span, epoch ns, and its highest frame number: each host's first
 * and last frame in its capture order, then the earliest first and the latest last of
 * them. Frame numbers order one host's frames only: several hosts' captures take
 * numbers in claimed blocks, or one after another (an import joining), so the lowest
 * number may be a later host's first frame.
 */
export async function readFrameBounds(client: ClickHouseClient, sessionId: number) {
  const [r] = await client.rows(
    sql`SELECT sum(n), min(first), max(last), max(top)
          FROM (SELECT count() AS n, argMin(ts_ns, frame_no) AS first, argMax(ts_ns, frame_no) AS last, max(frame_no) AS top
                  FROM ${identifier('frames')} WHERE session_id = ${sessionLiteral(sessionId)} GROUP BY host)`,
  );
  const count = num(r[0]);
  return {
    firstTs: count > 0 ? BigInt(r[1] as string) : undefined,
    lastTs: count > 0 ? BigInt(r[2] as string) : undefined,
    maxFrameNo: count > 0 ? String(r[3]) : '0',
  };
}

export async function readCompletionCount(client: ClickHouseClient, sessionId: number): Promise<{ count: number; maxId: string }> {
  const [r] = await client.rows(sql`SELECT count(), max(completion_id) FROM ${identifier('completions')} WHERE session_id = ${sessionLiteral(sessionId)}`);
  return { count: num(r[0]), maxId: String(r[1]) };
}

/** The median submission (a session without frames counts its times from it), epoch ns. */
export async function readMedianSubmission(client: ClickHouseClient, sessionId: number, count: number): Promise<bigint | null> {
  if (count === 0) return null;
  const rows = await client.rows(
    sql`SELECT submitted_ns FROM ${identifier('completions')} WHERE session_id = ${sessionLiteral(sessionId)} ORDER BY submitted_ns LIMIT ${literal(Math.floor(count / 2), 'UInt64')}, 1`,
  );
  return rows.length ? BigInt(rows[0][0] as string) : null;
}

/** Each flow's newest row (a live capture writes one per change: migrations/clickhouse/004). */
export async function readFlows(client: ClickHouseClient, sessionId: number, base: bigint): Promise<FlowInfo[]> {
  const rows = await client.rows(
    sql`SELECT flow_id, ip_version, a_addr, a_port, b_addr, b_port, a_syn_seen, b_syn_seen, first_ns, last_ns, frames, retransmits, closed
          FROM ${identifier('flows')} WHERE session_id = ${sessionLiteral(sessionId)}
         ORDER BY flow_id, version DESC LIMIT 1 BY flow_id`,
  );
  return rows.map((r) => ({
    id: num(r[0]),
    ipVersion: num(r[1]),
    aAddr: r[2] as string,
    aPort: num(r[3]),
    bAddr: r[4] as string,
    bPort: num(r[5]),
    aSynSeen: num(r[6]) === 1,
    bSynSeen: num(r[7]) === 1,
    firstNs: rel(r[8], base),
    lastNs: rel(r[9], base),
    frames: num(r[10]),
    retransmits: num(r[11]),
    closed: num(r[12]) === 1,
  }));
}

/**
 * Rows with 64-bit integers as JSON numbers, not quoted, for reads whose every value is an
 * id, a count, an offset or a time relative to the base (exact as doubles): the quoted
 * strings cost a parse and a conversion each.
 */
const NUMBERS = { settings: { output_format_json_quote_64bit_integers: 0 } };

/** Completions in (flow 4-tuple, writeId) order, with the kernel witness of each that has one (its newest: clickhouse/kernel-witness.ts). */
export async function readCompletions(client: ClickHouseClient, sessionId: number, base: bigint): Promise<CompletionForCorrelation[]> {
  const session = sessionLiteral(sessionId);
  // times relative to the base computed by the server (exact in Int64) and every value
  // sent as a JSON number: a session's million rows read without a BigInt per time
  const b = literal(base, 'Int64');
  const witnessRows = await client.rows(
    sql`SELECT completion_id, qdisc_in_ns - ${b}, qdisc_out_ns - ${b}, driver_ns - ${b}, ack_arrived_ns - ${b}, ack_processed_ns - ${b}, retransmitted
          FROM ${identifier('kernel_witness')} WHERE session_id = ${session}
         ORDER BY completion_id, stored_ns DESC LIMIT 1 BY completion_id`,
    NUMBERS,
  );
  const witnesses = new Map<number, KernelMoments>(
    witnessRows.map((r) => [
      r[0] as number,
      {
        qdiscInNs: r[1] as number | null,
        qdiscOutNs: r[2] as number | null,
        driverNs: r[3] as number | null,
        ackArrivedNs: r[4] as number | null,
        ackProcessedNs: r[5] as number | null,
        retransmitted: r[6] === 1,
      },
    ]),
  );
  const rows = await client.rows(
    sql`SELECT completion_id, src_addr, src_port, dst_addr, dst_port, write_id, offset_start, offset_end, submitted_ns - ${b}, completed_ns - ${b},
               bytes_reported, api, status, buffers, tcp_bytes_sent, tcp_bytes_acked, host
          FROM ${identifier('completions')} WHERE session_id = ${session}
         ORDER BY src_addr, src_port, dst_addr, dst_port, write_id`,
    NUMBERS,
  );
  return rows.map((r) => ({
    id: num(r[0]),
    srcAddr: r[1] as string,
    srcPort: num(r[2]),
    dstAddr: r[3] as string,
    dstPort: num(r[4]),
    writeId: num(r[5]),
    offsetStart: num(r[6]),
    offsetEnd: num(r[7]),
    submittedNs: r[8] as number,
    completedNs: r[9] as number,
    bytesReported: num(r[10]),
    api: r[11] as string,
    status: r[12] as string,
    buffers: num(r[13]),
    tcpBytesSent: numOrNull(r[14]),
    tcpBytesAcked: numOrNull(r[15]),
    kernel: witnesses.get(num(r[0])) ?? null,
    host: r[16] as string,
  }));
}

/** Each flow's capturing host, by flow id (a stage decided across hosts: correlate/host-clocks.ts). */
export async function readFlowHosts(client: ClickHouseClient, sessionId: number): Promise<Map<number, string>> {
  const rows = await client.rows(sql`SELECT flow_id, host FROM ${identifier('flows')} WHERE session_id = ${sessionLiteral(sessionId)}`);
  return new Map(rows.map((r) => [num(r[0]), r[1] as string]));
}

const sideKey = (flowId: number, dir: number) => `${flowId}/${dir}`;

function grouped<T>(rows: unknown[][], make: (r: unknown[]) => T): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const key = sideKey(num(r[0]), num(r[1]));
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    list.push(make(r));
  }
  return out;
}

/** Everything read once per flow direction, for the whole session. */
export interface SessionSides {
  tags: Map<string, TagRow[]>;
  sacks: Map<string, SackBlocks>;
  retransmits: Map<string, Retransmits>;
  /** directionStart of db/correlation-reads.ts, per `${flow}/${dataDir}`. */
  starts: (flowId: number, dataDir: 0 | 1) => DirectionCoverage;
  /** The highest sent_max / acked_max per `${flow}/${dir}`: look-ups above it have no answer. */
  highestSent: Map<string, number>;
  highestAcked: Map<string, number>;
}

export async function readSides(client: ClickHouseClient, sessionId: number, base: bigint): Promise<SessionSides> {
  const session = sessionLiteral(sessionId);
  const [tagRows, sackRows, retransRows, sentRows, ackRows] = await Promise.all([
    client.rows(sql`SELECT flow_id, dir, stream_off, write_id, claimed_off, claimed_len, ts_ns FROM ${identifier('tags')} WHERE session_id = ${session} ORDER BY flow_id, dir, stream_off`),
    client.rows(sql`SELECT flow_id, dir, ts_ns, left_off, right_off FROM ${identifier('sacks')} WHERE session_id = ${session} ORDER BY flow_id, dir, ts_ns`),
    client.rows(sql`SELECT flow_id, dir, start_off, end_off - start_off FROM ${identifier('retransmissions')} WHERE session_id = ${session} ORDER BY flow_id, dir, start_off`),
    client.rows(sql`SELECT flow_id, dir, argMin(seq_off, sent_max), argMin(ts_ns, sent_max), max(sent_max) FROM ${identifier('sent_advances')} WHERE session_id = ${session} GROUP BY flow_id, dir`),
    client.rows(sql`SELECT flow_id, dir, min(acked_max), argMin(ts_ns, acked_max), max(acked_max) FROM ${identifier('ack_advances')} WHERE session_id = ${session} GROUP BY flow_id, dir`),
  ]);
  const tags = grouped(tagRows, (r) => ({ streamOff: num(r[2]), writeId: numOrNull(r[3]), claimedOff: numOrNull(r[4]), claimedLen: numOrNull(r[5]), tsNs: rel(r[6], base) }));
  const sacks = new Map<string, SackBlocks>();
  for (const [key, list] of grouped(sackRows, (r) => [rel(r[2], base), num(r[3]), num(r[4])] as const)) {
    sacks.set(key, { ts: list.map((b) => b[0]), left: list.map((b) => b[1]), right: list.map((b) => b[2]) });
  }
  const retransmits = new Map<string, Retransmits>();
  for (const [key, list] of grouped(retransRows, (r) => [num(r[2]), num(r[3])] as const)) {
    retransmits.set(key, { seq: list.map((x) => x[0]), len: list.map((x) => x[1]), maxLen: Math.max(0, ...list.map((x) => x[1])) });
  }
  const lowSent = new Map(sentRows.map((r) => [sideKey(num(r[0]), num(r[1])), { off: num(r[2]), ns: rel(r[3], base) }]));
  const lowAck = new Map(ackRows.map((r) => [sideKey(num(r[0]), num(r[1])), { off: num(r[2]), ns: rel(r[3], base) }]));
  return {
    tags,
    sacks,
    retransmits,
    starts: (flowId, dataDir) => {
      const low = lowSent.get(sideKey(flowId, dataDir));
      const ack = lowAck.get(sideKey(flowId, dataDir === 0 ? 1 : 0));
      return { dataLowOff: low ? low.off : null, dataLowNs: low ? low.ns : null, ackLowOff: ack ? ack.off : null, ackLowNs: ack ? ack.ns : null };
    },
    highestSent: new Map(sentRows.map((r) => [sideKey(num(r[0]), num(r[1])), num(r[4])])),
    highestAcked: new Map(ackRows.map((r) => [sideKey(num(r[0]), num(r[1])), num(r[4])])),
  };
}

/** One look-up: the first row of (flowId, dir) whose maximum reached x. */
export interface Lookup {
  flowId: number;
  dir: 0 | 1;
  x: number;
}

const ADVANCES = {
  sent: { table: 'sent_advances', max: 'sent_max', seq: 'seq_off' },
  acked: { table: 'ack_advances', max: 'acked_max', seq: '0' },
} as const;

function tsv(lookups: readonly Lookup[]): string {
  let out = '';
  for (const l of lookups) out += `${l.flowId}\t${l.dir}\t${l.x}\n`;
  return out;
}

const LOOKUP_STRUCTURE = 'flow_id UInt64, dir UInt8, x Int64';

/**
 * The answers of one kind of look-up, by flow direction then x: numbers as keys, not a
 * string per look-up (building and hashing `${flow}/${dir}/${x}` three times per look-up
 * was most of the look-up phase's client time: bench/clickhouse.ts).
 */
export class LookupAnswers {
  private readonly sides = new Map<number, Map<number, FrameHit | null>>();

  /** undefined: not answered (not asked). */
  get(flowId: number, dir: number, x: number): FrameHit | null | undefined {
    return this.sides.get(flowId * 2 + dir)?.get(x);
  }

  has(flowId: number, dir: number, x: number): boolean {
    return this.sides.get(flowId * 2 + dir)?.has(x) ?? false;
  }

  set(flowId: number, dir: number, x: number, hit: FrameHit | null): void {
    let side = this.sides.get(flowId * 2 + dir);
    if (side === undefined) this.sides.set(flowId * 2 + dir, (side = new Map()));
    side.set(x, hit);
  }
}

/**
 * Answers every look-up of one kind for a session: per (flow, dir, x) the first row
 * reaching x (time relative to the base, its seq_off), or null.
 */
export async function firstReachingMany(
  client: ClickHouseClient,
  sessionId: number,
  base: bigint,
  kind: keyof typeof ADVANCES,
  lookups: readonly Lookup[],
  highest: Map<string, number>,
): Promise<{ answers: LookupAnswers; queries: number; secondPass: number }> {
  const answers = new LookupAnswers();
  // x above the direction's highest row: no frame ever reached it, no need to ask
  // (answered with undefined first: a look-up asked twice is sent once)
  const asked: Lookup[] = [];
  const pending = new LookupAnswers();
  for (const l of lookups) {
    if (answers.has(l.flowId, l.dir, l.x) || pending.has(l.flowId, l.dir, l.x)) continue;
    const top = highest.get(sideKey(l.flowId, l.dir));
    if (top === undefined || l.x > top) answers.set(l.flowId, l.dir, l.x, null);
    else {
      pending.set(l.flowId, l.dir, l.x, null);
      asked.push(l);
    }
  }
  let queries = 0;
  const spec = ADVANCES[kind];
  const table = identifier(spec.table);
  const max = identifier(spec.max);
  const seq = spec.seq === '0' ? sql`0` : identifier(spec.seq);
  const session = literal(sessionId, 'UInt64');
  // Each direction's bucket: four times its mean step between advance rows (at least
  // MIN_BUCKET), so a look-up meets about eight candidates whatever the segment sizes.
  // One fixed 64 KiB bucket met ~90 rows per look-up with 1448-byte segments: 9-13 s per
  // 300 k look-ups in bench/clickhouse.ts against 1 M advance rows.
  const stats = sql`SELECT flow_id, dir, greatest(toInt64(${literal(MIN_BUCKET, 'Int64')}), intDiv(max(${max}) - min(${max}), toInt64(count())) * 4) AS bs
                      FROM ${table} WHERE session_id = ${session} GROUP BY flow_id, dir`;
  const baseLit = literal(base, 'Int64');
  const take = (rows: unknown[][]) => {
    for (const r of rows) answers.set(num(r[0]), num(r[1]), num(r[2]), { tsNs: num(r[3]), seqOff: num(r[4]) });
  };
  if (asked.length > 0) {
    queries++;
    take(
      await client.queryWithTable(
        sql`SELECT flow_id, dir, x, argMin(t, m), argMin(s, m)
              FROM (SELECT flow_id, dir, x, arrayJoin([intDiv(x, bs), intDiv(x, bs) + 1]) AS b
                      FROM lookups ALL INNER JOIN (${stats}) USING (flow_id, dir))
              ALL INNER JOIN
                   (SELECT flow_id, dir, m, t, s, intDiv(m, bs) AS b
                      FROM (SELECT flow_id, dir, ${max} AS m, ts_ns - ${baseLit} AS t, ${seq} AS s FROM ${table} WHERE session_id = ${session})
                      ALL INNER JOIN (${stats}) USING (flow_id, dir))
              USING (flow_id, dir, b)
             WHERE m >= x
             GROUP BY flow_id, dir, x`,
        { name: 'lookups', structure: LOOKUP_STRUCTURE, tsv: tsv(asked) },
        NUMBERS,
      ),
    );
  }
  // the rest lie beyond a gap of a bucket or more: exact, on (flow, dir) alone, for them only
  const rest = asked.filter((l) => !answers.has(l.flowId, l.dir, l.x));
  if (rest.length > 0) {
    queries++;
    take(
      await client.queryWithTable(
        sql`SELECT flow_id, dir, x, argMin(ts_ns - ${baseLit}, m), argMin(s, m)
              FROM lookups
              ALL INNER JOIN
                   (SELECT flow_id, dir, ${max} AS m, ts_ns, ${seq} AS s FROM ${table}
                     WHERE session_id = ${session} AND (flow_id, dir) GLOBAL IN (SELECT flow_id, dir FROM lookups))
              USING (flow_id, dir)
             WHERE m >= x
             GROUP BY flow_id, dir, x`,
        { name: 'lookups', structure: LOOKUP_STRUCTURE, tsv: tsv(rest) },
        NUMBERS,
      ),
    );
    for (const l of rest) if (!answers.has(l.flowId, l.dir, l.x)) answers.set(l.flowId, l.dir, l.x, null);
  }
  return { answers, queries, secondPass: rest.length };
}
