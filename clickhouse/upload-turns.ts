/**
 * One completion upload of a session at a time, across the services writing to one
 * ClickHouse store (many hosts, one view: docs/scale-out.md). An upload's idempotency
 * check reads the stored records before its insert (ClickHouse has no unique keys), so
 * two services storing the same records at the same instant would both find none and both
 * insert them. Within one service a session's uploads are serialised already
 * (clickhouse-store.ts); this serialises them across services, with the same kind of
 * protocol as the id claims (id-claims.ts), on 18.16 without Keeper:
 *   1. wait until the session shows no turn held (unreleased, not expired);
 *   2. write a turn with a random tag (its insert has returned: the row is on its shard);
 *   3. read the turns held: kept when its own is the only one. Otherwise release it, wait
 *      a random few milliseconds and go again.
 * Two uploads cannot both keep a turn: whichever wrote second reads after the other's
 * insert returned, sees it, and gives way (both may give way, then both retry). The
 * turns of a session are sharded by its session_id, so step 3 reads them from one server.
 *
 * The other read-then-write steps on a session that two services may take at once hold
 * the same turn (service/store/clickhouse-store.ts): an import's claim of its session, a
 * capture's move to `capturing`, retention's idle check and delete. Holders never wait
 * for anything else a turn holder may hold; within a service, the session's serial queue
 * is always taken before the turn.
 *
 * A turn not released within TURN_EXPIRY_NS (its service died holding it) no longer
 * counts, judged by the reader's clock against the writer's: hosts' clocks must agree
 * far better than that.
 */
import { randomBytes } from 'node:crypto';
import { AckscopeError } from '../core/errors.js';
import { wallClockNs } from '../core/time.js';
import type { ClickHouseClient } from './http-client.js';
import { encodeRowBinary } from './row-binary.js';
import { identifier, joinSql, literal, qualifiedTable, sql } from './sql.js';
import { TABLES } from './tables.js';
import { insertSettings } from './copy-session.js';

const COLUMNS = TABLES.upload_turns.columns;
/** A turn held longer than this (a dead service's) stops counting. Uploads hold it for the check and the insert only: seconds for a million records. */
export const TURN_EXPIRY_NS = 120_000_000_000n;
/** How long an upload waits for the session's turn before it gives up (another service's held turn expires first). */
const WAIT_MS = 150_000;
const POLL_MS = 20;

function turnTag(): bigint {
  return randomBytes(8).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
}

async function writeTurn(client: ClickHouseClient, sessionId: number, tag: bigint, host: string, released: 0 | 1): Promise<void> {
  await client.insert(
    sql`INSERT INTO ${qualifiedTable(client.config.database, 'upload_turns')} (${joinSql(COLUMNS.map((c) => identifier(c.name)), ', ')}) FORMAT RowBinary`,
    encodeRowBinary(COLUMNS, [[sessionId, tag, host, released, wallClockNs()]]),
    { settings: insertSettings(client) },
  );
}

/** The tags of the session's turns held now: not released, written within TURN_EXPIRY_NS. */
async function heldTurns(client: ClickHouseClient, sessionId: number): Promise<bigint[]> {
  const rows = await client.rows(
    sql`SELECT tag FROM ${identifier('upload_turns')} WHERE session_id = ${literal(sessionId, 'UInt64')}
         GROUP BY tag HAVING max(released) = 0 AND max(at_ns) > ${literal(wallClockNs() - TURN_EXPIRY_NS, 'Int64')}`,
  );
  return rows.map((r) => BigInt(r[0] as string));
}

/** Kept when the only turn held is this one (pure: the rule of step 3). */
export function turnKept(held: readonly bigint[], own: bigint): boolean {
  return held.length === 1 && held[0] === own;
}

/** Runs `work` holding the session's upload turn (see the header); releases it after, whatever `work` did. */
export async function withUploadTurn<T>(client: ClickHouseClient, sessionId: number, host: string, work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (let round = 1; ; round++) {
    while ((await heldTurns(client, sessionId)).length > 0) {
      if (Date.now() > deadline) {
        throw new AckscopeError(
          'ACKSCOPE_ERR_STORE_QUERY',
          `another service kept session ${sessionId}'s completion uploads for over ${WAIT_MS / 1000} s (retry the request)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    const tag = turnTag();
    await writeTurn(client, sessionId, tag, host, 0);
    if (turnKept(await heldTurns(client, sessionId), tag)) {
      try {
        return await work();
      } finally {
        // a release that fails leaves the turn to expire
        await writeTurn(client, sessionId, tag, host, 1).catch(() => undefined);
      }
    }
    // another upload wrote its turn at the same instant: give way, then try again
    await writeTurn(client, sessionId, tag, host, 1);
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 10 * Math.min(round, 10)) + 1));
  }
}
