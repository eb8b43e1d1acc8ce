/**
 * Ids taken without collision across services writing to one ClickHouse store (many
 * hosts, one view: docs/scale-out.md, "Ids across hosts"). ClickHouse 18.16 has no
 * transactions, no unique keys and (without ZooKeeper) no shared counter, and "one past
 * the highest" read by two services at the same instant gives both the same id.
 *
 * So a service claims the ids it means to use before using them, and keeps them only if
 * nobody else claimed any of them:
 *   1. read the highest id claimed or stored for the counter;
 *   2. write a claim on [highest + 1, highest + count] with a random 63-bit tag (its
 *      insert has returned: the row is on its shard; `insert_distributed_sync` on a cluster);
 *   3. read every claim overlapping that range: won when its own is the only one there.
 *      Otherwise it lost: wait a random few milliseconds and go again, past every claim.
 * Two claimers cannot both win: whichever wrote second wrote after the other's insert had
 * returned, so its read in step 3 (later still) sees the other's claim and it loses. Both
 * may lose (each sees the other): then both retry, after random waits, so the next round
 * rarely ties again. A lost claim's ids are never used (they stay as a gap), and since a
 * counter's claims are all sharded by its session_id, step 3 reads them from one server.
 * This holds on ClickHouse 18.16 without replication; with replicas, step 3 must read
 * the replica step 2 wrote (or use quorum inserts and sequential consistency).
 *
 * Counters: session ids under session_id 0; each session's completion ids under its own
 * session_id (deleted with the session), and beside them (`counter` 'frames', 'flows')
 * the blocks of frame numbers and flow ids each host's live capture of it takes. Without a rival, ids are consecutive from 1, as
 * SQLite gives them, so the two stores still answer identically.
 */
import { randomBytes } from 'node:crypto';
import { AckscopeError } from '../core/errors.js';
import { wallClockNs } from '../core/time.js';
import type { ClickHouseClient } from './http-client.js';
import { encodeRowBinary } from './row-binary.js';
import { identifier, joinSql, literal, qualifiedTable, sql } from './sql.js';
import { TABLES } from './tables.js';
import { insertSettings } from './copy-session.js';

const COLUMNS = TABLES.id_claims.columns;
/** The counter of session ids (no session has id 0). */
export const SESSION_IDS = 0;
/** Rounds before giving up: each lost round means another service took ids at the same instant. */
const MAX_ROUNDS = 20;

/** A claim's tag: random, so two claims (two hosts, or one host's two requests) never look alike. */
function claimTag(): bigint {
  return randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
}

/**
 * What a counter counts under its session_id (migrations/clickhouse/005): '' session ids
 * (session_id 0) or a session's completion ids; 'frames' and 'flows' the frame numbers
 * and flow ids its live captures take in blocks (recording/live/clickhouse-rows.ts).
 */
export type IdKind = '' | 'frames' | 'flows';

/** The tags of the claims on `counter` overlapping [first, last]. */
async function claimsOverlapping(client: ClickHouseClient, counter: number, kind: IdKind, first: number, last: number): Promise<bigint[]> {
  const rows = await client.rows(
    sql`SELECT claim FROM ${identifier('id_claims')}
         WHERE session_id = ${literal(counter, 'UInt64')} AND counter = ${literal(kind, 'String')}
           AND first_id <= ${literal(last, 'UInt64')} AND last_id >= ${literal(first, 'UInt64')}`,
  );
  return rows.map((r) => BigInt(r[0] as string));
}

/** Won when the only claim on the range is this one (pure: the rule of step 3). */
export function claimWon(overlapping: readonly bigint[], own: bigint): boolean {
  return overlapping.length === 1 && overlapping[0] === own;
}

/**
 * Takes `count` (≥ 1) consecutive ids of `counter` for `host`; returns the first.
 * `highestStored` is the highest id already in use (rows written before claims existed,
 * or by an older ackscope): the claim starts past it too.
 */
export async function claimIds(
  client: ClickHouseClient,
  counter: number,
  count: number,
  host: string,
  highestStored: () => Promise<number>,
  kind: IdKind = '',
): Promise<number> {
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const [[claimed], stored] = await Promise.all([
      client.rows(
        sql`SELECT max(last_id) FROM ${identifier('id_claims')} WHERE session_id = ${literal(counter, 'UInt64')} AND counter = ${literal(kind, 'String')}`,
      ),
      highestStored(),
    ]);
    const first = Math.max(Number(claimed[0]), stored) + 1;
    const last = first + count - 1;
    const tag = claimTag();
    await client.insert(
      sql`INSERT INTO ${qualifiedTable(client.config.database, 'id_claims')} (${joinSql(COLUMNS.map((c) => identifier(c.name)), ', ')}) FORMAT RowBinary`,
      encodeRowBinary(COLUMNS, [[counter, first, last, host, tag, wallClockNs(), kind]]),
      { settings: insertSettings(client) },
    );
    if (claimWon(await claimsOverlapping(client, counter, kind, first, last), tag)) return first;
    // another service claimed some of these ids at the same instant: both may have lost
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 10 * round) + 1));
  }
  throw new AckscopeError(
    'ACKSCOPE_ERR_STORE_QUERY',
    `could not take ${count} id(s) ${counter === SESSION_IDS ? 'for a session' : `for ${kind === '' ? 'completions' : kind} of session ${counter}`} in ${MAX_ROUNDS} rounds: other services kept claiming the same ids (retry the request)`,
  );
}
