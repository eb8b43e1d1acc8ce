/**
 * The two stores side by side in one run: SQLite (the default) and ClickHouse (one node,
 * then two shards on this machine, Debian's 18.16 started by fixtures/clickhouse-server.ts).
 * Prints figures, asserts nothing.
 *
 *   node --import tsx bench/clickhouse.ts [--frames 1000000] [--completions 100000] [--flows 20] [--shards 1,2]
 *
 * 1. A synthetic capture (raw IPv4/TCP, headers only as `tcpdump -s 96` keeps them,
 *    1448-byte segments, an ACK every second segment, one segment in 400 retransmitted)
 *    is imported into SQLite through importCapture (the API's import path), and
 *    `--completions` completions tiling the streams are stored by storeCompletions.
 * 2. The session is copied into ClickHouse (copySessionFromSqlite: one RowBinary insert
 *    per table); rows/s over every table. Then the same file is imported straight into
 *    ClickHouse as the service does it (importCaptureIntoClickHouse): frames/s, the CPU of
 *    this process and of the server.
 * 3. Both correlate the session (SQLite: correlateSession; ClickHouse: the set-based
 *    correlation) and the records are compared.
 * Storage: the SQLite file (after a WAL checkpoint) and ClickHouse's active parts.
 * /proc/loadavg is printed beside each figure: others share the machine's 2 cores.
 */
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../db/connection.js';
import { createSession } from '../db/sessions.js';
import { storeCompletions } from '../db/completions.js';
import { importCapture } from '../recording/import.js';
import { correlateSession } from '../analysis/correlation.js';
import { correlateSessionInClickHouse } from '../analysis/clickhouse-correlation.js';
import { copySessionFromSqlite } from '../clickhouse/copy-session.js';
import { ClickHouseClient } from '../clickhouse/http-client.js';
import { migrateClickHouse } from '../clickhouse/migrate.js';
import { literal, sql } from '../clickhouse/sql.js';
import { parseClickHouseUrl } from '../clickhouse/store-url.js';
import { startClickHouse, type RunningClickHouse } from '../fixtures/clickhouse-server.js';
import { syntheticCapture, syntheticCompletions } from '../fixtures/synthetic-capture.js';
import { importCaptureIntoClickHouse } from '../recording/clickhouse-import.js';
import { ownCpuS, processCpuS } from './process-cpu.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '1000000' },
    completions: { type: 'string', default: '100000' },
    flows: { type: 'string', default: '20' },
    shards: { type: 'string', default: '1,2' },
  },
});
const FRAMES = Number(values.frames);
const COMPLETIONS = Number(values.completions);
const FLOWS = Number(values.flows);
const SHARDS = values.shards.split(',').map(Number) as (1 | 2)[];

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en')} rows/s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
/** CPU seconds of every server process of a started ClickHouse (its nodes). */
const serverCpuS = (ch: RunningClickHouse) => ch.nodes.reduce((sum, node) => sum + (node.pid ? processCpuS(node.pid) : 0), 0);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'ackscope-bench-ch-'));
  try {
    console.log(`ackscope bench/clickhouse.ts: ${FRAMES.toLocaleString('en')} frames, ${COMPLETIONS.toLocaleString('en')} completions, ${FLOWS} flows`);
    const { file, segments } = syntheticCapture({ frames: FRAMES, flows: FLOWS });
    const completions = syntheticCompletions(segments, COMPLETIONS);

    // ---- SQLite ----
    const dbPath = join(dir, 'bench.db');
    const db = openDatabase(dbPath);
    const session = createSession(db, { name: 'bench', kind: 'import' });
    let t = performance.now();
    console.log(`load before SQLite import: ${load()}`);
    await importCapture(db, session.id, (async function* () {
      for (let i = 0; i < file.length; i += 1 << 20) yield file.subarray(i, i + (1 << 20));
    })());
    const importMs = performance.now() - t;
    t = performance.now();
    storeCompletions(db, session.id, completions);
    const ingestMs = performance.now() - t;
    db.pragma('wal_checkpoint(TRUNCATE)');
    const tables = ['frames', 'flows', 'sent_advances', 'ack_advances', 'sacks', 'tags', 'retransmissions', 'completions'];
    const counts = Object.fromEntries(tables.map((tname) => [tname, Number(db.prepare(`SELECT count(*) FROM ${tname}`).pluck().get())]));
    const totalRows = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`SQLite import (importCapture): ${(importMs / 1000).toFixed(2)} s, ${rate(FRAMES, importMs)} frames; rows ${JSON.stringify(counts)}  [load ${load()}]`);
    console.log(`SQLite completions (storeCompletions): ${(ingestMs / 1000).toFixed(2)} s, ${rate(completions.length, ingestMs)}  [load ${load()}]`);
    console.log(`SQLite file: ${mb(statSync(dbPath).size)}`);
    t = performance.now();
    const lite = correlateSession(db, session.id);
    const liteMs = performance.now() - t;
    const stages: Record<string, number> = {};
    for (const r of lite.records) stages[r.stage] = (stages[r.stage] ?? 0) + 1;
    console.log(`SQLite correlation: ${liteMs.toFixed(0)} ms for ${lite.records.length} completions ${JSON.stringify(stages)}  [load ${load()}]`);

    // ---- ClickHouse ----
    for (const shards of SHARDS) {
      const ch = await startClickHouse({ shards });
      const client = new ClickHouseClient(parseClickHouseUrl(ch.url('bench')));
      try {
        await migrateClickHouse(client);
        console.log(`\nClickHouse 18.16, ${shards === 1 ? 'one node' : 'two shards on this machine (Distributed, insert_distributed_sync=1)'}  [load ${load()}]`);
        t = performance.now();
        const copy = await copySessionFromSqlite(db, client, session.id, { host: 'bench' });
        const copyMs = performance.now() - t;
        const copied = Object.values(copy.rows).reduce((a, b) => a + b, 0);
        console.log(`  copy from SQLite (RowBinary, one insert per table): ${(copyMs / 1000).toFixed(2)} s, ${rate(copied, copyMs)} over ${copied.toLocaleString('en')} rows of every table (SQLite read included)  [load ${load()}]`);
        let bytes = 0;
        for (let host = 0; host < client.hostCount; host++) {
          const r = await client.rows(sql`SELECT sum(bytes) FROM system.parts WHERE database = ${literal('bench', 'String')} AND active`, { host });
          bytes += Number(r[0][0]);
        }
        console.log(`  storage (active parts, all shards): ${mb(bytes)}`);
        // the service's own import path: the file read, decoded and packed here, RowBinary
        // streamed per table (no SQLite in between), into a session of its own
        const directId = session.id + 1000;
        const cpu0 = ownCpuS();
        const server0 = serverCpuS(ch);
        t = performance.now();
        const direct = await importCaptureIntoClickHouse(client, directId, (async function* () {
          for (let i = 0; i < file.length; i += 1 << 20) yield file.subarray(i, i + (1 << 20));
        })(), { sessionDir: join(dir, `ch-${shards}`), host: 'bench' });
        const directMs = performance.now() - t;
        const stored = Number((await client.rows(sql`SELECT count() FROM frames WHERE session_id = ${literal(directId, 'UInt64')}`))[0][0]);
        console.log(
          `  direct import (importCaptureIntoClickHouse, the service's path): ${(directMs / 1000).toFixed(2)} s, ${rate(FRAMES, directMs)} frames ` +
            `(${stored.toLocaleString('en')} frames stored of ${direct.result.counters.frames.toLocaleString('en')} read); CPU here ${(ownCpuS() - cpu0).toFixed(1)} s, ` +
            `server ${(serverCpuS(ch) - server0).toFixed(1)} s  [load ${load()}]`,
        );
        for (let run = 0; run < 2; run++) {
          t = performance.now();
          const result = await correlateSessionInClickHouse(client, session.id);
          const ms = performance.now() - t;
          let differ = 0;
          for (let i = 0; i < lite.records.length; i++) if (JSON.stringify(result.records[i]) !== JSON.stringify(lite.records[i])) differ++;
          console.log(
            `  correlation run ${run + 1}: ${ms.toFixed(0)} ms; ${result.store.storeQueries} queries; look-ups sent ${result.store.lookups.sent}, acked ${result.store.lookups.acked}, second pass ${result.store.lookups.secondPass}; phases ms ${JSON.stringify(Object.fromEntries(Object.entries(result.store.phasesMs).map(([k, v]) => [k, Math.round(v)])))}; records differing from SQLite: ${differ}  [load ${load()}]`,
          );
        }
      } finally {
        client.close();
        await ch.stop();
      }
    }
    db.close();
    void totalRows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
