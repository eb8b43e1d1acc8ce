/**
 * The kernel tracer's rows in the ClickHouse store (db/kernel-witness.ts on SQLite): the
 * witnesses of posted completions, and what the tracer said about itself per session.
 *
 * SQLite replaces a completion's witness in place (INSERT OR REPLACE: a later join may
 * have seen more moments). ClickHouse has no unique keys, so every write is appended with
 * `stored_ns`, a version that only grows within this process (migrations/clickhouse/003),
 * and readers take each completion's newest (`LIMIT 1 BY`). Writes are one RowBinary
 * insert per request, the completions they belong to found in one query.
 */
import { canonicalAddress } from '../core/completion.js';
import { AckscopeError } from '../core/errors.js';
import type { KernelWitness, KernelWitnessInput, TraceStats } from '../core/kernel-witness.js';
import { wallClockNs } from '../core/time.js';
import type { ClickHouseClient } from './http-client.js';
import { encodeRowBinary } from './row-binary.js';
import { identifier, joinSql, literal, qualifiedTable, sql } from './sql.js';
import { TABLES } from './tables.js';
import { insertSettings } from './copy-session.js';

export type KernelWitnessInputRow = { flow: KernelWitnessInput['flow']; writeId: number; witness: KernelWitness };

let lastVersionNs = 0n;
/** The wall clock in ns, but never equal to or below the last one given: a later write wins ties within this process. */
export function nextVersionNs(): bigint {
  const now = wallClockNs();
  lastVersionNs = now > lastVersionNs ? now : lastVersionNs + 1n;
  return lastVersionNs;
}

const session = (id: number) => literal(id, 'UInt64');
const flowKey = (f: { srcAddr: string; srcPort: number; dstAddr: string; dstPort: number }, writeId: number) =>
  `${f.srcAddr} ${f.srcPort} ${f.dstAddr} ${f.dstPort} ${writeId}`;

/**
 * The completion ids of (flow, writeId) pairs in one query: the stored completions on the
 * given flows whose writeId lies in the pairs' range. Addresses are canonical already.
 */
async function completionIds(
  client: ClickHouseClient,
  sessionId: number,
  keys: readonly { flow: KernelWitnessInput['flow']; writeId: number }[],
): Promise<Map<string, number>> {
  const flows = new Map<string, KernelWitnessInput['flow']>();
  let lo = Infinity;
  let hi = -Infinity;
  for (const k of keys) {
    flows.set(flowKey(k.flow, 0), k.flow);
    lo = Math.min(lo, k.writeId);
    hi = Math.max(hi, k.writeId);
  }
  const onFlow = [...flows.values()].map(
    (f) =>
      sql`(src_addr = ${literal(f.srcAddr, 'String')} AND src_port = ${literal(f.srcPort, 'UInt16')} AND dst_addr = ${literal(f.dstAddr, 'String')} AND dst_port = ${literal(f.dstPort, 'UInt16')})`,
  );
  const rows = await client.rows(
    sql`SELECT completion_id, src_addr, src_port, dst_addr, dst_port, write_id FROM ${identifier('completions')}
         WHERE session_id = ${session(sessionId)} AND write_id BETWEEN ${literal(lo, 'Int64')} AND ${literal(hi, 'Int64')}
           AND (${joinSql(onFlow, ' OR ')})`,
  );
  const ids = new Map<string, number>();
  for (const r of rows) {
    ids.set(flowKey({ srcAddr: r[1] as string, srcPort: Number(r[2]), dstAddr: r[3] as string, dstPort: Number(r[4]) }, Number(r[5])), Number(r[0]));
  }
  return ids;
}

/**
 * Stores witnesses of completions already stored (same flow and writeId), each replacing
 * an earlier witness of its completion (a later one in the same request wins, as in
 * SQLite's transaction). A witness whose completion is not stored refuses the whole
 * request before anything is written, with SQLite's message.
 */
export async function storeKernelWitnesses(
  client: ClickHouseClient,
  sessionId: number,
  host: string,
  rows: readonly KernelWitnessInputRow[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const canonical = rows.map((r) => ({
    ...r,
    flow: { ...r.flow, srcAddr: canonicalAddress(r.flow.srcAddr) ?? r.flow.srcAddr, dstAddr: canonicalAddress(r.flow.dstAddr) ?? r.flow.dstAddr },
  }));
  const ids = await completionIds(client, sessionId, canonical);
  const latest = new Map<number, KernelWitness>();
  canonical.forEach(({ flow, writeId, witness }, index) => {
    const id = ids.get(flowKey(flow, writeId));
    if (id === undefined) {
      throw new AckscopeError(
        'ACKSCOPE_ERR_COMPLETION_INVALID',
        `witness ${index}: no completion ${flow.srcAddr}:${flow.srcPort} → ${flow.dstAddr}:${flow.dstPort} writeId ${writeId} in session ${sessionId}: post the completion first`,
        { index, field: 'writeId' },
      );
    }
    latest.delete(id); // re-inserted: Map order is the order written
    latest.set(id, witness);
  });
  const version = nextVersionNs();
  const values = [...latest].map(([id, w]) => {
    const byName: Record<string, unknown> = {
      session_id: sessionId, completion_id: id, host, stored_ns: version, byte_off: w.byte,
      qdisc_in_ns: w.qdiscInNs, qdisc_out_ns: w.qdiscOutNs, driver_ns: w.driverNs,
      ack_arrived_ns: w.ackArrivedNs, ack_processed_ns: w.ackProcessedNs, retransmitted: w.retransmitted ? 1 : 0,
    };
    return TABLES.kernel_witness.columns.map((c) => byName[c.name]);
  });
  await insertRows(client, 'kernel_witness', values);
  return rows.length;
}

async function insertRows(client: ClickHouseClient, table: 'kernel_witness' | 'session_traces', values: unknown[][]): Promise<void> {
  const columns = TABLES[table].columns;
  await client.insert(
    sql`INSERT INTO ${qualifiedTable(client.config.database, table)} (${joinSql(columns.map((c) => identifier(c.name)), ', ')}) FORMAT RowBinary`,
    encodeRowBinary(columns, values),
    { settings: insertSettings(client) },
  );
}

/** What the tracer said about itself; the newest statement per session is the one read back. */
export async function storeTraceStats(client: ClickHouseClient, sessionId: number, host: string, s: TraceStats): Promise<void> {
  const byName: Record<string, unknown> = {
    session_id: sessionId, host, stored_ns: nextVersionNs(), target: s.target, lost_events: s.lostEvents, calls: s.calls,
    uncovered: s.uncovered, moments_without_call: s.momentsWithoutCall, missing_json: JSON.stringify(s.missing), exit_code: s.exitCode,
  };
  await insertRows(client, 'session_traces', [TABLES.session_traces.columns.map((c) => byName[c.name])]);
}

export async function getTraceStats(client: ClickHouseClient, sessionId: number): Promise<TraceStats | null> {
  const rows = await client.rows(
    sql`SELECT target, lost_events, calls, uncovered, moments_without_call, missing_json, exit_code FROM ${identifier('session_traces')}
         WHERE session_id = ${session(sessionId)} ORDER BY stored_ns DESC LIMIT 1`,
  );
  if (rows.length === 0) return null;
  const r = rows[0];
  return {
    target: r[0] as string,
    lostEvents: Number(r[1]),
    calls: Number(r[2]),
    uncovered: Number(r[3]),
    momentsWithoutCall: Number(r[4]),
    missing: r[5] ? (JSON.parse(r[5] as string) as Record<string, number>) : {},
    exitCode: r[6] === null ? null : Number(r[6]),
  };
}
